"""OAuth tokens for the Genesys APIs: obtained, refreshed ahead of expiry, shared.

``TokenProvider.get()`` returns a valid access token. Concurrent callers share one
token request; ``invalidate(token)`` after a 401 from any API makes the next ``get()``
fetch a new one (once, however many callers saw the 401): the reference warns that a
token may end before its ``expires_in``, so the client re-acquires whenever told.

A refused ``refresh_token`` grant (any 4xx, in the OAuth ``{"error", ...}`` form or the
``{"status": {"code", "message"}}`` envelope) drops the refresh token and logs in again
with the configured grant at once; meanwhile a still-valid access token keeps serving.
Configuration errors (wrong API key, client or user credentials) are logged once and
cached for a growing backoff period, so a misconfigured deployment never hammers the
token endpoint; ``last_error`` tells them apart from transient failures.
"""

import asyncio
import base64
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.errors import (
    BadApiKey,
    BadClientCredentials,
    BadUserCredentials,
    ConfigurationError,
    TransientError,
    UpstreamError,
    error_summary,
    is_api_key_rejection,
)

logger = logging.getLogger(__name__)

TOKEN_PATH = "/auth/v3/oauth/token"


@dataclass(frozen=True)
class Credentials:
    """Where and how to log in. Secrets are excluded from the repr."""

    api_url: str
    client_id: str
    client_secret: str = field(repr=False)
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, genesys: dict) -> "Credentials":
        """Build from ``settings.GENESYS`` (API_URL, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD)."""
        return cls(
            api_url=genesys["API_URL"].rstrip("/"),
            client_id=genesys["CLIENT_ID"],
            client_secret=genesys["CLIENT_SECRET"],
            username=genesys.get("USERNAME", ""),
            password=genesys.get("PASSWORD", ""),
        )

    @property
    def grant_type(self) -> str:
        """``password`` when a user name and password are set, else ``client_credentials``."""
        return "password" if self.username and self.password else "client_credentials"


class _RefreshTokenRejected(UpstreamError):
    """The refresh token is no longer accepted; fall back to the primary grant."""


@dataclass
class _Token:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    refresh_at: float  # monotonic: when to refresh ahead of expiry
    expires_at: float  # monotonic
    expires_at_wall: float  # epoch seconds, for display


