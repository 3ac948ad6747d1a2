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
  trigger a peek of every subscription, so nothing stays silently outdated.

Subscription work runs in one worker task so that the event loop that reads CometD
never waits on REST calls (a server expires a client that stops polling).
"""

import asyncio
import logging
import time
import uuid

from statsbridge import events, history, metrics, values
from statsbridge.conf import bridge_setting
from statsbridge.decoding import Decoding
from statsbridge.fanout import CONTROL_GROUP, Fanout
from statsbridge.notifications import SERVICE_CHANNEL, UPDATES_CHANNEL, service_state, statistic_items
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
from statsbridge.upstream.errors import ConfigurationError, StatisticsApiError, UpstreamError
from statsbridge.upstream.http import Backoff, create_session
from statsbridge.upstream.statistics import StatisticsClient, chunked
from statsbridge.wanted import load_routes, plan_changes

log = logging.getLogger(__name__)

NOTIFICATIONS_PATH = "/statistics/v3/notifications"


class Bridge:
    """Keeps the wanted statistics subscribed upstream and publishes their values."""

    def __init__(self, genesys: dict, run_sync, fanout: Fanout, *, batch_size: int | None = None):
        self._genesys = genesys
        self._run_sync = run_sync
        self.fanout = fanout
        self._batch_size = batch_size or int(bridge_setting("SUBSCRIPTION_BATCH_SIZE"))
        self.decoding = Decoding()
        self.held: dict[str, set[str]] = {}  # subscription id → statistic keys
        self.failed: dict[str, str] = {}  # statistic key → why upstream refused it
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
        self._work = asyncio.Event()
        self._config_version: int | None = None
        self._inherited_ids: list[str] = []
        self._session = self._tokens = self._statistics = self._bayeux = None

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then release upstream subscriptions and disconnect."""
        await self._load_routes()
        self._open_upstream()
        # Subscriptions a previous bridge left (it crashed or lost its lease) are
        # deleted before ours are created, so upstream never holds duplicates.
        self._inherited_ids = await self._run_sync(values.read_subscription_ids)
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
            if release and self._statistics is not None and self.held:
                deleted = await self._delete_subscriptions(list(self.held), timeout=5.0)
                log.info("released %d of %d upstream subscriptions", deleted, len(self.held))
                self.held = {}
                await self._run_sync(values.write_subscription_ids, [])
        finally:
            await self._close_upstream()
        if release:
            await self.fanout.publish_down()

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
            self.fanout.set_connection(upstream="down")
            self.fanout.mark_all("stale")

    def _on_message(self, channel: str, data) -> None:
        state = service_state(channel, data)
        if state is not None:
            self._on_service_state(state)
            return
        received = events.now_ms()
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
            self.held = {}
            stale = self.fanout.mark_all("stale")
            log.info("marked %d values stale", stale)
        else:
            self._request_resubscribe("service AVAILABLE")

    def _on_state(self, event: StateChanged) -> None:
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

    def _request_resubscribe(self, reason: str) -> None:
        self._need_resubscribe = reason
        self._work.set()

    def request_reconcile(self) -> None:
        """Ask for the wanted set to be re-applied upstream (after routes changed)."""
        self._need_reconcile = True
        self._work.set()

    # ------------------------------------------------------------ subscription work

    async def _worker_loop(self, stop: asyncio.Event) -> None:
        failures = 0
        backoff = Backoff(base=0.5, cap=15.0)
        while not stop.is_set():
            await self._work.wait()
            self._work.clear()
            try:
                await self._do_work()
                failures = 0
            except (UpstreamError, OSError) as error:
                failures += 1
                message = f"{type(error).__name__}: {error}"
                if isinstance(error, ConfigurationError):
                    self.config_error = str(error)
                if message != self.last_error:
                    log.warning("subscription work failed (%s); retrying", message)
                self.last_error = message
                await asyncio.sleep(backoff.delay(failures))
                self._work.set()

    def _can_subscribe(self) -> bool:
        return self.session_up and self.service != "UNAVAILABLE" and self._statistics is not None

    async def _do_work(self) -> None:
        if not self._can_subscribe():
            return
        if self._need_resubscribe:
            reason = self._need_resubscribe
            await self.resubscribe_all(reason)
            if self._need_resubscribe == reason:
                self._need_resubscribe = None
            self._need_reconcile = self._need_peek = False
        if self._need_reconcile:
            self._need_reconcile = False
            await self.reconcile()
        if self._need_peek:
            self._need_peek = False
            await self.peek_all()

    async def resubscribe_all(self, reason: str) -> None:
        """Drop every subscription we know of and create every wanted one anew, with values."""
        started = time.monotonic()
        stale_ids = list(self.held) + [i for i in self._inherited_ids if i not in self.held]
        self.held = {}
        self._inherited_ids = []
        if stale_ids:
            await self._delete_subscriptions(stale_ids)
        self.failed = {}
        keys = sorted(self.fanout.routes.wanted)
        await self._subscribe(keys)
        elapsed = time.monotonic() - started
        self.last_resubscribe = {"reason": reason, "statistics": len(keys), "seconds": round(elapsed, 3), "at": events.now_ms()}
        metrics.resubscribes.labels(reason=reason).inc()
        metrics.resubscribe_seconds.observe(elapsed)
        log.info(
            "resubscribed (%s): %d statistics in %d subscriptions, %d refused, %.2f s",
            reason, len(keys), len(self.held), len(self.failed), elapsed,
        )

    async def reconcile(self) -> None:
        """Apply only the difference between the wanted set and what is held."""
        wanted = set(self.fanout.routes.wanted)
        self.failed = {k: v for k, v in self.failed.items() if k in wanted}
        plan = plan_changes(wanted - set(self.failed), self.held)
        if plan.empty:
            return
        if plan.create:
            await self._subscribe(list(plan.create))
        for old_id, keep in plan.replace.items():
            await self._subscribe(list(keep))
            await self._delete_subscriptions([old_id])
            self.held.pop(old_id, None)
        if plan.delete:
            await self._delete_subscriptions(list(plan.delete))
            for subscription_id in plan.delete:
                self.held.pop(subscription_id, None)
        await self._run_sync(values.write_subscription_ids, list(self.held))
        self._update_gauges()
        log.info(
            "applied admin changes: %d subscribed, %d subscriptions replaced, %d released",
            len(plan.create), len(plan.replace), len(plan.delete),
        )

    async def _subscribe(self, keys: list[str]) -> None:
        """Create subscriptions for ``keys`` in batches; offer the values they return."""
        received = events.now_ms()
        for chunk in chunked(keys, self._batch_size):
            subscription_id = f"ccdash-{uuid.uuid4().hex}"
            descriptors = [self.fanout.routes.wanted[k].descriptor for k in chunk]
            try:
                result = await self._statistics.create_subscription(descriptors, operation_id=subscription_id)
            except StatisticsApiError as error:
                if error.http_status not in (400, 404, 422):
                    raise
                # Every statistic of the batch was refused: retrying will not help.
                for key in chunk:
                    self.failed[key] = error.message
                log.warning("upstream refused a whole batch of %d statistics: %s", len(chunk), error.message)
                continue
            subscription_id = result.data.get("subscriptionId") or subscription_id
            returned = [s for s in result.data.get("statistics", []) if isinstance(s, dict)]
            got = {s.get("statisticId") for s in returned} & set(chunk)
            if not returned and not result.partial:
                got = set(chunk)  # A terse reply: everything was accepted; peek for values.
            refused = sorted(set(chunk) - got)
            for key in refused:
                self.failed[key] = _refusal(result.errors, key)
            if refused:
                log.warning("upstream refused %d statistics, e.g. %s: %s", len(refused), refused[0], self.failed[refused[0]])
            if got:
                self.held[subscription_id] = got
                if self.service == "UNKNOWN":
                    # The service accepted subscriptions, so it is available (it only
                    # announces changes, never its state at connect time).
                    self.service = "AVAILABLE"
                    self.fanout.set_connection(service="AVAILABLE")
            await self._run_sync(values.write_subscription_ids, list(self.held))
            with_values = {s["statisticId"] for s in returned if "value" in s}
            for item in returned:
                if "value" in item:
                    self._offer_fetched(item, received)
            if got - with_values:
                await self._peek(subscription_id, sorted(got - with_values))
        self._update_gauges()

    async def peek_all(self) -> None:
        """Fetch the current value of every held statistic."""
        for subscription_id in list(self.held):
            await self._peek(subscription_id, None)
        log.info("peeked %d subscriptions", len(self.held))

    async def _peek(self, subscription_id: str, keys: list[str] | None) -> None:
        received = events.now_ms()
        try:
            result = await self._statistics.get_subscription_values(subscription_id, keys)
        except StatisticsApiError as error:
            if error.http_status == 404:
                log.warning("subscription %s is gone upstream; resubscribing", subscription_id)
                self._request_resubscribe("subscription lost")
                return
            raise
        for item in result.data.get("statistics", []):
            if isinstance(item, dict) and isinstance(item.get("statisticId"), str) and "value" in item:
                self._offer_fetched(item, received)

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
        beat = float(bridge_setting("HEARTBEAT_SECONDS"))
        while not stop.is_set():
            try:
                if await self.fanout.beat(self.status_extra()):
                    # The ids tell a successor which subscriptions to delete before
                    # creating its own (see ``run``): without them it would leave duplicates.
                    await self._run_sync(values.write_subscription_ids, list(self.held))
            except Exception:  # The cache may blip; the next beat retries.
                log.exception("could not write the heartbeat")
            await asyncio.sleep(beat)

    async def _config_loop(self, stop: asyncio.Event) -> None:
        poll = float(bridge_setting("CONFIG_POLL_SECONDS"))
        refresh = float(bridge_setting("CONFIG_REFRESH_SECONDS"))
        last_full = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(poll)
            try:
                version = await self._run_sync(values.config_version)
                if version != self._config_version or time.monotonic() - last_full >= refresh:
                    last_full = time.monotonic()
                    if await self._load_routes(version):
                        self.request_reconcile()
            except Exception:
                log.exception("could not reload the wanted statistics")

    async def _load_routes(self, version: int | None = None) -> bool:
        """Re-read the wanted set; return True when it differs from the current one."""
        if version is None:
            version = await self._run_sync(values.config_version)
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
        every = float(bridge_setting("HISTORY_PRUNE_SECONDS"))
        retention = float(bridge_setting("HISTORY_RETENTION_HOURS"))
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


def _refusal(errors, key: str) -> str:
    """The upstream error message naming ``key``, or a general one."""
    for error in errors:
        if key in str(error.detail) or key in error.message:
            return error.message
    if len(errors) == 1:
        return errors[0].message
    return "refused by the Statistics service"
