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

What to create, hold, retry, peek and delete is decided by the sans-I/O
``statsbridge.subscribing.SubscriptionBook``; this module performs it. Subscription work
runs in one worker task so that the event loop that reads CometD never waits on REST
calls (a server expires a client that stops polling).
"""

import asyncio
import logging
import time
import uuid

from statsbridge import frames, history, metrics, store
from statsbridge.conf import bridge_settings
from statsbridge.decoding import Decoding
from statsbridge.fanout import CONTROL_GROUP, Fanout
from statsbridge.notifications import SERVICE_CHANNEL, UPDATES_CHANNEL, service_state, statistic_items
from statsbridge.polling import ChannelHealth
from statsbridge.rates import UpdateRates
from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.bayeux import (
    ConnectionState,
    Fatal,
    Message,
    MessagesLost,
    SessionEstablished,
    StateChanged,
)
from statsbridge.upstream.bayeux.client import BayeuxClient
from statsbridge.subscribing import (
    REFUSED,
    TRANSIENT,
    Create,
    Delete,
    Peek,
    SubscriptionBook,
    classify_call,
    classify_create,
    refusal_messages,
)
from statsbridge.upstream.errors import ConfigurationError, StatisticsApiError, TransientError, UpstreamError
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.http import create_session
from statsbridge.upstream.statistics import StatisticsClient
from statsbridge.wanted import load_routes

log = logging.getLogger(__name__)

NOTIFICATIONS_PATH = "/statistics/v3/notifications"


class Bridge:
    """Keeps the wanted statistics subscribed upstream and publishes their values."""

    def __init__(self, genesys: dict, run_sync, fanout: Fanout, *, batch_size: int | None = None):
        self._genesys = genesys
        self._run_sync = run_sync
        self.fanout = fanout
        self._batch_size = batch_size or bridge_settings().subscription_batch_size
        self.decoding = Decoding()
        # What is held upstream, what to create, retry, peek and delete (no I/O in there).
        self.book = SubscriptionBook(self._batch_size, lambda: f"ccdash-{uuid.uuid4().hex}")
        self.health = ChannelHealth(bridge_settings().poll_after_failed_connects,
                                    bridge_settings().poll_after_seconds)
        self.poll_seconds = bridge_settings().poll_seconds
        if not self.poll_seconds > 0:
            raise ValueError("BRIDGE_POLL_SECONDS must be a positive number of seconds")
        self.polling = False  # CometD counts as blocked: values are read by REST
        self.polling_since: int | None = None  # when REST first answered while polling (ms)
        self.service = "UNKNOWN"
        self.session_up = False
        self.last_error: str | None = None
        # A refused login or API key (not a transient failure): shown apart on /readyz and the ops page.
        self.config_error: str | None = None
        self.last_resubscribe: dict | None = None
        self.update_rates = UpdateRates()  # pushed updates, for the status's update rate
        self.ever_connected = False
        self._need_resubscribe: str | None = None
        self._need_reconcile = False
        self._need_peek = False
        self._resubscribing: tuple | None = None  # (reason, started, statistics) until every batch is done
        self._work = asyncio.Event()
        self._config_version: int | None = None
        self._session = self._tokens = self._statistics = self._bayeux = None

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then release upstream subscriptions and disconnect."""
        await self._load_routes()
        self._open_upstream()
        # Subscriptions a previous bridge left (it crashed or lost its lease) are
        # deleted before ours are created, so upstream never holds duplicates.
        self.book.inherit(await self._run_sync(store.read_subscription_ids))
        self.health.start(time.monotonic())
        self.fanout.mark_all("stale")
        self.fanout.set_connection(upstream="connecting", service="UNKNOWN")
        await self.fanout.flush(self.status_extra(), heartbeat=True)
        tasks = [
            asyncio.create_task(self._upstream_loop(stop), name="bridge upstream"),
            asyncio.create_task(self._worker_loop(stop), name="bridge worker"),
            asyncio.create_task(self._tick_loop(stop), name="bridge tick"),
            asyncio.create_task(self._heartbeat_loop(stop), name="bridge heartbeat"),
            asyncio.create_task(self._config_loop(stop), name="bridge config"),
            asyncio.create_task(self._prune_loop(stop), name="bridge prune"),
            asyncio.create_task(self._control_loop(stop), name="bridge control"),
            asyncio.create_task(self._poll_loop(stop), name="bridge polling"),
        ]
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
            if release and self._statistics is not None and ids:
                deleted = await self._delete_subscriptions(ids, timeout=5.0)
                log.info("released %d of %d upstream subscriptions", deleted, len(ids))
                self.book.start_over()
                self.book.actions(time.monotonic())  # what it would delete went already
                await self._run_sync(store.write_subscription_ids, [])
        finally:
            await self._close_upstream()
        if release:
            await self.fanout.publish_down()

    @property
    def held(self) -> dict[str, frozenset]:
        """Subscription id → statistic keys held upstream."""
        return self.book.held

    @property
    def failed(self) -> dict[str, str]:
        """Statistic key → why upstream refused it."""
        return self.book.refused

    # ------------------------------------------------------------ upstream link

    def _open_upstream(self) -> None:
        """One HTTP session, token provider and REST client for the bridge's whole life."""
        genesys = self._genesys
        self._session = create_session(genesys["API_KEY"])
        self._tokens = TokenProvider(self._session, Credentials.from_settings(genesys))
        self._statistics = StatisticsClient(self._session, genesys["API_URL"], self._tokens, chunk_size=self._batch_size)

    def _new_bayeux(self) -> BayeuxClient:
        return BayeuxClient(
            self._session,
            self._genesys["API_URL"].rstrip("/") + NOTIFICATIONS_PATH,
            channels=[SERVICE_CHANNEL, UPDATES_CHANNEL],
            token_provider=self._tokens,
        )

    async def _close_upstream(self) -> None:
        bayeux, session = self._bayeux, self._session
        self._bayeux = self._session = None
        if bayeux is not None:
            await bayeux.disconnect()
        if session is not None:
            await session.close()
        self.session_up = False

    async def _upstream_loop(self, stop: asyncio.Event) -> None:
        """Run the CometD client; after a fatal stop, start a new one with backoff."""
        backoff = Backoff(base=1.0, cap=60.0)
        failures = 0
        while not stop.is_set():
            self._bayeux = self._new_bayeux()
            self._bayeux.start()
            async for event in self._bayeux.events():
                try:
                    self.handle(event)
                except Exception:  # One bad message must not stop the link.
                    log.exception("could not handle %s", type(event).__name__)
                if self.session_up:
                    failures = 0
            await self._bayeux.disconnect()
            self.session_up = False
            failures += 1
            delay = backoff.delay(failures)
            # A refused login stops every new link the same way: say it once, not every minute.
            level = logging.DEBUG if failures > 1 and self.current_config_error() else logging.WARNING
            log.log(level, "upstream link stopped; starting a new one in %.1f s", delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------ events (never block)

    def handle(self, event) -> None:
        """React to one event of the CometD client."""
        if isinstance(event, Message):
            self._on_message(event.channel, event.data)
        elif isinstance(event, SessionEstablished):
            self.session_up = True
            self.config_error = None
            metrics.handshakes.inc()
            self._request_resubscribe("re-handshake" if event.rehandshake else "session established")
        elif isinstance(event, StateChanged):
            self._on_state(event)
        elif isinstance(event, MessagesLost):
            log.warning("%d notifications were lost; peeking every subscription", event.count)
            self._need_peek = True
            self._work.set()
        elif isinstance(event, Fatal):
            self.last_error = event.reason
            if isinstance(event.error, ConfigurationError):
                self.config_error = str(event.error)
            self.session_up = False
            self.health.on_failure(time.monotonic())
            if not self.polling:
                self.fanout.set_connection(upstream="down")
                self.fanout.mark_all("stale")

    def _on_message(self, channel: str, data) -> None:
        state = service_state(channel, data)
        if state is not None:
            self._on_service_state(state)
            return
        received = frames.now_ms()
        for item in statistic_items(channel, data):
            self.update_rates.count(item["statisticId"])
            self._offer(item, received)

    def _offer(self, item: dict, received: int) -> None:
        key = item["statisticId"]
        wanted = self.fanout.routes.wanted.get(key)
        if wanted is None:
            return
        state = "fresh" if self.service != "UNAVAILABLE" else "stale"
        decoded = self.decoding.decode(item.get("value"), wanted.hint, timestamp=item.get("timestamp"), received=received, state=state)
        if decoded["kind"] == "unknown":
            metrics.decode_unknown.inc()
        self.fanout.offer(key, decoded)

    def _offer_fetched(self, item: dict, requested_at: int) -> None:
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
            self._update_gauges()
            stale = self.fanout.mark_all("stale")
            log.info("marked %d values stale", stale)
        else:
            self._request_resubscribe("service AVAILABLE")

    def _on_state(self, event: StateChanged) -> None:
        now = time.monotonic()
        if event.state is ConnectionState.CONNECTED:
            self.health.on_connected()
            if self.polling:
                self.ever_connected = True
                self._leave_polling()
                return
        elif event.state is ConnectionState.BACKING_OFF:
            self.health.on_failure(now)
        else:
            self.health.on_down(now)
        if self.polling:
            return  # CometD is retried in the background; the page keeps saying POLLING
        if event.state is ConnectionState.CONNECTED:
            restored = self.ever_connected and self.fanout.connection["upstream"] != "connected"
            self.ever_connected = True
            self.fanout.set_connection(upstream="connected")
            if restored and not self._need_resubscribe:
                self._need_peek = True
                self._work.set()
            return
        if self.fanout.connection["upstream"] == "connected":
            metrics.reconnects.inc()
            log.warning("upstream connection lost: %s", event.reason)
            self.fanout.mark_all("stale")
        if event.state is ConnectionState.DISCONNECTED:
            self.fanout.set_connection(upstream="down")
        else:
            self.fanout.set_connection(upstream="reconnecting" if self.ever_connected else "connecting")

    # ------------------------------------------------------------ degraded mode

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        """Switch to polling when the notification channel stays broken; peek every
        ``POLL_SECONDS`` while polling (see ``statsbridge.polling``)."""
        last_poll = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if not self.polling and self._statistics is not None and self.health.should_poll(now):
                self._enter_polling()
            if self.polling and now - last_poll >= self.poll_seconds:
                last_poll = now
                self._need_peek = True
                self._work.set()
            await asyncio.sleep(min(0.25, self.poll_seconds))

    def _enter_polling(self) -> None:
        self.polling = True
        metrics.polling_entered.inc()
        log.warning(
            "CometD cannot be held (%d failed connects, down %.0f s): polling every %g s until it can",
            self.health.failures, time.monotonic() - (self.health.down_since or time.monotonic()), self.poll_seconds,
        )
        # The status says "polling" once REST has answered (see _rest_answered): with the
        # whole network down, values stay stale and the status "reconnecting".
        # Subscriptions of a session that cannot be polled are dropped with it by the
        # service; failing peeks find them lost and re-create them (see subscribing).
        self._need_peek = self._need_reconcile = True
        self._work.set()

    def _rest_answered(self) -> None:
        """A REST call succeeded: while polling, values are fresh again and the status says so."""
        if self.polling and self.polling_since is None:
            self.polling_since = frames.now_ms()
            log.info("REST answers while CometD cannot be held: values are polled every %g s", self.poll_seconds)
            self.fanout.set_connection(upstream="polling", poll_seconds=self.poll_seconds)
            # The network may just be back (a cut, a restart): try CometD now rather than
            # after its backoff (up to 30 s). Behind a proxy that blocks it, this costs one
            # more failed attempt each time REST comes back, no more.
            if self._bayeux is not None:
                self._bayeux.retry_now()

    def _rest_failed(self) -> None:
        """A REST call failed transiently: while polling, nothing can be fresh any more."""
        if self.polling and self.polling_since is not None:
            self.polling_since = None
            log.warning("REST no longer answers either; values are stale until it or CometD does")
            self.fanout.set_connection(upstream="reconnecting")
            self.fanout.mark_all("stale")

    def _leave_polling(self) -> None:
        self.polling = False
        self.polling_since = None
        log.info("CometD connected again: streaming instead of polling")
        self.fanout.set_connection(upstream="connected")
        # Subscriptions created while polling belong to no CometD session: nobody is
        # notified of them, so they are re-created under the session that streams now.
        self._request_resubscribe("streaming again")

    def _request_resubscribe(self, reason: str) -> None:
        self._need_resubscribe = reason
        self._work.set()

    def request_reconcile(self) -> None:
        """Ask for the wanted set to be re-applied upstream (after routes changed)."""
        self._need_reconcile = True
        self._work.set()

    # ------------------------------------------------------------ subscription work

    async def _worker_loop(self, stop: asyncio.Event) -> None:
        """Run what the subscription book says is due; sleep until the next retry or request.

        Every action succeeds or fails alone (see ``statsbridge.subscribing``): one failed
        batch or peek never stops the others, and is retried alone, with backoff.
        """
        while not stop.is_set():
            delay = self.book.next_due(time.monotonic()) if self._can_subscribe() else None
            try:
                await asyncio.wait_for(self._work.wait(), delay)
            except asyncio.TimeoutError:
                pass
            self._work.clear()
            if self._can_subscribe():
                await self._do_work()

    def _can_subscribe(self) -> bool:
        if self._statistics is None or self.service == "UNAVAILABLE":
            return False
        # While polling, subscriptions are created without a CometD session and peeked.
        return self.session_up or self.polling

    async def _do_work(self) -> None:
        wanted = self.fanout.routes.wanted
        if self._need_resubscribe:
            reason, self._need_resubscribe = self._need_resubscribe, None
            self.book.start_over()
            self._resubscribing = (reason, time.monotonic(), len(wanted))
            self._need_reconcile = True
        if self._need_reconcile:
            self._need_reconcile = False
            self.book.want(wanted)
        if self._need_peek:
            self._need_peek = False
            self.book.request_peek(now=time.monotonic())
        actions = self.book.actions(time.monotonic())
        if not actions:
            return
        deletes = [a for a in actions if isinstance(a, Delete)]
        for action in deletes:
            await self._delete_subscriptions(list(action.subscription_ids))
        creates = [a for a in actions if isinstance(a, Create)]
        for action in creates:
            await self._create(action)
        peeks = [a for a in actions if isinstance(a, Peek)]
        if peeks:
            await asyncio.gather(*(self._peek(action) for action in peeks))
        await self._run_sync(store.write_subscription_ids, self.book.all_ids())
        self._update_gauges()
        self._finish_resubscribe()
        if creates:
            log.info("subscriptions: %d held (%d statistics), %d refused, %d statistics being retried",
                     len(self.book.held), len(self.book.held_keys()), len(self.book.refused),
                     len(self.book.retrying()))

    def _finish_resubscribe(self) -> None:
        if self._resubscribing is None or self.book.busy:
            return
        reason, started, count = self._resubscribing
        self._resubscribing = None
        elapsed = time.monotonic() - started
        self.last_resubscribe = {"reason": reason, "statistics": count, "seconds": round(elapsed, 3), "at": frames.now_ms()}
        metrics.resubscribes.labels(reason=reason).inc()
        metrics.resubscribe_seconds.observe(elapsed)
        log.info(
            "resubscribed (%s): %d statistics in %d subscriptions, %d refused, %.2f s",
            reason, count, len(self.book.held), len(self.book.refused), elapsed,
        )

    async def _create(self, action: Create) -> None:
        """``POST /subscriptions`` for one batch; its outcome goes to the book, values to dashboards."""
        received = frames.now_ms()
        descriptors = [self.fanout.routes.wanted[k].descriptor for k in action.keys if k in self.fanout.routes.wanted]
        try:
            if not descriptors:
                raise StatisticsApiError(code=None, message="no longer wanted", path="", http_status=400)
            result = await self._statistics.create_subscription(descriptors, operation_id=action.operation_id,
                                                                attempts=1)
        except (UpstreamError, OSError) as error:
            self._note_config_error(error)
            kind = classify_create(getattr(error, "http_status", None), _transient(error))
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            metrics.subscription_creates.labels(outcome=kind).inc()
            self.book.create_failed(action, kind, message, time.monotonic())
            if kind == TRANSIENT:
                self._rest_failed()
            if kind == REFUSED:
                log.warning("upstream refused a whole batch of %d statistics: %s", len(action.keys), message)
            else:
                self._note_error(f"creating a subscription failed ({message}); retrying that batch alone")
            return
        metrics.subscription_creates.labels(outcome="partial" if result.partial else "ok").inc()
        self._rest_answered()
        returned = [s for s in result.data.get("statistics", []) if isinstance(s, dict)]
        by_key, general = refusal_messages(action.keys, result.errors)
        outcome = self.book.created(action, returned, by_key, result.partial, general)
        if outcome.refused:
            first = next(iter(outcome.refused))
            log.warning("upstream refused %d statistics, e.g. %s: %s", len(outcome.refused), first, outcome.refused[first])
        if outcome.held and self.service == "UNKNOWN":
            # The service accepted subscriptions, so it is available (it only
            # announces changes, never its state at connect time).
            self.service = "AVAILABLE"
            self.fanout.set_connection(service="AVAILABLE")
        held = set(outcome.held)
        for item in returned:
            if "value" in item and item.get("statisticId") in held:
                self._offer_fetched(item, received)

    async def peek_all(self) -> None:
        """Ask for the current value of every held statistic (done by the worker)."""
        self._need_peek = True
        self._work.set()

    async def _peek(self, action: Peek) -> None:
        received = frames.now_ms()
        try:
            result = await self._statistics.get_subscription_values(action.subscription_id, action.keys)
        except (UpstreamError, OSError) as error:
            self._note_config_error(error)
            kind = classify_call(_transient(error))
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            if kind == TRANSIENT:
                self._rest_failed()
            if self.book.peek_failed(action, kind, time.monotonic()):
                metrics.subscription_lost.inc()
                log.warning("subscription %s counts as lost (%s); creating its statistics again",
                            action.subscription_id, message)
            else:
                self._note_error(f"peek of {action.subscription_id} failed ({message}); retrying")
            if self.polling:
                self._mark_stale(action.keys)
            return
        self._rest_answered()
        items = [i for i in result.data.get("statistics", []) if isinstance(i, dict) and isinstance(i.get("statisticId"), str)]
        missing = self.book.peeked(action, [i["statisticId"] for i in items], result.partial)
        if missing:
            log.warning("%d statistics are no longer in subscription %s; creating them again",
                        len(missing), action.subscription_id)
        for item in items:
            if "value" in item:
                self._offer_fetched(item, received)

    def _note_config_error(self, error: Exception) -> None:
        # A refused login or API key needs an operator: the ops page and /readyz say which.
        if isinstance(error, ConfigurationError):
            self.config_error = str(error)

    def _note_error(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s", message)
        self.last_error = message

    def _mark_stale(self, keys) -> None:
        for key in keys:
            current = self.fanout.latest.get(key)
            if current is not None and current["state"] == "fresh":
                self.fanout.offer(key, frames.with_state(current, "stale"))

    async def _delete_subscriptions(self, ids: list[str], timeout: float = 10.0) -> int:
        """Delete subscriptions in parallel, within ``timeout`` overall; return how many went."""

        async def delete(subscription_id: str) -> bool:
            try:
                await self._statistics.delete_subscription(subscription_id)
                return True
            except (UpstreamError, OSError) as error:
                log.warning("could not delete subscription %s: %s", subscription_id, type(error).__name__)
                return False

        tasks = [asyncio.create_task(delete(i)) for i in ids]
        done, pending = await asyncio.wait(tasks, timeout=timeout) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d subscription deletions did not finish within %.0f s", len(pending), timeout)
        return sum(1 for task in done if task.result())

    def _update_gauges(self) -> None:
        metrics.subscriptions_held.set(len(self.held))
        metrics.statistics_held.set(sum(len(k) for k in self.held.values()))

    # ------------------------------------------------------------ periodic work

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        """Publish as soon as something is due (leading edge), never more than once a tick per dashboard."""
        tick = self.fanout.tick
        while not stop.is_set():
            delay = self.fanout.next_flush_in()
            if delay is None:
                await self.fanout.wait_for_work()
                continue
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.fanout.flush_due(self.status_extra)  # built only when a status is written
            except Exception:  # The cache or channel layer may blip; retry a tick later.
                log.exception("publishing failed")
                await asyncio.sleep(tick)

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        """Write the status every heartbeat period, apart from the publishing path."""
        beat = bridge_settings().heartbeat_seconds
        while not stop.is_set():
            try:
                if await self.fanout.beat(self.status_extra()):
                    # The ids tell a successor which subscriptions to delete before
                    # creating its own (see ``run``): without them it would leave duplicates.
                    await self._run_sync(store.write_subscription_ids, self.book.all_ids())
            except Exception:  # The cache may blip; the next beat retries.
                log.exception("could not write the heartbeat")
            await asyncio.sleep(beat)

    async def _config_loop(self, stop: asyncio.Event) -> None:
        poll = bridge_settings().config_poll_seconds
        refresh = bridge_settings().config_refresh_seconds
        last_full = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(poll)
            try:
                version = await self._run_sync(store.config_version)
                if version != self._config_version or time.monotonic() - last_full >= refresh:
                    last_full = time.monotonic()
                    if await self._load_routes(version):
                        self.request_reconcile()
            except Exception:
                log.exception("could not reload the wanted statistics")

    async def _load_routes(self, version: int | None = None) -> bool:
        """Re-read the wanted set; return True when it differs from the current one."""
        if version is None:
            version = await self._run_sync(store.config_version)
        routes = await self._run_sync(load_routes)
        self._config_version = version
        old = self.fanout.routes
        if routes == old:
            return False
        await self.fanout.set_routes(routes)
        self.decoding.forget(routes.wanted)
        # Dashboards that gained a statistic get its last known value on the next tick.
        for key in set(routes.wanted) & set(old.wanted):
            if routes.dashboards_by_key.get(key) != old.dashboards_by_key.get(key) and key in self.fanout.latest:
                self.fanout.offer(key, self.fanout.latest[key])
        return set(routes.wanted) != set(old.wanted)

    async def _prune_loop(self, stop: asyncio.Event) -> None:
        every = bridge_settings().history_prune_seconds
        retention = bridge_settings().history_retention_hours
        while not stop.is_set():
            try:
                pruned = await self._run_sync(history.prune, retention)
                if pruned:
                    log.info("pruned %d history samples older than %g h", pruned, retention)
            except Exception:
                log.exception("could not prune history")
            await asyncio.sleep(every)

    async def _control_loop(self, stop: asyncio.Event) -> None:
        """Operator requests from any process (see ``statsbridge.control``)."""
        layer = self.fanout.layer
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
                    self._request_resubscribe("operator request")
                elif message.get("type") == "bridge.peek":
                    self._need_peek = True
                    self._work.set()
        finally:
            await layer.group_discard(CONTROL_GROUP, channel)

    # ------------------------------------------------------------ status

    def current_config_error(self) -> str | None:
        """The login or API-key refusal in force (secret-free text), or None.

        The token provider's is current (it clears once a login works again); else the
        last one the REST worker or the CometD client stopped on, until a session is up.
        """
        tokens = self._tokens
        if tokens is not None and tokens.last_error is not None:
            return str(tokens.last_error)
        return self.config_error

    def status_extra(self) -> dict:
        """Counts and errors for /readyz, the ops page and metrics."""
        tokens = self._tokens
        latest = self.fanout.latest
        rates = self.update_rates.snapshot(self.held)
        details = [
            {
                "id": subscription_id,
                "statistics": len(keys),
                "last_update": max((latest[k]["received"] for k in keys if k in latest), default=None),
                "rates": rates["by_subscription"].get(subscription_id),
            }
            for subscription_id, keys in sorted(self.held.items())[:200]
        ]
        return {
            "updates": {"total": rates["total"], "windows": rates["windows"], "rates": rates["rates"]},
            "mode": "polling" if self.polling and self.polling_since is not None else "streaming",
            "poll_seconds": self.poll_seconds,
            "polling_since": self.polling_since,
            "retrying": dict(sorted(self.book.retrying().items())[:50]),
            "lost": self.book.lost_total,
            "subscriptions": len(self.held),
            "subscription_details": details,
            "statistics": sum(len(k) for k in self.held.values()),
            "wanted": len(self.fanout.routes.wanted),
            "refused": dict(sorted(self.failed.items())[:50]),
            "last_error": self.last_error,
            "config_error": self.current_config_error(),
            "last_resubscribe": self.last_resubscribe,
            "token_expires_at": tokens.expires_at if tokens is not None else None,
        }


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


def _transient(error: BaseException) -> bool:
    """Whether a failed call may pass by itself (network, 502/503/504)."""
    return isinstance(error, (TransientError, OSError))
