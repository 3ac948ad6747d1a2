"""Continuous checks while faults come and go: what the pages show against the truth.

Pure bookkeeping: ``Observer.sample`` is fed the tiles of every page and the
simulator's truth at one instant; it records violations of

- **no stale value without the STALE mark**: a tile marked fresh whose number differs
  from the simulator's truth for longer than ``lag`` seconds, or still marked fresh
  ``lag`` seconds into an outage (an interval in which no true value can reach it);
- **recovery**: after a fault is cleared, every tile fresh and each numeric tile seen
  equal to the truth.
"""

import time
from dataclasses import dataclass, field


def truth_number(item: dict | None) -> float | None:
    """The numeric value the simulator holds for a statistic (None for agent states)."""
    if not item:
        return None
    value = item.get("value")
    if isinstance(value, dict) and isinstance(value.get("value"), (int, float)) and not isinstance(value.get("value"), bool):
        return float(value["value"])
    return None


def tile_number(text: str | None) -> float | None:
    """The number a tile's ``data-value`` holds (None when empty or not a number)."""
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


@dataclass
class Observer:
    """Collects violations across one stack's faults."""

    lag: float = 2.0
    clock: object = time.monotonic
    violations: list[str] = field(default_factory=list)
    outage_since: float | None = None
    outage_name: str = ""
    outage_deadline: float = 2.0
    samples: int = 0
    _mismatch_since: dict = field(default_factory=dict)
    _confirmed: set = field(default_factory=set)

    def outage(self, name: str, deadline: float | None = None) -> None:
        """From now on no true value can reach the pages (fault injected): every tile must be
        STALE within ``deadline`` seconds (default ``lag``)."""
        self.outage_since, self.outage_name = self.clock(), name
        self.outage_deadline = self.lag if deadline is None else deadline

    def outage_over(self) -> None:
        """The fault is cleared; values may flow again."""
        self.outage_since = None
        self._confirmed.clear()

    def sample(self, tiles: dict[str, list], truth: dict | None, at: float | None = None) -> None:
        """Check one instant ``at`` (when the tiles were read): ``tiles`` is ``{page: [[key, value, state], ...]}``."""
        now = self.clock() if at is None else at
        self.samples += 1
        seen = set()
        for page, rows in tiles.items():
            for key, value, state in rows:
                where = (page, key)
                seen.add(where)
                if state != "fresh":
                    self._mismatch_since.pop(where, None)
                    continue
                if self.outage_since is not None and now - self.outage_since > self.outage_deadline:
                    self._violate(f"{page}: tile {key} still fresh {now - self.outage_since:.1f} s into {self.outage_name}")
                    continue
                expected = truth_number(truth.get(key)) if truth is not None else None
                shown = tile_number(value)
                if expected is None or shown is None:
                    continue
                if shown == expected:
                    self._mismatch_since.pop(where, None)
                    self._confirmed.add(where)
                    continue
                started = self._mismatch_since.setdefault(where, now)
                if now - started > self.lag:
                    self._violate(f"{page}: tile {key} showed {value} (fresh) while the truth was {expected:g} "
                                  f"for {now - started:.1f} s")
                    self._mismatch_since[where] = now  # report a persisting mismatch once per lag
        for where in list(self._mismatch_since):
            if where not in seen:
                del self._mismatch_since[where]

    def recovered(self, tiles: dict[str, list], truth: dict | None) -> bool:
        """Every tile fresh, and every numeric tile confirmed equal to the truth since the fault cleared."""
        if truth is None:
            return False
        for page, rows in tiles.items():
            if not rows:
                return False
            for key, _value, state in rows:
                if state != "fresh":
                    return False
                if truth_number(truth.get(key)) is not None and (page, key) not in self._confirmed:
                    return False
        return True

    def why_not_recovered(self, tiles: dict[str, list], truth: dict | None) -> str:
        """What keeps ``recovered`` false: per page, tiles not fresh and tiles never seen true."""
        if truth is None:
            return "no truth"
        parts = []
        for page, rows in tiles.items():
            states = sorted({state for _, _, state in rows} - {"fresh"})
            unseen = [(key, value, truth_number(truth.get(key))) for key, value, state in rows
                      if truth_number(truth.get(key)) is not None and (page, key) not in self._confirmed]
            parts.append(f"{page}: {len(rows)} tiles, {sum(s != 'fresh' for _, _, s in rows)} not fresh {states}, "
                         f"{len(unseen)} never seen true {unseen[:3]}")
        return "; ".join(parts)

    def _violate(self, text: str) -> None:
        if text not in self.violations[-20:]:
            self.violations.append(text)
