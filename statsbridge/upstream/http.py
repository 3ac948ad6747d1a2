"""The one long-lived HTTP session shared by REST and CometD.

The Statistics service ties REST statistic subscriptions to the CometD session through
cookies, so both clients must use the same cookie jar. The jar is ``unsafe`` because
aiohttp's default jar drops cookies set by IP-address hosts (``http://10.0.0.5``,
``http://127.0.0.1``), which is how many tenants and every test reach the service.
"""

import aiohttp


def create_session(api_key: str, *, connect_timeout: float = 10.0) -> aiohttp.ClientSession:
    """Return a ClientSession that sends ``x-api-key`` on every request.

    Call it inside a running event loop; close it with ``await session.close()``.
    Per-request timeouts are set by the callers (a held ``/meta/connect`` needs a
    longer one than a REST call), so only the connect phase is bounded here.
    """
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        headers={"x-api-key": api_key},
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
    )