class TokenProvider:
    """Obtains and refreshes Genesys access tokens for one set of credentials."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: Credentials,
        *,
        refresh_fraction: float = 0.8,
        backoff: Backoff = Backoff(base=2.0, cap=300.0),
        request_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        if not 0 < refresh_fraction <= 1:
            raise ValueError("refresh_fraction must be in (0, 1]")
        self._session = session
        self._credentials = credentials
        self._refresh_fraction = refresh_fraction
        self._backoff = backoff
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._clock = clock
        self._wall_clock = wall_clock
        self._token: _Token | None = None
        self._stale = False
        self._inflight: asyncio.Future | None = None
        self._config_error: ConfigurationError | None = None
        self._config_failures = 0
        self._retry_at = 0.0
        self.requests = 0  # token endpoint calls made, for tests and the ops page
        # grant_type of the latest token endpoint calls, oldest first: for tests and diagnostics.
        self.grants_sent: deque[str] = deque(maxlen=64)

    def __repr__(self) -> str:
        return f"<TokenProvider {self._credentials.grant_type} client={self._credentials.client_id!r}>"

    @property
    def expires_at(self) -> float | None:
        """Epoch seconds at which the current token expires, or None without a token."""
        return self._token.expires_at_wall if self._token else None

    @property
    def last_error(self) -> ConfigurationError | None:
        """The configuration error currently being backed off from, if any."""
        return self._config_error

    def invalidate(self, token: str) -> None:
        """Mark ``token`` as refused (a 401 was seen with it); later tokens are not affected."""
        if self._token is not None and self._token.access_token == token:
            self._stale = True

    async def get(self) -> str:
        """Return a valid access token, fetching or refreshing it when needed.

        Raises ``ConfigurationError`` subclasses (cached during their backoff period)
        and ``TransientError`` (network or 5xx; the caller decides when to retry).
        While the current token is still valid (not expired, not refused with a 401),
        a failed refresh ahead of expiry is not raised: the token keeps serving.
        """
        token = self._token
        now = self._clock()
        if self._usable(token, now) and now < token.refresh_at:
            return token.access_token
        if self._config_error is not None and now < self._retry_at:
            if self._usable(token, now):
                return token.access_token
            raise self._config_error.with_traceback(None)
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._clear_inflight)
        try:
            return await asyncio.shield(self._inflight)
        except (TransientError, ConfigurationError):
            # Refreshing ahead of expiry failed, but the old token is still good.
            if self._usable(token, self._clock()):
                return token.access_token
            raise

    def _usable(self, token: "_Token | None", now: float) -> bool:
        """Whether ``token`` is the current token, not refused by a 401, and not expired."""
        return token is not None and token is self._token and not self._stale and now < token.expires_at

    def _clear_inflight(self, future: asyncio.Future) -> None:
        self._inflight = None
        if not future.cancelled():
            future.exception()  # retrieved here so an unawaited failure is not logged as lost

    async def _fetch(self) -> str:
        try:
            payload = await self._grant()
        except ConfigurationError as error:
            self._config_failures += 1
            delay = self._backoff.delay(self._config_failures)
            self._retry_at = self._clock() + delay
            if type(error) is not type(self._config_error):
                logger.error("Genesys login failed: %s (next attempt in %.0f s)", error, delay)
            else:
                logger.debug("Genesys login still failing: %s", error)
            self._config_error = error
            raise
        self._store(payload)
        if self._config_error is not None:
            logger.info("Genesys login works again")
        self._config_error = None
        self._config_failures = 0
        return self._token.access_token

    async def _grant(self) -> dict:
        token = self._token
        if token is not None and token.refresh_token:
            try:
                return await self._post({"grant_type": "refresh_token", "refresh_token": token.refresh_token,
                                         "client_id": self._credentials.client_id, "scope": "*"},
                                        grant="refresh_token")
            except _RefreshTokenRejected as refused:
                # The refresh token is dead for good: never send it again, log in afresh now.
                token.refresh_token = None
                logger.info("Genesys refresh token refused (%s); logging in again with the %s grant",
                            refused, self._credentials.grant_type)
        creds = self._credentials
        if creds.grant_type == "password":
            form = {"grant_type": "password", "username": creds.username, "password": creds.password,
                    "client_id": creds.client_id, "scope": "*"}
        else:
            form = {"grant_type": "client_credentials", "scope": "*"}
        return await self._post(form, grant=creds.grant_type)

    async def _post(self, form: dict, *, grant: str) -> dict:
        creds = self._credentials
        basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
        self.requests += 1
        self.grants_sent.append(grant)
        try:
            async with self._session.post(
                creds.api_url + TOKEN_PATH,
                data=form,
                headers={"Authorization": f"Basic {basic}"},
                timeout=self._timeout,
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
                    body = None
        except (TimeoutError, aiohttp.ClientError) as error:
            raise TransientError(f"token request failed: {type(error).__name__}") from None
        return _token_reply(status, body, grant=grant)

    def _store(self, payload: dict) -> None:
        now = self._clock()
        expires_in = payload["expires_in"]
        self._token = _Token(
            access_token=payload["access_token"],
            refresh_token=payload.get("refresh_token") or None,
            refresh_at=now + expires_in * self._refresh_fraction,
            expires_at=now + expires_in,
            expires_at_wall=self._wall_clock() + expires_in,
        )
        self._stale = False
        logger.debug("Genesys token obtained, expires in %s s", expires_in)


def _token_reply(status: int, body, *, grant: str) -> dict:
    """Classify a token endpoint reply to a ``grant`` request: the payload on success, else a typed error.

    Both documented error forms are read: OAuth's ``{"error", "error_description"}`` and
    the ``{"status": {"code", "message"}}`` envelope of the reference's ``/oauth/token``.
    """
    error_code = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
    if status == 200:
        if (
            isinstance(body, dict)
            and isinstance(body.get("access_token"), str)
            and body["access_token"]
            and isinstance(body.get("expires_in"), (int, float))
            and not isinstance(body.get("expires_in"), bool)
            and body["expires_in"] > 0
        ):
            refresh = body.get("refresh_token")
            return {"access_token": body["access_token"], "expires_in": body["expires_in"],
                    "refresh_token": refresh if isinstance(refresh, str) else None}
        raise TransientError("token endpoint sent an unusable reply (no access_token/expires_in)", status=200)
    if is_api_key_rejection(status, body):
        raise BadApiKey("the token endpoint")
    if status >= 500 or status == 429:
        raise TransientError(f"token endpoint answered HTTP {status}", status=status)
    summary = error_summary(body)
    if grant == "refresh_token" and 400 <= status < 500:
        # Whatever the form or the 4xx, a refused refresh is answered by a fresh login.
        raise _RefreshTokenRejected(f"HTTP {status} {summary}".rstrip())
    if status == 401:
        raise BadClientCredentials()
    if status == 400 and grant == "password" and (error_code in (None, "invalid_grant")):
        raise BadUserCredentials()
    raise ConfigurationError(f"token request rejected: HTTP {status} {summary or error_code or ''}".rstrip())
