"""Statistic update rates over sliding windows, for the ops page and /metrics.

The bridge counts every statistic update the upstream pushes (``count``); its status
calls ``snapshot``, which samples the running counts into a ring buffer at most once
per ``SAMPLE_SECONDS`` and returns the rate over each window from those samples. The
rate travels in the status the bridge writes to the shared store, so any process (the
web process when the bridge runs in ``runbridge``) shows it from a single read.
"""

import collections
import time

WINDOWS = (10, 60)
SAMPLE_SECONDS = 1.0


def rate(newest: tuple, oldest: tuple) -> float | None:
    """Pure: updates per second between two ``(time, count, ...)`` samples; None without a time span."""
    span = newest[0] - oldest[0]
    return None if span <= 0 else round(max(0, newest[1] - oldest[1]) / span, 2)


class UpdateRates:
    """Running update counts (overall, per statistic) and their rates over ``windows`` seconds."""

    def __init__(self, windows=WINDOWS, *, every: float = SAMPLE_SECONDS, clock=time.monotonic):
        self.windows = tuple(windows)
        self.total = 0
        self._by_key: collections.Counter = collections.Counter()
        self._every = every
        self._clock = clock
        # (time, total, {subscription id: its statistics' total}), oldest first; a little
        # more than the longest window, so that window always has a sample at its start.
        self._samples: collections.deque = collections.deque(maxlen=int(max(self.windows) / every) + 3)
        self._last: dict | None = None

    def count(self, key: str) -> None:
        """One update of statistic ``key`` arrived."""
        self.total += 1
        self._by_key[key] += 1

    def count_many(self, keys: list) -> None:
        """One update of each statistic of ``keys`` arrived (a key may repeat): a message's in one go."""
        self.total += len(keys)
        self._by_key.update(keys)  # counted in C, not one Python increment per update

    def snapshot(self, held: dict) -> dict:
        """Sample now if due; the rates overall and per subscription of ``held`` (id → keys).

        Returns ``{"total", "windows", "rates": [per window], "by_subscription": {id: [per window]}}``
        as of the newest sample; a rate is None until its window spans two samples.
        """
        now = self._clock()
        if self._last is None or now - self._samples[-1][0] >= self._every:
            self._sample(now, held)
        return self._last

    def _sample(self, now: float, held: dict) -> None:
        kept = set().union(*held.values())
        # Counts of statistics no longer held are dropped, so they cannot grow without bound.
        self._by_key = collections.Counter({k: n for k, n in self._by_key.items() if k in kept})
        newest = (now, self.total, {s: sum(self._by_key[k] for k in keys) for s, keys in held.items()})
        self._samples.append(newest)
        starts = [now - window - self._every / 2 for window in self.windows]
        self._last = {
            "total": self.total,
            "windows": list(self.windows),
            "rates": [rate(newest, self._first(since, None)) for since in starts],
            "by_subscription": {
                s: [rate((now, count), self._first(since, s)) for since in starts]
                for s, count in newest[2].items()
            },
        }

    def _first(self, since: float, subscription: str | None) -> tuple:
        """``(time, count)`` of the oldest sample from ``since`` on (that counted ``subscription``)."""
        for when, total, per_subscription in self._samples:
            if when >= since and (subscription is None or subscription in per_subscription):
                return when, total if subscription is None else per_subscription[subscription]
        raise AssertionError("the newest sample is always found")
