"""The bridge: upstream subscriptions in, decoded values out through the fan-out.

One ``Bridge`` holds one upstream link (tokens, Statistics REST, CometD) and keeps
the statistics used by widgets subscribed, whatever happens upstream:

- the wanted set is reconciled with upstream subscriptions in batches, and again
  within ``CONFIG_POLL_SECONDS`` of an admin edit, touching only the difference;
- ServiceStateChange UNAVAILABLE marks every value stale at once (the service has
  dropped every subscription); AVAILABLE re-creates every subscription and pushes
  the current values. So does a new CometD session (first handshake, re-handshake
  after the service forgot the client, token recovery) and a bridge start;
- lost notifications (the client's buffer overflowed) and a restored connection
  trigger a peek of every subscription, so nothing stays silently outdated;
- when CometD cannot be held (``statsbridge.polling``) and REST answers, values are
  polled every ``POLL_SECONDS`` until CometD connects again.

``Bridge`` supervises the tasks that do this and handles the CometD client's events;
the jobs live apart: the upstream link (``upstream_link``), the subscription worker that
performs what the sans-I/O ``statsbridge.subscribing.SubscriptionBook`` decides
(``subscription_work``), the switch to polling (``degraded_mode``), the periodic loops
(``housekeeping``) and the status (``bridge_status``).
"""

import asyncio
import logging
import time
import uuid

from statsbridge import bridge_status, frames, housekeeping, metrics, observers, store
from statsbridge.conf import bridge_settings
from statsbridge.decoding import Decoding
from statsbridge.degraded_mode import PollingSwitch
from statsbridge.fanout import Fanout
from statsbridge.notifications import service_state, statistic_items
from statsbridge.rates import UpdateRates
from statsbridge.subscribing import SubscriptionBook
from statsbridge.subscription_work import SubscriptionWorker, update_gauges
from statsbridge.upstream.bayeux import (
    ConnectionState,
    Fatal,
    Message,
    MessagesLost,
    SessionEstablished,
    StateChanged,
)
from statsbridge.upstream.errors import ConfigurationError
from statsbridge.upstream_link import UpstreamLink

log = logging.getLogger(__name__)


