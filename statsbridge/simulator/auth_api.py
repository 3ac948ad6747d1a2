"""The Authentication API (base /auth/v3): token grants, userinfo, ping, sign-out."""

import base64
import binascii
import functools
import logging

from aiohttp import web

from .faults import reason
from .gateway import gated
from .http_util import bearer_token, json_response, same_secret
from .tenant import Tenant
from .tokens import Grant

logger = logging.getLogger("statsbridge.simulator")
BASE = "/auth/v3"


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(client_id, secret)`` from an ``Authorization: Basic`` header, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


# The reference's token reply carries these: a token must never be cached on the way.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    logger.info("auth API -> %d %s: %s", status, error, description)
    return json_response({"error": error, "error_description": description}, status)


def _envelope_error(status: int, message: str) -> web.Response:
    """An error in the reference's ErrorResponse form: ``{"status": {"code", "message"}}``."""
    logger.info("auth API -> %d: %s", status, message)
    return json_response({"status": {"code": status, "message": message}}, status)


def _fault_body(status: int) -> dict:
    return {"error": "server_error" if status >= 500 else "invalid_request", "error_description": reason(status)}


# The Authentication API is behind the gateway in the "auth" fault scope; a missing or bad
# token is each endpoint's to answer, in its own form.
_gateway = functools.partial(gated, "auth", _fault_body, need_token=False)


def user_details(grant: Grant) -> dict:
    """``GET /userinfo``'s reply (the reference's CloudUserDetails) for ``grant``.

    A contact-centre user (password or authorization_code grant) has a Configuration
    Server identity; a client_credentials token speaks for the application only, so
    ``cmeUserName``/``loginName``/``dbid`` are absent, as the reference describes.
    """
    if grant.username:
        tenant_name, _, user = grant.username.rpartition("\\")
        return {
            "authorities": [{"name": "ROLE_SUPERVISOR", "privileges": ["STATISTICS_READ"]}],
            "cmeUserName": user,
            "contactCenterId": tenant_name or "demo",
            "dbid": 100 + sum(map(ord, user)) % 900,
            "environmentId": "simulator",
            "loginName": user,
            "properties": {},
            "username": grant.username,
        }
    return {
        "authorities": [{"name": "ROLE_CLIENT", "privileges": ["STATISTICS_READ"]}],
        "environmentId": "simulator",
        "properties": {},
        "username": grant.client_id,
    }


class AuthApi:
    """Handlers of the Authentication API."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def routes(self) -> list:
        """The routes to add to the application."""
        return [
            web.post(f"{BASE}/oauth/token", self.token),
            web.get(f"{BASE}/ping", self.ping),
            web.post(f"{BASE}/sign-out", self.sign_out),
            web.get(f"{BASE}/sign-out", self.sign_out),
        ]

    def _client_ok(self, request: web.Request) -> str | None:
        credentials = basic_credentials(request.headers.get("Authorization", ""))
        config = self.tenant.config
        if credentials and credentials[0] == config.client_id and same_secret(credentials[1], config.client_secret):
            return credentials[0]
        return None

    @_gateway(reply_headers=NO_STORE)
    async def token(self, request: web.Request) -> web.Response:
        """POST /oauth/token: the password, client_credentials, refresh_token or authorization_code grant.

        Every reply (grant or error, the gateway's included) carries ``Cache-Control: no-store``
        and ``Pragma: no-cache``.
        """
        client_id = self._client_ok(request)
        if client_id is None:
            return _oauth_error(401, "Unauthorized", "Bad credentials")
        form = await request.post()
        grant_type = form.get("grant_type")
        config, tokens = self.tenant.config, self.tenant.tokens
        grant: Grant | None
        if grant_type == "password":
            if form.get("username") != config.username or not same_secret(form.get("password"), config.password):
                return _oauth_error(400, "invalid_grant", "Bad credentials")
            grant = tokens.issue(client_id, config.username)
        elif grant_type == "client_credentials":
            grant = tokens.issue(client_id, None, with_refresh=False)
        elif grant_type == "refresh_token":
            refusal = self.tenant.refresh_refusals.take()
            if refusal is not None:
                logger.info("armed refusal: refresh_token grant answered %d (%s form)", refusal.status, refusal.form)
                return json_response(refusal.body(), refusal.status)
            grant = tokens.refresh(str(form.get("refresh_token", "")), client_id)
            if grant is None:
                return _oauth_error(400, "invalid_grant", "Invalid refresh token")
        elif grant_type == "authorization_code":
            from .authorize import authorization_code_grant  # sign-in (issue 19); imported here: it imports this module
            username = authorization_code_grant(self.tenant, form, client_id)
            if username is None:
                return _oauth_error(400, "invalid_grant", "Invalid authorization code")
            grant = tokens.issue(client_id, username)
        else:
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
        body = {"access_token": grant.access_token, "token_type": "bearer",
                "expires_in": tokens.ttl_seconds, "scope": "*"}
        if grant.refresh_token:
            body["refresh_token"] = grant.refresh_token
        return json_response(body)

    def _grant(self, request: web.Request) -> Grant | None:
        token = bearer_token(request)
        return self.tenant.tokens.lookup(token) if token else None

    @_gateway()
    async def ping(self, request: web.Request) -> web.Response:
        """GET /ping: an ApiResponse (code 0) while the token is good, else 403 (reference: "Prohibited")."""
        if self._grant(request) is None:
            # The envelope tells this 403 apart from the gateway's {"message": "Forbidden"} (bad API key).
            return _envelope_error(403, "Prohibited")
        return json_response({"status": {"code": 0, "message": "OK"}, "data": {}, "path": request.path})

    @_gateway()
    async def sign_out(self, request: web.Request) -> web.Response:
        """POST|GET /sign-out?global=true|false: revoke the token, or all of its user's."""
        grant = self._grant(request)
        if grant is None:
            return _oauth_error(401, "invalid_token", "Invalid or expired access token")
        everywhere = request.query.get("global", "false").lower() == "true"
        revoked = self.tenant.tokens.sign_out(grant, everywhere)
        logger.info("sign-out revoked %d token(s)", revoked)
        # The reference's ApiResponse; how many were revoked is for the log, not the reply.
        return json_response({"status": {"code": 0, "message": "OK"}, "data": {}, "path": request.path})
