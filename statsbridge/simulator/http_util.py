"""Small HTTP helpers shared by the simulator's endpoints."""

import hmac
import json
from http.cookies import CookieError, SimpleCookie

from aiohttp import web

SESSION_COOKIE = "STATISTICS_SESSIONID"
BROWSER_COOKIE = "BAYEUX_BROWSER"


def json_response(body, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json")


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def request_cookies(request: web.Request) -> dict[str, str]:
    """Every cookie the request carries, reading all ``Cookie`` headers (some clients send one per cookie)."""
    cookies: dict[str, str] = {}
    for header in request.headers.getall("Cookie", []):
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name:
                cookies.setdefault(name, _unquote(value.strip()))
    return cookies


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            parsed = SimpleCookie(f"x={value}")
            return parsed["x"].value
        except CookieError:
            return value[1:-1]
    return value


async def read_json(request: web.Request):
    """The request body parsed as JSON (chunked bodies included); raises ValueError when it is not."""
    raw = await request.read()
    if not raw:
        raise ValueError("request body is empty")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("request body is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"request body is not valid JSON: {error.msg if hasattr(error, 'msg') else error}") from None
