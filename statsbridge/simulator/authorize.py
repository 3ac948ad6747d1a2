"""The Authorization Code grant of the simulated Authentication API (base /auth/v3).

``GET /oauth/authorize`` shows a sign-in form for the tenant's users; signing in redirects
the browser to the client's ``redirect_uri`` with a ``code`` (and the client's ``state``),
declining redirects with ``error=access_denied``. The code is bound to the client and that
exact redirect URI, single use and short lived (``codes.CodeStore``); the token endpoint
trades it through ``authorization_code_grant``. ``GET /userinfo`` and
``GET /openid/userinfo`` describe the signed-in user in the reference's CloudUserDetails and
OpenIdUserInfo shapes. The simulator has no registration of redirect URIs: any absolute
http(s) URI without a fragment is accepted, and the code is bound to it.
"""

import html
import logging
import weakref
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from .auth_api import BASE, user_details
from .codes import CodeStore
from .config import SimulatorConfig
from .faults import reason
from .gateway import gated
from .http_util import bearer_token, json_response, same_secret
from .tenant import Tenant
from .tokens import Grant

logger = logging.getLogger("statsbridge.simulator")

# The demo tenant's second user: a team lead, whose role the demo maps to fewer dashboards.
TEAM_LEAD = "demo\\teamlead"
TEAM_LEAD_PASSWORD = "demo-teamlead"


@dataclass(frozen=True)
class TenantUser:
    """A user who can sign in at the tenant's form; the password stays out of ``repr``."""

    username: str  # tenant\user, the system-wide unique name
    password: str = field(repr=False)
    given_name: str
    family_name: str
    authorities: tuple[tuple[str, tuple[str, ...]], ...]  # (role, privileges)

    @property
    def login_name(self) -> str:
        """The user's name in Configuration Server (without the tenant)."""
        return self.username.rpartition("\\")[2]

    @property
    def contact_center_id(self) -> str:
        """The tenant part of the user name."""
        return self.username.rpartition("\\")[0] or "demo"

    @property
    def dbid(self) -> int:
        """A stable Configuration Server DBID."""
        return 100 + sum(map(ord, self.login_name)) % 900

    @property
    def email(self) -> str:
        """A made-up address in the tenant's domain."""
        return f"{self.login_name}@{self.contact_center_id}.example"

    def authority_list(self) -> list[dict]:
        """``authorities`` as the reference's UserRole objects."""
        return [{"name": name, "privileges": list(privileges)} for name, privileges in self.authorities]


def tenant_users(config: SimulatorConfig) -> dict[str, TenantUser]:
    """Who can sign in: the configured supervisor and the demo team lead, by user name (lower case)."""
    users = [
        TenantUser(config.username, config.password, "Sam", "Supervisor", (("ROLE_SUPERVISOR", ("STATISTICS_READ",)),)),
        TenantUser(TEAM_LEAD, TEAM_LEAD_PASSWORD, "Tove", "Lind", (("ROLE_TEAM_LEAD", ("STATISTICS_READ",)),)),
    ]
    return {user.username.lower(): user for user in users}


class SignIn:
    """One tenant's sign-in state: its users and outstanding codes."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.users = tenant_users(tenant.config)
        self.codes = CodeStore()

    def user(self, username: str | None) -> TenantUser | None:
        """The user of this name (``tenant\\user``; a bare name is in the configured tenant)."""
        if not username:
            return None
        if "\\" not in username:
            username = f"{self.tenant.config.username.rpartition(chr(92))[0]}\\{username}"
        return self.users.get(username.lower())

    def authenticate(self, username: str | None, password: str | None) -> TenantUser | None:
        """The user when the password matches, else None."""
        user = self.user(username)
        if user is None:
            same_secret(password or "", "no-such-user")  # as slow as a real comparison
            return None
        return user if same_secret(password, user.password) else None


_SIGN_INS: "weakref.WeakKeyDictionary[Tenant, SignIn]" = weakref.WeakKeyDictionary()


def sign_in_for(tenant: Tenant) -> SignIn:
    """The sign-in state of ``tenant`` (made on first use; lives as long as the tenant)."""
    sign_in = _SIGN_INS.get(tenant)
    if sign_in is None:
        sign_in = _SIGN_INS[tenant] = SignIn(tenant)
    return sign_in


def authorization_code_grant(tenant: Tenant, form, client_id: str) -> str | None:
    """The token endpoint's ``authorization_code`` grant: the user name the code stands for,
    or None (unknown, used, expired, another client's, or another redirect URI's)."""
    return sign_in_for(tenant).codes.redeem(str(form.get("code", "")), client_id, str(form.get("redirect_uri", "")))


def redirect_uri_ok(uri: str) -> bool:
    """RFC 6749 §3.1.2: an absolute (http or https) URI without a fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment and "#" not in uri


def with_query(uri: str, params: dict) -> str:
    """``uri`` with ``params`` added to its query."""
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{urlencode(params)}"


def _request_error(description: str) -> web.Response:
    # Never redirect to an unchecked redirect_uri (RFC 6749 §4.1.2.1): answer here.
    logger.info("authorize -> 400 invalid_request: %s", description)
    return json_response({"error": "invalid_request", "error_description": description}, 400)


def _fault_body(status: int) -> dict:
    return {"error": "server_error" if status >= 500 else "invalid_request", "error_description": reason(status)}


FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Genesys (simulated)</title>
<style>body{{font-family:sans-serif;max-width:24rem;margin:4rem auto}}label,input,button{{display:block;margin:.4rem 0}}
.error{{color:#b00020}}</style></head>
<body><h1>Sign in</h1><p>to continue to <strong>{client}</strong></p>
{message}
<form method="post" action="{action}">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="client_id" value="{client}">
<input type="hidden" name="redirect_uri" value="{redirect_uri}">
{state}
<label for="username">User name</label><input id="username" name="username" value="{username}" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit" name="action" value="sign-in">Sign in</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form></body></html>
"""


def sign_in_form(client_id: str, redirect_uri: str, state: str | None, username: str = "",
                 message: str = "") -> str:
    """The sign-in page; every value is escaped."""
    state_field = f'<input type="hidden" name="state" value="{html.escape(state)}">' if state is not None else ""
    return FORM.format(client=html.escape(client_id), action=f"{BASE}/oauth/authorize",
                       redirect_uri=html.escape(redirect_uri), state=state_field, username=html.escape(username),
                       message=f'<p class="error" role="alert">{html.escape(message)}</p>' if message else "")


def cloud_user_details(user: TenantUser) -> dict:
    """``GET /userinfo``'s reply (CloudUserDetails) for a signed-in user."""
    return {
        "authorities": user.authority_list(),
        "cmeUserName": user.login_name,
        "contactCenterId": user.contact_center_id,
        "dbid": user.dbid,
        "environmentId": "simulator",
        "loginName": user.login_name,
        "properties": {},
        "username": user.username,
    }


def openid_user_info(user: TenantUser | None, grant: Grant) -> dict:
    """``GET /openid/userinfo``'s reply (OpenIdUserInfo)."""
    if user is None:  # an application's token: no person behind it
        return {"aud": grant.client_id, "authorities": [{"name": "ROLE_CLIENT", "privileges": ["STATISTICS_READ"]}],
                "environment_id": "simulator", "properties": {}, "sub": grant.client_id,
                "user_name": grant.client_id}
    return {
        "aud": grant.client_id,
        "authorities": user.authority_list(),
        "contact_center_id": user.contact_center_id,
        "dbid": user.dbid,
        "email": user.email,
        "environment_id": "simulator",
        "family_name": user.family_name,
        "given_name": user.given_name,
        "properties": {},
        "sub": user.username,
        "user_name": user.username,
    }


class AuthorizeApi:
    """The sign-in form, its answer, and the two userinfo endpoints."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.sign_in = sign_in_for(tenant)

    def routes(self) -> list:
        """Routes to add before the Authentication API's (these answer ``/oauth/authorize`` and ``/userinfo``)."""
        return [
            web.get(f"{BASE}/oauth/authorize", self.authorize_form),
            web.post(f"{BASE}/oauth/authorize", self.authorize_answer),
            web.get(f"{BASE}/userinfo", self.userinfo),
            web.get(f"{BASE}/openid/userinfo", self.openid_userinfo),
        ]

    def _client_refusal(self, params) -> web.Response | None:
        if params.get("response_type") != "code":
            return _request_error("response_type must be code (the Authorization Code grant)")
        if params.get("client_id") != self.tenant.config.client_id:
            return _request_error("unknown client_id")
        if not redirect_uri_ok(str(params.get("redirect_uri", ""))):
            return _request_error("redirect_uri must be an absolute http(s) URI without a fragment")
        return None

    async def authorize_form(self, request: web.Request) -> web.Response:
        """GET /oauth/authorize?response_type=code&client_id=&redirect_uri=&state=: the sign-in form."""
        refused = self._client_refusal(request.query)
        if refused:
            return refused
        query = request.query
        return _page(sign_in_form(query["client_id"], query["redirect_uri"], query.get("state")))

    async def authorize_answer(self, request: web.Request) -> web.Response:
        """POST of the sign-in form: redirect with a code, with ``error=access_denied``, or show the form again."""
        form = await request.post()
        refused = self._client_refusal(form)
        if refused:
            return refused
        client_id, redirect_uri, state = str(form["client_id"]), str(form["redirect_uri"]), form.get("state")
        echo = {"state": str(state)} if state is not None else {}
        if form.get("action") == "deny":
            logger.info("authorize: the user declined")
            raise web.HTTPFound(with_query(redirect_uri, {"error": "access_denied", **echo}))
        user = self.sign_in.authenticate(form.get("username"), form.get("password"))
        if user is None:
            logger.info("authorize: bad credentials")
            return _page(sign_in_form(client_id, redirect_uri, None if state is None else str(state),
                                      username=str(form.get("username", "")), message="Bad credentials"), status=401)
        code = self.sign_in.codes.issue(client_id, redirect_uri, user.username)
        logger.info("authorize: %s signed in; code issued", user.username)
        raise web.HTTPFound(with_query(redirect_uri, {"code": code, **echo}))

    def _grant(self, request: web.Request) -> Grant | None:
        token = bearer_token(request)
        return self.tenant.tokens.lookup(token) if token else None

    @gated("auth", _fault_body, need_token=False)
    async def userinfo(self, request: web.Request) -> web.Response:
        """GET /userinfo: CloudUserDetails of the token's user (or application)."""
        grant = self._grant(request)
        if grant is None:
            return json_response({"status": {"code": 401, "message": "Unauthorized"}}, 401)
        user = self.sign_in.user(grant.username)
        return json_response(cloud_user_details(user) if user else user_details(grant))

    @gated("auth", _fault_body, need_token=False)
    async def openid_userinfo(self, request: web.Request) -> web.Response:
        """GET /openid/userinfo: OpenIdUserInfo of the token's user (or application)."""
        grant = self._grant(request)
        if grant is None:
            return json_response({"status": {"code": 401, "message": "Unauthorized"}}, 401)
        return json_response(openid_user_info(self.sign_in.user(grant.username), grant))


def _page(text: str, status: int = 200) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html")
    # The form is the tenant's: never framed, never cached.
    response.headers.update({"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                             # No form-action: it would also bind the redirect to the client's redirect_uri.
                             "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                        "frame-ancestors 'none'"})
    return response
