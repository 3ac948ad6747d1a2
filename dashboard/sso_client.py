"""Sign in with Genesys: the three calls to the tenant's Authentication API.

Plain ``urllib`` on purpose: three fixed requests from synchronous views, shaped exactly as
the reference shows them (Basic client credentials, ``x-api-key``), need no OAuth library.
Errors carry the HTTP status or the kind of failure, never a code, token or secret.
"""

import base64
import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlencode

from django.conf import settings

from dashboard.sso import AUTH_BASE

log = logging.getLogger(__name__)


class TenantUnreachable(Exception):
    """The tenant did not answer, or answered with something other than the reference's shapes."""


class CodeRefused(Exception):
    """The token endpoint refused the code (used, expired, or issued for another redirect URI)."""


def sso_settings() -> dict:
    """The sign-in settings, with the tenant's URLs resolved now (the demo aims them at the simulator at run time)."""
    sso, genesys = settings.GENESYS_SSO, settings.GENESYS
    return {**sso, "API_URL": genesys["API_URL"].rstrip("/"), "API_KEY": genesys["API_KEY"],
            "AUTH_URL": (sso["AUTH_URL"] or genesys["API_URL"]).rstrip("/")}


def _call(request: urllib.request.Request, timeout: float, what: str):
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read() or b"null")
        except ValueError:
            body = None
        finally:
            error.close()
        return error.code, body
    except (OSError, ValueError) as error:  # refused, reset, timed out, not JSON
        log.warning("Genesys sign-in: %s failed (%s)", what, type(error).__name__)
        raise TenantUnreachable(what) from None


def exchange_code(code: str, redirect_uri: str) -> str:
    """The access token for ``code`` (``POST /oauth/token``, ``grant_type=authorization_code``)."""
    conf = sso_settings()
    basic = base64.b64encode(f"{conf['CLIENT_ID']}:{conf['CLIENT_SECRET']}".encode()).decode()
    body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                      "client_id": conf["CLIENT_ID"]}).encode()
    request = urllib.request.Request(f"{conf['API_URL']}{AUTH_BASE}/oauth/token", data=body, method="POST", headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json", "x-api-key": conf["API_KEY"]})
    status, reply = _call(request, conf["TIMEOUT_SECONDS"], "the code exchange")
    if status == 400 and isinstance(reply, dict) and reply.get("error") == "invalid_grant":
        log.info("Genesys sign-in: the tenant refused the code (invalid_grant)")
        raise CodeRefused()
    token = reply.get("access_token") if isinstance(reply, dict) else None
    if status != 200 or not isinstance(token, str) or not token:
        log.warning("Genesys sign-in: the code exchange answered %s", status)
        raise TenantUnreachable("the code exchange")
    return token


def _bearer_request(path: str, token: str, method: str = "GET") -> urllib.request.Request:
    conf = sso_settings()
    return urllib.request.Request(f"{conf['API_URL']}{AUTH_BASE}{path}", method=method, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json", "x-api-key": conf["API_KEY"]})


def read_userinfo(token: str) -> dict:
    """``GET /userinfo`` for the token's user (the reference's CloudUserDetails)."""
    status, reply = _call(_bearer_request("/userinfo", token), sso_settings()["TIMEOUT_SECONDS"], "userinfo")
    if status != 200 or not isinstance(reply, dict):
        log.warning("Genesys sign-in: userinfo answered %s", status)
        raise TenantUnreachable("userinfo")
    return reply


def sign_out(token: str) -> bool:
    """``POST /sign-out?global=false``: end this sign-in's token at the tenant; False when that failed."""
    try:
        status, _ = _call(_bearer_request("/sign-out?global=false", token, "POST"),
                          sso_settings()["TIMEOUT_SECONDS"], "sign-out")
    except TenantUnreachable:
        return False
    if status != 200:
        log.warning("Genesys sign-in: sign-out answered %s", status)
    return status == 200