class Bridge:
    """Keeps the wanted statistics subscribed upstream and publishes their values."""

    def __init__(self, genesys: dict, run_sync, fanout: Fanout, *, batch_size: int | None = None):
        self._run_sync = run_sync
        self.fanout = fanout
        batch_size = batch_size or bridge_settings().subscription_batch_size
        self.decoding = Decoding()
        # What is held upstream, what to create, retry, peek and delete (no I/O in there).
        self.book = SubscriptionBook(batch_size, lambda: f"ccdash-{uuid.uuid4().hex}")
        self.link = UpstreamLink(genesys)
        self.worker = SubscriptionWorker(self, run_sync)
        self.switch = PollingSwitch(self)
        self.routes_reloader = housekeeping.RoutesReloader(fanout, self.decoding, run_sync)
        self.service = "UNKNOWN"
        self.last_error: str | None = None
        # A refused login or API key (not a transient failure): shown apart on /readyz and the ops page.
        self.config_error: str | None = None
        self.update_rates = UpdateRates()  # pushed updates, for the status's update rate
        self.ever_connected = False

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then release upstream subscriptions and disconnect."""
        await self.routes_reloader.load()
        self.link.open()
        # Subscriptions a previous bridge left (it crashed or lost its lease) are
        # deleted before ours are created, so upstream never holds duplicates.
        self.book.inherit(await self._run_sync(store.read_subscription_ids))
        self.switch.health.start(time.monotonic())
        self.fanout.mark_all("stale")
        self.fanout.set_connection(upstream="connecting", service="UNKNOWN")
        await self.fanout.flush(self.status_extra(), heartbeat=True)
        loops = {
            "upstream": self.link.run(stop, self.handle, self.current_config_error),
            "worker": self.worker.run(stop),
            "publish": housekeeping.publish_loop(self.fanout, self.status_extra, stop),
            "heartbeat": housekeeping.heartbeat_loop(self, self._run_sync, stop),
            "config": self.routes_reloader.run(stop, self.request_reconcile),
            "prune": housekeeping.prune_loop(self._run_sync, stop),
            "control": housekeeping.control_loop(self.fanout.layer, self.worker, stop),
            "polling": self.switch.run(stop),
            "observers": observers.observer_loop(self.fanout, self._run_sync, stop),
        }
        tasks = [asyncio.create_task(loop, name=f"bridge {name}") for name, loop in loops.items()]
        stopped = asyncio.create_task(stop.wait(), name="bridge stop")
        try:
            done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopped and not task.cancelled() and task.exception() is not None:
                    # A loop died: stop the whole bridge so that its host starts a fresh one.
                    raise RuntimeError(f"{task.get_name()} failed") from task.exception()
        finally:
            for task in [stopped, *tasks]:
                task.cancel()
            await asyncio.gather(stopped, *tasks, return_exceptions=True)

    async def shutdown(self, *, release: bool = True) -> None:
        """Delete our upstream subscriptions (when ``release``), disconnect, tell dashboards."""
        try:
            ids = self.book.all_ids()
            if release and self.link.statistics is not None and ids:
                deleted = await self.link.delete_subscriptions(ids, timeout=5.0)
                log.info("released %d of %d upstream subscriptions", deleted, len(ids))
                self.book.start_over()
                self.book.actions(time.monotonic())  # what it would delete went already
                await self._run_sync(store.write_subscription_ids, [])
        finally:
            await self.link.close()
        try:
            if release:
                await self.fanout.publish_down()
        finally:
            await self.fanout.close()  # its acknowledgement reader (channels_redis)

    @property
    def held(self) -> dict[str, frozenset]:
        """Subscription id → statistic keys held upstream."""
        return self.book.held

    @property
    def failed(self) -> dict[str, str]:
        """Statistic key → why upstream refused it."""
        return self.book.refused

    @property
    def session_up(self) -> bool:
        """Whether a CometD session is established."""
        return self.link.session_up

    @property
    def polling(self) -> bool:
        """Whether CometD counts as blocked and values are polled by REST."""
        return self.switch.polling

    def request_reconcile(self) -> None:
        """Ask for the wanted set to be re-applied upstream (after routes changed)."""
        self.worker.request_reconcile()

    async def peek_all(self) -> None:
        """Ask for the current value of every held statistic (done by the worker)."""
        self.worker.request_peek()

    # ------------------------------------------------------------ events (never block)

    def handle(self, event) -> None:
        """React to one event of the CometD client."""
        if isinstance(event, Message):
            self._on_message(event.channel, event.data)
        elif isinstance(event, SessionEstablished):
            self.link.session_up = True
            self.config_error = None
            metrics.handshakes.inc()
            self.worker.request_resubscribe("re-handshake" if event.rehandshake else "session established")
        elif isinstance(event, StateChanged):
            self._on_state(event)
        elif isinstance(event, MessagesLost):
            log.warning("%d notifications were lost; peeking every subscription", event.count)
            self.worker.request_peek()
        elif isinstance(event, Fatal):
            self.last_error = event.reason
            if isinstance(event.error, ConfigurationError):
                self.config_error = str(event.error)
            self.link.session_up = False
            self.switch.health.on_failure(time.monotonic())
            if not self.switch.polling:
                self.fanout.set_connection(upstream="down")
                self.fanout.mark_all("stale")

    def _on_message(self, channel: str, data) -> None:
        state = service_state(channel, data)
        if state is not None:
            self._on_service_state(state)
            return
        items = statistic_items(channel, data)
        if items:
            self._offer_items(items, frames.now_ms())

    def _offer_items(self, items: list[dict], received: int) -> None:
        """Decode a message's statistic items and hand their values to the fan-out together.

        Per item only the decoding and the latest value; the update rates and metrics are
        counted once per message (in bulk), not once per update.
        """
        self.update_rates.count_many([item["statisticId"] for item in items])
        wanted = self.fanout.routes.wanted
        state = "fresh" if self.service != "UNAVAILABLE" else "stale"
        decode = self.decoding.decode
        values: dict[str, dict] = {}
        taken = unknown = 0
        for item in items:
            key = item["statisticId"]
            statistic = wanted.get(key)
            if statistic is None:
                continue
            decoded = values[key] = decode(item.get("value"), statistic.hint, timestamp=item.get("timestamp"),
                                           received=received, state=state)
            taken += 1
            if decoded["kind"] == "unknown":
                unknown += 1
        if unknown:
            metrics.decode_unknown.inc(unknown)
        if values:
            self.fanout.offer_many(values, taken)

    def _offer(self, item: dict, received: int) -> None:
        key = item["statisticId"]
        wanted = self.fanout.routes.wanted.get(key)
        if wanted is None:
            return
        state = "fresh" if self.service != "UNAVAILABLE" else "stale"
        decoded = self.decoding.decode(
            item.get("value"), wanted.hint, timestamp=item.get("timestamp"), received=received, state=state
        )
        if decoded["kind"] == "unknown":
            metrics.decode_unknown.inc()
        self.fanout.offer(key, decoded)

    def offer_fetched(self, item: dict, requested_at: int) -> None:
        """Offer a value read by a REST call sent at ``requested_at`` (ms), unless a notification
        that arrived meanwhile already brought one at least as new.

        The service notifies a new subscription's changes at once, so they can overtake the
        reply that created it (or a peek); offering the reply's older value after them would
        show it as fresh until the statistic next changes (the fault matrix saw 2 s).
        """
        if not fetched_is_superseded(self.fanout.latest.get(item["statisticId"]), item.get("timestamp"), requested_at):
            self._offer(item, requested_at)

    def _on_service_state(self, state: str) -> None:
        if state == self.service:
            return
        log.info("statistics service is now %s", state)
        self.service = state
        self.fanout.set_connection(service=state)
        if state == "UNAVAILABLE":
            # The service drops every subscription when it becomes unavailable.
            self.book.drop_all()
            update_gauges(self.held)
            stale = self.fanout.mark_all("stale")
            log.info("marked %d values stale", stale)
        else:
            self.worker.request_resubscribe("service AVAILABLE")

    def _on_state(self, event: StateChanged) -> None:
        now = time.monotonic()
        switch = self.switch
        if event.state is ConnectionState.CONNECTED:
            switch.health.on_connected()
            if switch.polling:
                self.ever_connected = True
                switch.leave()
                return
        elif event.state is ConnectionState.BACKING_OFF:
            switch.health.on_failure(now)
        else:
            switch.health.on_down(now)
        if switch.polling:
            return  # CometD is retried in the background; the page keeps saying POLLING
        if event.state is ConnectionState.CONNECTED:
            restored = self.ever_connected and self.fanout.connection["upstream"] != "connected"
            self.ever_connected = True
            self.fanout.set_connection(upstream="connected")
            if restored and not self.worker.need_resubscribe:
                self.worker.request_peek()
            return
        if self.fanout.connection["upstream"] == "connected":
            metrics.reconnects.inc()
            log.warning("upstream connection lost: %s", event.reason)
            self.fanout.mark_all("stale")
        if event.state is ConnectionState.DISCONNECTED:
            self.fanout.set_connection(upstream="down")
        else:
            self.fanout.set_connection(upstream="reconnecting" if self.ever_connected else "connecting")

    def note_config_error(self, error: Exception) -> None:
        """Remember a refused login or API key: it needs an operator (the ops page and /readyz say which)."""
        if isinstance(error, ConfigurationError):
            self.config_error = str(error)

    def note_error(self, message: str) -> None:
        """Log a failure once (not again while it repeats) and show it in the status."""
        if message != self.last_error:
            log.warning("%s", message)
        self.last_error = message

    # ------------------------------------------------------------ status

    def current_config_error(self) -> str | None:
        """The login or API-key refusal in force (secret-free text), or None (see ``bridge_status``)."""
        return bridge_status.current_config_error(self)

    def status_extra(self) -> dict:
        """Counts and errors for /readyz, the ops page and metrics."""
        return bridge_status.status_extra(self)


def fetched_is_superseded(current: dict | None, fetched_timestamp, requested_at: int) -> bool:
    """Whether a value read by REST (upstream ``fetched_timestamp``, request sent at
    ``requested_at`` ms) is older than ``current``, a Value received while the request was
    out; without both timestamps the notification, received later, is taken as newer."""
    if current is None or (current.get("received") or 0) < requested_at:
        return False
    current_timestamp = current.get("timestamp")
    if isinstance(current_timestamp, (int, float)) and isinstance(fetched_timestamp, (int, float)) \
            and not isinstance(fetched_timestamp, bool):
        return current_timestamp >= fetched_timestamp
    return True
