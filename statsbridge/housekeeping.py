"""The bridge's periodic work, each loop in its own task: publishing, heartbeats,
picking up admin edits, pruning history, and operator requests from any process."""

import asyncio
import logging
import time

from statsbridge import history, metrics, store
from statsbridge.conf import bridge_settings
from statsbridge.cpu_budget import FloorGovernor
from statsbridge.fanout import CONTROL_GROUP, Fanout
from statsbridge.wanted import load_routes

log = logging.getLogger("statsbridge.bridge")  # the bridge's log lines keep one logger name

RETRY_SECONDS = 0.25  # after a failed publish (the store or channel layer blipped)
MIN_WAIT_SECONDS = 0.002  # the shortest wait of the publishing loop, whatever the floor


async def publish_loop(fanout: Fanout, status_extra, stop: asyncio.Event,
                       governor: FloorGovernor | None = None) -> None:
    """Publish each dashboard's next batch as soon as it is due (``statsbridge.clocking``):
    its last round ended and the floor passed, the floor kept within the CPU budget by
    ``governor`` (``statsbridge.cpu_budget``; default: ``FRAME_CPU_BUDGET``).

    ``status_extra`` builds the status's extra fields, only when a status is written."""
    if governor is None:
        governor = FloorGovernor(fanout.floor, bridge_settings().frame_cpu_budget)
    # Waits are capped at the configured floor, not the governed one: offers and connection
    # changes do not wake a wait for a round (see ``Fanout.wait_for_round``), so a dashboard
    # that starts waiting, or a status frame, is seen within one 15 ms floor however far the
    # budget has grown it (a wake-up costs far less than a frame).
    cap = max(governor.base, MIN_WAIT_SECONDS)
    metrics.frame_floor.set(fanout.floor)
    while not stop.is_set():
        floor = governor.observe()
        if floor != fanout.floor:
            log.info("frame floor %.0f → %.0f ms (this process used %.2f cores, budget %g)",
                     1000 * fanout.floor, 1000 * floor, governor.share or 0.0, governor.budget)
            fanout.set_floor(floor)
        delay = fanout.next_flush_in()
        if delay is None:
            await fanout.wait_for_work()
            continue
        if delay > 0:
            await fanout.wait_for_round(min(delay, cap))
            continue
        try:
            await fanout.flush_due(status_extra)
        except Exception:  # The cache or channel layer may blip; retry a moment later.
            log.exception("publishing failed")
            await asyncio.sleep(RETRY_SECONDS)


async def heartbeat_loop(bridge, run_sync, stop: asyncio.Event) -> None:
    """Write the status every heartbeat period, apart from the publishing path."""
    beat = bridge_settings().heartbeat_seconds
    while not stop.is_set():
        try:
            if await bridge.fanout.beat(bridge.status_extra()):
                # The ids tell a successor which subscriptions to delete before
                # creating its own (see ``Bridge.run``): without them it would leave duplicates.
                await run_sync(store.write_subscription_ids, bridge.book.all_ids())
        except Exception:  # The cache may blip; the next beat retries.
            log.exception("could not write the heartbeat")
        await asyncio.sleep(beat)


class RoutesReloader:
    """Keeps the fan-out's routes (what widgets want) in line with the database."""

    def __init__(self, fanout: Fanout, decoding, run_sync):
        self._fanout = fanout
        self._decoding = decoding
        self._run_sync = run_sync
        self.version: int | None = None  # of the configuration last loaded

    async def load(self, version: int | None = None) -> bool:
        """Re-read the wanted set; return True when it differs from the current one."""
        fanout = self._fanout
        if version is None:
            version = await self._run_sync(store.config_version)
        routes = await self._run_sync(load_routes)
        self.version = version
        old = fanout.routes
        if routes == old:
            return False
        await fanout.set_routes(routes)
        self._decoding.forget(routes.wanted)
        # Dashboards that gained a statistic get its last known value with their next batch.
        for key in set(routes.wanted) & set(old.wanted):
            if routes.dashboards_by_key.get(key) != old.dashboards_by_key.get(key) and key in fanout.latest:
                fanout.offer(key, fanout.latest[key])
        return set(routes.wanted) != set(old.wanted)

    async def run(self, stop: asyncio.Event, changed) -> None:
        """Reload after an admin edit (and every ``CONFIG_REFRESH_SECONDS`` anyway); call
        ``changed()`` when the wanted set changed."""
        settings = bridge_settings()
        poll, refresh = settings.config_poll_seconds, settings.config_refresh_seconds
        last_full = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(poll)
            try:
                version = await self._run_sync(store.config_version)
                if version != self.version or time.monotonic() - last_full >= refresh:
                    last_full = time.monotonic()
                    if await self.load(version):
                        changed()
            except Exception:
                log.exception("could not reload the wanted statistics")


async def prune_loop(run_sync, stop: asyncio.Event) -> None:
    """Delete history samples older than the retention, every ``HISTORY_PRUNE_SECONDS``."""
    settings = bridge_settings()
    every, retention = settings.history_prune_seconds, settings.history_retention_hours
    while not stop.is_set():
        try:
            pruned = await run_sync(history.prune, retention)
            if pruned:
                log.info("pruned %d history samples older than %g h", pruned, retention)
        except Exception:
            log.exception("could not prune history")
        await asyncio.sleep(every)


async def control_loop(layer, worker, stop: asyncio.Event) -> None:
    """Operator requests from any process (see ``statsbridge.control``), for the subscription ``worker``."""
    channel = await layer.new_channel()
    await layer.group_add(CONTROL_GROUP, channel)
    failures = 0
    try:
        while not stop.is_set():
            try:
                message = await layer.receive(channel)
                failures = 0
            except Exception as error:  # e.g. a Redis read timeout on an idle channel
                failures += 1
                log.debug("control channel receive failed: %s", type(error).__name__)
                await asyncio.sleep(min(5.0, 0.1 * failures))
                continue
            if message.get("type") == "bridge.resubscribe":
                log.info("operator asked to resubscribe everything")
                worker.request_resubscribe("operator request")
            elif message.get("type") == "bridge.peek":
                worker.request_peek()
    finally:
        await layer.group_discard(CONTROL_GROUP, channel)
