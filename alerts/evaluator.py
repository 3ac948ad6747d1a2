"""The alert rules' logic, pure: what a condition is now and how an alert moves on.

An alert is tracked per rule, dashboard and subject (a statistic key, or ``upstream``
for the link to the statistics service). ``step`` takes the track as it was, whether
the condition holds now and the time, and returns the new track with the event to
notify (``firing`` once the condition has held for the rule's duration, ``resolved``
once it clears after having fired). A condition that clears before its duration never
notifies anything. Time is passed in, so every rule is proven without a clock.
"""

from dataclasses import dataclass, replace

from dashboard import thresholds

OK = "ok"
PENDING = "pending"
FIRING = "firing"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"

UPSTREAM = "upstream"  # the subject of a staleness rule about the link itself


@dataclass(frozen=True)
class Track:
    """Where one alert stands: ``state``, since when its condition holds (ms) and when it fired."""

    state: str = OK
    pending_since: int | None = None
    fired_at: int | None = None

    @property
    def open(self) -> bool:
        """Whether the alert has fired and not resolved (acknowledged counts as open)."""
        return self.state in (FIRING, ACKNOWLEDGED)


def step(track: Track, holds: bool | None, now: int, for_ms: int) -> tuple[Track, str | None]:
    """The next track and the event to notify (``"firing"``, ``"resolved"`` or None).

    ``holds`` None means the condition cannot be judged now (no number, a stale value for
    a threshold): the track stays as it is, so nothing fires or resolves on missing data.
    """
    if holds is None:
        return track, None
    if not holds:
        if track.open:
            return Track(), RESOLVED
        return Track(), None
    since = track.pending_since if track.pending_since is not None else now
    if track.open:
        return track, None
    if now - since >= for_ms:
        return Track(FIRING, since, now), FIRING
    return Track(PENDING, since, None), None


def acknowledge(track: Track) -> Track:
    """A firing alert someone has seen: it stays open until its condition clears."""
    return replace(track, state=ACKNOWLEDGED) if track.state == FIRING else track


def number_of(value: dict | None) -> float | None:
    """The number a fresh Value carries, or None (stale, unknown, not a number)."""
    if not value or value.get("state") != "fresh":
        return None
    number = value.get("value")
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return None
    return float(number)


def breaches(value: dict | None, limit: float, direction: str, hysteresis: float, holding: bool) -> bool | None:
    """Whether ``value`` is past ``limit`` in ``direction`` (``"above"`` or ``"below"``), with the
    widgets' hysteresis: once ``holding``, the value must move ``hysteresis`` back past the
    limit to clear. None when there is no fresh number to judge."""
    number = number_of(value)
    if number is None:
        return None
    previous = thresholds.WARNING if holding else thresholds.OK
    return thresholds.level(number, limit, None, direction, hysteresis, previous) == thresholds.WARNING


def is_stale(values: list[dict | None], live: bool) -> bool:
    """Whether a dashboard's data is stale: the link is not live, or any value is marked stale
    (a statistic never received yet is unknown, not stale)."""
    return not live or any(value is not None and value.get("state") == "stale" for value in values)


def in_state_too_long(value: dict | None, state: str, reason: str, now: int, for_ms: int) -> bool | None:
    """Whether an agent's fresh state Value shows ``state`` (with ``reason``, unless empty) entered
    at least ``for_ms`` before ``now``; None when there is no fresh agent state to judge. The
    time counts from the agent's own ``since``, so a bridge that takes over judges the same."""
    if not value or value.get("state") != "fresh" or value.get("kind") != "agent_state":
        return None
    agent = value.get("agent") or {}
    if agent.get("state") != state or (reason and agent.get("reason") != reason):
        return False
    since = agent.get("since")
    return isinstance(since, int) and now - since >= for_ms
