"""OAuth token bookkeeping of the simulated Authentication API (no I/O)."""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Grant:
    """One issued access token (and its refresh token, if any)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    client_id: str
    username: str | None
    expires_at: float

    @property
    def principal(self) -> str:
        """Who the token speaks for: the user, or the client for client_credentials."""
        return self.username or self.client_id


class TokenStore:
    """Issues, looks up, refreshes and revokes tokens; ``clock`` is monotonic seconds."""

    def __init__(self, ttl_seconds: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._by_access: dict[str, Grant] = {}
        self._by_refresh: dict[str, Grant] = {}

    def issue(self, client_id: str, username: str | None, with_refresh: bool = True) -> Grant:
        """Issue a fresh access token (plus a refresh token when ``with_refresh``)."""
        grant = Grant(
            access_token=secrets.token_urlsafe(24),
            refresh_token=secrets.token_urlsafe(24) if with_refresh else None,
            client_id=client_id,
            username=username,
            expires_at=self._clock() + self.ttl_seconds,
        )
        self._by_access[grant.access_token] = grant
        if grant.refresh_token:
            self._by_refresh[grant.refresh_token] = grant
        return grant

    def lookup(self, access_token: str) -> Grant | None:
        """The live grant for ``access_token``, or None if unknown, revoked or expired."""
        grant = self._by_access.get(access_token)
        if grant is None:
            return None
        if grant.expires_at <= self._clock():
            del self._by_access[access_token]
            return None
        return grant

    def refresh(self, refresh_token: str, client_id: str) -> Grant | None:
        """Trade a refresh token (single use) for a new grant of the same principal."""
        old = self._by_refresh.get(refresh_token)
        if old is None or old.client_id != client_id:
            return None
        del self._by_refresh[refresh_token]
        return self.issue(old.client_id, old.username)

    def sign_out(self, grant: Grant, everywhere: bool) -> int:
        """Revoke ``grant`` (or every grant of its principal); returns how many."""
        victims = [g for g in self._by_access.values() if g.principal == grant.principal] if everywhere else [grant]
        for victim in victims:
            self._forget(victim)
        return len(victims)

    def revoke_all(self, include_refresh: bool) -> int:
        """Revoke every access token (and refresh token if asked); returns how many."""
        count = len(self._by_access)
        self._by_access.clear()
        if include_refresh:
            self._by_refresh.clear()
        return count

    def _forget(self, grant: Grant) -> None:
        self._by_access.pop(grant.access_token, None)
        if grant.refresh_token:
            self._by_refresh.pop(grant.refresh_token, None)
