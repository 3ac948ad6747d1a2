"""Statistic subscriptions, the statistics open in them, and when to notify (no I/O)."""

from dataclasses import dataclass, field
from typing import Any

from .catalog import Resolved


@dataclass(eq=False, slots=True)
class OpenStatistic:
    """One statistic open in a subscription, with what was last computed and sent.

    Slotted: a large tenant holds 100,000 of them.
    """

    subscription_id: str
    statistic_id: str
    object_type: str
    object_id: str
    resolved: Resolved
    value: Any = None
    timestamp: int = 0
    sent_value: Any = None
    sent_at: float = 0.0
    # Recomputed only when its object entered a state: the value cannot move otherwise,
    # and a Changes/Immediate notification needs a moved value (Periodical ones run on the clock).
    event_driven: bool = False

    def __post_init__(self) -> None:
        self.event_driven = (self.resolved.mode != "Periodical"
                             and self.object_type in self.resolved.spec.event_driven_for)

    @property
    def value_key(self) -> tuple:
        """Statistics with equal keys have equal values: compute once per tick."""
        return (self.resolved.spec.name, self.object_type, self.object_id)

    def item(self, verbose: bool) -> dict:
        """The statistic as the subscription calls return it (descriptors only when verbose)."""
        body: dict = {"statisticId": self.statistic_id}
        if verbose:
            body.update(name=self.resolved.name, objectId=self.object_id, objectType=self.object_type)
        body.update(value=self.value, timestamp=self.timestamp)
        return body

    def update_item(self, verbose: bool) -> dict:
        """The statistic as a StatisticUpdate notification carries it."""
        return {"subscriptionId": self.subscription_id, **self.item(verbose)}


@dataclass(eq=False)
class Subscription:
    """A REST subscription; ``session`` is the Bayeux session its cookie named, if any."""

    subscription_id: str
    session: Any | None
    verbose: bool
    statistics: dict = field(default_factory=dict)


def should_notify(stat: OpenStatistic, value: Any, now: float) -> bool:
    """Whether ``value`` (just computed at monotonic ``now``) must be sent.

    Changes: when it moved by more than ``insensitivity`` from what was last sent
    (any change for non-numeric values); Immediate: on every change; Periodical:
    every ``notificationFrequency`` seconds whatever the value; NoNotification: never.
    """
    mode = stat.resolved.mode
    if mode == "NoNotification":
        return False
    if mode == "Periodical":
        return now - stat.sent_at >= stat.resolved.frequency
    if value == stat.sent_value:
        return False
    if mode == "Immediate" or stat.resolved.insensitivity == 0:
        return True
    old, new = _scalar(stat.sent_value), _scalar(value)
    if old is None or new is None:
        return True
    return abs(new - old) > stat.resolved.insensitivity


def _scalar(value: Any) -> float | None:
    if isinstance(value, dict) and len(value) == 1:
        inner = value.get("value")
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return float(inner)
    return None


class SubscriptionRegistry:
    """All subscriptions, indexed by id and by session."""

    def __init__(self) -> None:
        self.by_id: dict[str, Subscription] = {}
        self._by_session: dict[Any, set] = {}
        self.statistic_count = 0
        self.version = 0  # bumped on every change, so derived lists know when to rebuild

    def add(self, subscription: Subscription) -> None:
        """Register a new subscription (its id must be free)."""
        self.by_id[subscription.subscription_id] = subscription
        self.version += 1
        self.statistic_count += len(subscription.statistics)
        if subscription.session is not None:
            self._by_session.setdefault(subscription.session, set()).add(subscription.subscription_id)

    def remove(self, subscription_id: str) -> Subscription | None:
        """Drop one subscription; unknown ids are ignored."""
        subscription = self.by_id.pop(subscription_id, None)
        if subscription is None:
            return None
        self.version += 1
        self.statistic_count -= len(subscription.statistics)
        if subscription.session is not None:
            ids = self._by_session.get(subscription.session)
            if ids is not None:
                ids.discard(subscription_id)
                if not ids:
                    del self._by_session[subscription.session]
        return subscription

    def remove_session(self, session: Any) -> int:
        """Drop every subscription tied to ``session``; returns how many."""
        ids = self._by_session.pop(session, set())
        self.version += 1
        for subscription_id in ids:
            subscription = self.by_id.pop(subscription_id, None)
            if subscription is not None:
                self.statistic_count -= len(subscription.statistics)
        return len(ids)

    def clear(self) -> int:
        """Drop everything; returns how many subscriptions there were."""
        count = len(self.by_id)
        self.version += 1
        self.by_id.clear()
        self._by_session.clear()
        self.statistic_count = 0
        return count
