"""Authorization codes of the simulated Authorization Code grant (no I/O).

A code is bound to the client and the exact redirect URI it was issued for, is good
for one exchange only, and lapses after ``ttl_seconds`` (RFC 6749 §4.1.2: short lived,
single use). A failed exchange uses the code up too, so a code cannot be probed.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

CODE_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class IssuedCode:
    """What a code stands for."""

    client_id: str
    redirect_uri: str
    username: str
    expires_at: float


class CodeStore:
    """Issues and redeems authorization codes; ``clock`` is monotonic seconds."""

    def __init__(self, ttl_seconds: float = CODE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._codes: dict[str, IssuedCode] = {}

    def issue(self, client_id: str, redirect_uri: str, username: str) -> str:
        """A fresh, unguessable code for ``username``, redeemable by this client at this redirect URI."""
        self._forget_expired()
        code = secrets.token_urlsafe(24)
        self._codes[code] = IssuedCode(client_id, redirect_uri, username, self._clock() + self.ttl_seconds)
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str) -> str | None:
        """The username the code was issued for, or None when it is unknown, used, expired or
        presented by another client or with another redirect URI. Any attempt uses the code up."""
        issued = self._codes.pop(code, None)
        if issued is None or issued.expires_at <= self._clock():
            return None
        if issued.client_id != client_id or issued.redirect_uri != redirect_uri:
            return None
        return issued.username

    def __len__(self) -> int:
        return len(self._codes)

    def _forget_expired(self) -> None:
        now = self._clock()
        for code in [c for c, issued in self._codes.items() if issued.expires_at <= now]:
            del self._codes[code]
