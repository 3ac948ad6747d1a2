"""Security helpers of the views: the login lockout page, wall-token guessing limits,
permission checks of the custom admin and ops views. See docs/security.md."""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render

log = logging.getLogger(__name__)


def cooloff_minutes() -> int:
    """The login cool-down in whole minutes (at least 1), as the lockout page states it."""
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout answer: the product's page saying log-in is paused, 429."""
    log.warning("login refused to %s: user name and address locked out for %s min", client_address(request),
                cooloff_minutes())
    return render(request, "registration/locked_out.html", {"minutes": cooloff_minutes()}, status=429)


def client_address(request_or_scope) -> str | None:
    """The client address of a request (REMOTE_ADDR, proxy headers applied by daphne) or a
    socket scope; None when the server does not know it (a Unix socket)."""
    if isinstance(request_or_scope, dict):
        client = request_or_scope.get("client")
        return str(client[0]) if client else None
    return request_or_scope.META.get("REMOTE_ADDR") or None


def refusal_key(address: str, now_s: float, window_s: int) -> str:
    """Pure: the cache key counting wall-token refusals of ``address`` in the current fixed window."""
    return f"wall-refusals:{address}:{int(now_s // window_s)}"


def wall_guessing_blocked(address: str | None) -> bool:
    """Whether ``address`` was refused a wall token too often lately (then no token is even checked).

    Without an address there is no limit: one shared bucket for every client would let
    one guesser lock every wall out.
    """
    if address is None:
        return False
    limits = settings.WALL_TOKEN_REFUSALS
    key = refusal_key(address, time.time(), limits["WINDOW_SECONDS"])
    return (cache.get(key) or 0) >= limits["LIMIT"]


def note_wall_refusal(address: str | None) -> None:
    """Count one refused wall token from ``address``; log when it reaches the limit."""
    if address is None:
        return
    limits = settings.WALL_TOKEN_REFUSALS
    key = refusal_key(address, time.time(), limits["WINDOW_SECONDS"])
    if cache.add(key, 1, timeout=limits["WINDOW_SECONDS"]):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired in between
            cache.add(key, 1, timeout=limits["WINDOW_SECONDS"])
            count = 1
    if count == limits["LIMIT"]:
        log.warning("wall links refused to %s for %s s: %s wrong tokens", address, limits["WINDOW_SECONDS"], count)


def _default_port_dropped(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, without the scheme's default port."""
    origin = origin.lower().rstrip("/")
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin[: -len(port)]
    return origin


def origin_allowed(origin: str | None, host: str | None, secure: bool, trusted=()) -> bool:
    """Pure: whether a WebSocket's ``Origin`` is the page's own origin (scheme, host and port
    of the request itself) or one of ``trusted`` (CSRF_TRUSTED_ORIGINS)."""
    if not origin or not host:
        return False
    own = _default_port_dropped(f"{'https' if secure else 'http'}://{host}")
    given = _default_port_dropped(origin)
    return given == own or given in {_default_port_dropped(t) for t in trusted}


def socket_is_secure(scope: dict, headers: dict) -> bool:
    """Whether the browser reached us over TLS: wss, or the TLS proxy's header as Django trusts it."""
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy:
        return False
    name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
    return headers.get(name, b"").decode("latin1").split(",")[0].strip() == proxy[1]


class SameOriginValidator:
    """ASGI middleware: refuse a WebSocket whose Origin is not the page's own scheme + host + port.

    channels' ``AllowedHostsOriginValidator`` compares the Origin's host with ALLOWED_HOSTS
    only: a page on another port (or plain http) of an allowed host could open sockets with
    the user's cookies. Refused sockets are closed before accept, as channels does.
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        """Pass an own-origin socket on; close any other."""
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers") or ())
            origin = headers.get(b"origin", b"").decode("latin1")
            host = headers.get(b"host", b"").decode("latin1")
            if not origin_allowed(origin, host, socket_is_secure(scope, headers), settings.CSRF_TRUSTED_ORIGINS):
                from channels.security.websocket import WebsocketDenier

                return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class PermissionsPolicyMiddleware:
    """Adds ``Permissions-Policy`` (settings.PERMISSIONS_POLICY) to every response: the
    header ``check --deploy`` does not cover."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        """The view's response, with the header unless the view set its own."""
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
