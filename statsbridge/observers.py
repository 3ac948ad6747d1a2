"""Observers: code the project plugs into the active bridge to watch what it publishes.

``settings.BRIDGE_OBSERVERS`` names (by dotted path) classes built with the bridge's
``run_sync`` runner. Only the active bridge runs them (it holds the lease), so in
scale-out exactly one instance of each observes. Every ``every`` seconds each
observer's ``observe(observation)`` is awaited with a read-only view of the latest values,
the keys whose value changed since the previous round, the routes and the connection, and
the ``Publisher`` through which it may put things on screens; its optional ``close()`` is
awaited when the bridge stops. The bridge names no observer itself, so the apps that
observe it depend on it and never the other way round.

An observer that raises is logged (once while the same error repeats) and called again on
the next round; it never stops the bridge or the other observers.
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from statsbridge import frames, store
from statsbridge.wanted import Routes

log = logging.getLogger("statsbridge.bridge")


class Publisher(Protocol):
    """What an observer may publish through the bridge (``Fanout`` is one)."""

    async def publish_alerts(self, dashboard_id: int, items: list[dict]) -> bool:
        """Store and send a dashboard's open alerts (the whole list); False when it is not routed."""


@dataclass(frozen=True)
class Observation:
    """What the bridge publishes now, at ``now`` (ms).

    ``values``: the latest Value by statistic key, a read-only *live* view (not a copy,
    which cost a dict of every statistic four times a second): read what you need before
    awaiting anything. ``changed``: the keys whose latest value changed since the previous
    observation (every key with a value in the first one). ``routes``, ``connection`` and
    ``live`` (values can be fresh) as they stand; ``publisher``: where to publish, or None
    where nothing can be published (an observation built by hand).
    """

    values: Mapping[str, dict]
    routes: Routes
    connection: dict
    live: bool
    now: int
    changed: frozenset = frozenset()
    publisher: Publisher | None = None


def load_observers(run_sync) -> list:
    """An instance of each class named in ``settings.BRIDGE_OBSERVERS``."""
    return [import_string(path)(run_sync) for path in getattr(settings, "BRIDGE_OBSERVERS", ())]


def observe(fanout, clock=frames.now_ms) -> Observation:
    """The observation of ``fanout`` as it is now; the next one's ``changed`` starts from here."""
    return Observation(MappingProxyType(fanout.latest), fanout.routes, fanout.connection,
                       store.is_live(fanout.connection), clock(), changed=fanout.take_observed(), publisher=fanout)


async def observer_loop(fanout, run_sync, stop: asyncio.Event, every: float = 0.25) -> None:
    """Run the configured observers every ``every`` seconds until ``stop`` is set."""
    try:
        observers = load_observers(run_sync)
    except Exception:
        log.exception("could not load BRIDGE_OBSERVERS; the bridge runs without them")
        observers = []
    if not observers:
        await stop.wait()
        return
    last_errors: dict[int, str] = {}
    try:
        while not stop.is_set():
            observation = observe(fanout)
            for index, observer in enumerate(observers):
                try:
                    await observer.observe(observation)
                    last_errors.pop(index, None)
                except Exception as error:
                    message = f"{type(error).__name__}: {error}"
                    if last_errors.get(index) != message:
                        log.exception("observer %s failed", type(observer).__name__)
                    last_errors[index] = message
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        for observer in observers:
            close = getattr(observer, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    log.exception("observer %s did not close cleanly", type(observer).__name__)
