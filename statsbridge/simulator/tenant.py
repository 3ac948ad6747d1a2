"""The simulated tenant: model, tokens, sessions, subscriptions, and the loops that drive them."""

import asyncio
import itertools
import logging
import time

from .arms import RefreshRefusals, Refusals
from .bayeux import SERVICE_CHANNEL, UPDATES_CHANNEL, SessionHub, notification, service_topic
from .catalog import Resolved
from .config import SimulatorConfig
from .faults import FaultInjector
from .model import ContactCentre
from .subscriptions import OpenStatistic, SubscriptionRegistry, should_notify
from .tokens import TokenStore

logger = logging.getLogger("statsbridge.simulator")

AVAILABLE = "AVAILABLE"
UNAVAILABLE = "UNAVAILABLE"
LOAD_INTERVAL_SECONDS = 0.02


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch, as Stat Server stamps values."""
    return int(time.time() * 1000)


class Tenant:
    """Everything one simulated Genesys tenant holds, and its background loops."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.model = ContactCentre(config.seed, config.agents, config.queues, epoch=time.time())
        self.tokens = TokenStore(config.token_ttl)
        self.registry = SubscriptionRegistry()
        self.hub = SessionHub(config.connect_timeout_ms, config.session_expiry_seconds,
                              config.max_queue_per_session, on_session_end=self.registry.remove_session)
        self.faults = FaultInjector()
        self.refresh_refusals = RefreshRefusals()  # armed refusals of refresh_token grants
        self.refusals = Refusals()  # armed documented error answers, by method and path
        self.service_state = AVAILABLE
        self.load_rate = 0.0
        self.load_sent = 0
        self.load_changes = False  # whether load updates move numeric values (else they repeat them)
        self._tasks: list[asyncio.Task] = []

    # -- statistics ----------------------------------------------------------

    def compute(self, resolved: Resolved, object_type: str, object_id: str) -> dict:
        """The statistic's value in the model's current state."""
        return resolved.spec.compute(self.model, object_type, object_id)

    def open_statistic(self, subscription_id: str, statistic_id: str, descriptor: dict,
                       resolved: Resolved) -> OpenStatistic:
        """A statistic opened now: its first value is what the REST reply carries."""
        stat = OpenStatistic(subscription_id, statistic_id, descriptor["objectType"], descriptor["objectId"], resolved)
        stat.value = stat.sent_value = self.compute(resolved, stat.object_type, stat.object_id)
        stat.timestamp = now_ms()
        stat.sent_at = time.monotonic()
        return stat

    def evaluate(self) -> int:
        """Recompute every open statistic that can have moved and queue the notifications due;
        returns how many items.

        Event-driven statistics (an agent's state, calls handled, handling time) are skipped
        unless their agent entered a state since the last evaluation: their value, and so
        whether a notification is due, cannot have changed. With 100,000 agent statistics
        this is what keeps a tick from costing a core.
        """
        changed = self.model.take_changed()
        cache: dict = {}
        stamp, mono = now_ms(), time.monotonic()
        batches: dict = {}
        for subscription in self.registry.by_id.values():
            session = subscription.session
            for stat in subscription.statistics.values():
                if stat.event_driven and stat.object_id not in changed:
                    continue
                key = stat.value_key
                value = cache.get(key)
                if value is None:
                    value = cache[key] = stat.resolved.spec.compute(self.model, stat.object_type, stat.object_id)
                if value != stat.value:
                    stat.value, stat.timestamp = value, stamp
                if session is not None and should_notify(stat, value, mono):
                    stat.sent_value, stat.sent_at, stat.timestamp = value, mono, stamp
                    batches.setdefault(session, []).append(stat.update_item(subscription.verbose))
        count = 0
        for session, items in batches.items():
            count += len(items)
            self.hub.deliver(session, self.notification(UPDATES_CHANNEL, "StatisticUpdate", {"statistics": items}))
        return count

    def notification(self, channel: str, name: str, payload: dict, *, ext=None, topic=None) -> dict:
        """A notification message in this tenant's configured nesting and dialect."""
        return notification(channel, name, payload, self.config.notification_nesting, ext,
                            dialect=self.config.notification_dialect, topic=topic)

    # -- service state and faults --------------------------------------------

    def set_service_state(self, state: str) -> None:
        """Change the service state; UNAVAILABLE drops every statistic subscription."""
        if state == self.service_state:
            return
        self.service_state = state
        if state == UNAVAILABLE:
            self.registry.clear()
        self.hub.broadcast(self.notification(SERVICE_CHANNEL, "ServiceStateChange", {"serviceState": state},
                                             topic=service_topic(state)))
        logger.info("simulated statistics service is now %s", state)

    def state(self) -> dict:
        """What ``GET /simulator/state`` reports."""
        return {
            "serviceState": self.service_state,
            "sessions": len(self.hub.by_client_id),
            "subscriptions": len(self.registry.by_id),
            "statistics": self.registry.statistic_count,
            "droppedMessages": self.hub.dropped_messages(),
            "queuedMessages": sum(len(s.queue) for s in self.hub.by_client_id.values()),
            "loadUpdatesPerSecond": self.load_rate,
            "loadUpdatesSent": self.load_sent,
            "faults": self.faults.pending(),
            "refusals": self.refusals.pending(),
            "refreshRefusal": self.refresh_refusals.pending(),
            "modelSeconds": round(self.model.now, 3),
        }

    # -- loops ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the model, expiry and load loops."""
        self._tasks = [asyncio.create_task(loop()) for loop in (self._tick_loop, self._expiry_loop, self._load_loop)]

    async def stop(self) -> None:
        """Stop the loops and release every held connect."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.hub.end_all()

    async def _tick_loop(self) -> None:
        tick = self.config.tick_seconds
        while True:
            await asyncio.sleep(tick)
            self.model.step(tick)
            self.evaluate()

    async def _expiry_loop(self) -> None:
        period = min(1.0, self.config.session_expiry_seconds / 4)
        while True:
            await asyncio.sleep(period)
            expired = self.hub.expire_idle()
            if expired:
                logger.info("expired %d idle Bayeux session(s) with their subscriptions", expired)

    async def _load_loop(self) -> None:
        budget, pool, version, cycle = 0.0, [], None, iter(())
        last = time.monotonic()
        while True:
            await asyncio.sleep(LOAD_INTERVAL_SECONDS)
            now = time.monotonic()
            elapsed, last = now - last, now
            if self.load_rate <= 0:
                budget = 0.0
                continue
            if version != self.registry.version:
                version = self.registry.version
                pool = [(sub, stat) for sub in self.registry.by_id.values() if sub.session is not None
                        for stat in sub.statistics.values()]
                cycle = itertools.cycle(pool) if pool else iter(())
            if not pool:
                continue
            budget += self.load_rate * elapsed
            count, budget = int(budget), budget - int(budget)
            if count:
                self._emit_load(itertools.islice(cycle, count))

    def _emit_load(self, picks) -> None:
        stamp = now_ms()
        batches: dict = {}
        for subscription, stat in picks:
            stat.timestamp = stamp
            if self.load_changes:
                stat.value = changed_by_one(stat.value, self.load_sent)
            batches.setdefault(subscription.session, []).append(stat.update_item(subscription.verbose))
            self.load_sent += 1
        ext = {"simulator": {"emittedAt": time.time() * 1000, "load": True}}
        for session, items in batches.items():
            self.hub.deliver(session, self.notification(UPDATES_CHANNEL, "StatisticUpdate", {"statistics": items},
                                                        ext=ext))


def changed_by_one(value, number: int):
    """A numeric value (a number, or a Stat Server value's ``value`` field) moved up or down by
    one, alternating with ``number`` and never below 0; any other value as it is."""
    if isinstance(value, dict) and "value" in value:
        return {**value, "value": changed_by_one(value["value"], number)}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return value + 1 if number % 2 or value < 1 else value - 1


def find_session(tenant: Tenant, cookie: str | None):
    """The live session an HTTP session cookie names, if any."""
    return tenant.hub.by_cookie.get(cookie) if cookie else None
