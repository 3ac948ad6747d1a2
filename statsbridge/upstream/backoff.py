"""The backoff rule of every upstream retry (pure: no I/O, so sans-I/O cores can use it)."""

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter.

    ``delay(n)`` for the n-th consecutive failure (n >= 1) is drawn from
    ``[d/2, d]`` with ``d = min(cap, base * 2**(n-1))``: never zero (no tight loop),
    never above ``cap``, and spread so that many clients do not retry in lockstep.
    """

    base: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` consecutive failures."""
        if failures <= 0:
            return 0.0
        ceiling = min(self.cap, self.base * 2 ** min(failures - 1, 62))
        return ceiling / 2 + rand() * ceiling / 2
