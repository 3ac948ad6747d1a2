"""THE one publishing entry point: values and connection changes → dashboards.

The bridge ``offer``s values and connection changes as they come. Coalescing is
self-clocked (``statsbridge.clocking``): a dashboard gets its next ``batch`` as soon as
its previous one was handed to every socket showing it, and no sooner than
``FRAME_FLOOR_SECONDS`` after it (``flush_due``); what arrives meanwhile is merged, the
latest value per statistic winning. So an isolated update goes out without waiting, and a
busy dashboard gets batches as fast as its sockets take them, never more than one in
flight. A flush stores values and sequence numbers in the shared store
first (so a snapshot taken meanwhile is never older than the batch that follows it),
then sends the frames over the channel layer and hands the values to the history
writer (``history.HistoryWriter``: each statistic at most once per
``HISTORY_INTERVAL_SECONDS``, in one bulk insert, off the publishing path).
The number of messages is bounded by dashboards ÷ floor a second, whatever the upstream rate.
The heartbeat (``beat``) is written on its own runner, so slow history or value
writes never make a live bridge look dead.
"""

import asyncio
import logging
import os
import socket
import time

from channels.layers import InMemoryChannelLayer, get_channel_layer

from statsbridge import frames, history, metrics, store
from statsbridge.acks import ACK_MESSAGE, RoundLedger
from statsbridge.clocking import BLIND_ROUND_SECONDS, FrameClock, Receipt
from statsbridge.conf import bridge_settings
from statsbridge.wanted import Routes

log = logging.getLogger(__name__)

STATUS_GROUP = "bridge.status"
CONTROL_GROUP = "bridge.control"
FRAME_MESSAGE = "dash.frame"


class SharedFrame(dict):
    """A published frame, handed to every recipient as the same object.

    Channels' in-memory layer deep-copies each message for each recipient: for a
    50-value batch to 20 sockets that cost more than encoding it for them. Nobody
    changes a frame once it is published, so copying it is skipped (a message is
    still copied, and channels_redis serialises this as the plain dict it is).
    """

    __slots__ = ()

    def __deepcopy__(self, memo):
        return self


def dashboard_group(dashboard_id: int) -> str:
    """Channel-layer group of one dashboard's viewers."""
    return f"dash.{dashboard_id}"


def display_group(display_id: int) -> str:
    """Channel-layer group of every wall socket of one display."""
    return f"display.{display_id}"


def continued_seqs(stored: dict, now_ms: int) -> dict:
    """Pure: where each dashboard's sequence continues, from the stored numbers.

    A dashboard with no stored number (new, or the store lost it in a Redis restart)
    starts at the current time in ms, not at 0: sockets still open remember the numbers
    an earlier bridge sent and drop every frame numbered below them, which would freeze
    their pages on values shown as fresh. Numbers grow by at most one a frame (one per
    ``FRAME_FLOOR_SECONDS`` at most, a floor ≥ 1 ms), never faster than the clock in ms,
    so a later start is always above anything sent before.
    """
    return {d: seq if seq else now_ms for d, seq in stored.items()}


def frames_for_changes(routes: Routes, seqs: dict, changed: dict, connection: dict | None) -> list[tuple[int, dict]]:
    """Pure: the frames of one publish, as ``(dashboard id, frame)``, advancing ``seqs`` in place.

    A connection change gives every dashboard a ``status`` frame; changed values
    give each dashboard showing one of them a single ``batch``.
    """
    per_dashboard: dict[int, dict] = {}
    for key, item in changed.items():
        for dashboard_id in routes.dashboards_by_key.get(key, ()):
            per_dashboard.setdefault(dashboard_id, {})[key] = item
    return frames_for_dashboards(routes, seqs, per_dashboard, connection)


def frames_for_dashboards(routes: Routes, seqs: dict, per_dashboard: dict, connection: dict | None) -> list[tuple[int, dict]]:
    """Pure: like ``frames_for_changes``, from values already grouped ``{dashboard id: {key: Value}}``."""
    out = []
    if connection is not None:
        for dashboard_id, slug in sorted(routes.slugs.items()):
            seqs[dashboard_id] = seqs.get(dashboard_id, 0) + 1
            out.append((dashboard_id, frames.status(slug, seqs[dashboard_id], connection)))
    for dashboard_id, batch_values in sorted(per_dashboard.items()):
        if not batch_values:
            continue
        slug = routes.slugs.get(dashboard_id)
        if slug is None:
            continue
        seqs[dashboard_id] = seqs.get(dashboard_id, 0) + 1
        out.append((dashboard_id, frames.batch(slug, seqs[dashboard_id], batch_values)))
    return out


class Fanout:
    """Gathers what changed and publishes it, self-clocked: at most one batch per dashboard in flight.

    ``run_status`` runs the status (heartbeat) writes and ``run_history`` the history
    inserts; give each a runner of its own so that neither a heartbeat nor the next
    publish queues behind a slow history insert on ``run_sync``.
    """

    def __init__(
        self,
        run_sync,
        *,
        run_status=None,
        run_history=None,
        layer=None,
        record_history: bool = True,
        clock=frames.now_ms,
        floor_seconds: float | None = None,
        monotonic=time.monotonic,
    ):
        self._run_sync = run_sync
        self._run_status = run_status or run_sync
        self.layer = layer or get_channel_layer()
        self._record_history = record_history
        self._clock = clock
        self._monotonic = monotonic
        self.floor = bridge_settings().frame_floor_seconds if floor_seconds is None else floor_seconds
        self.clock = FrameClock(self.floor)
        # Only the in-memory layer hands the message's objects to the consumers (see clocking).
        self._receipts = isinstance(self.layer, InMemoryChannelLayer)
        # channels_redis with acknowledgements (statsbridge.redis_layer): rounds end when every
        # web process acknowledged its sockets' hand-backs (statsbridge.acks).
        self._acked = callable(getattr(self.layer, "group_send_counted", None))
        if self._acked:
            self.clock.round_timeout = bridge_settings().acked_round_timeout_seconds
        self.rounds = RoundLedger()
        self._reply: str | None = None  # this bridge's channel for acks, made at the first round
        self._ack_reader: asyncio.Task | None = None
        self._round_over = asyncio.Event()  # set when a dashboard's round ended
        self.routes = Routes()
        self.latest: dict[str, dict] = {}
        self._pending: dict[str, dict] = {}  # key → Value not yet in the shared store
        self._observed: set[str] = set()  # keys whose latest value changed since observers last looked
        self._waiting: dict[int, dict] = {}  # dashboard id → {key: Value} not yet sent to it
        self._work = asyncio.Event()
        self._seqs: dict[int, int] = {}
        self._epoch: str | None = None  # of the shared store, as last seen (see store.store_epoch)
        self.connection = frames.connection(upstream="connecting", service="UNKNOWN", bridge="up")
        self._connection_changed = True
        self._history = history.HistoryWriter(run_history or run_sync,
                                              int(bridge_settings().history_interval_seconds * 1000), clock)
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self.started = self._clock()

    def set_floor(self, seconds: float) -> None:
        """Change the frame floor from the next batch on (the CPU budget's, ``statsbridge.cpu_budget``)."""
        if seconds != self.floor:
            self.floor = self.clock.floor = seconds
            metrics.frame_floor.set(seconds)

    # ------------------------------------------------------------ gathering

    def offer(self, key: str, value: dict) -> None:
        """Queue a statistic's new Value for its dashboards' next batch (the last one offered wins)."""
        if key not in self.routes.wanted:
            return
        self._queue(key, value)
        self._observed.add(key)
        metrics.updates_in.inc()

    def offer_many(self, values: dict, updates: int | None = None) -> None:
        """Queue many statistics' new Values at once, as ``offer`` does each (unwanted keys are left out).

        ``updates``: how many upstream updates ``values`` stand for (a statistic updated
        twice in one message counts twice), default one per value; counted once per call.
        """
        wanted = self.routes.wanted
        if not values.keys() <= wanted.keys():  # (a set comparison in C; the bridge filtered already)
            kept = {k: v for k, v in values.items() if k in wanted}
            updates = len(kept) if updates is None else updates - (len(values) - len(kept))
            values = kept
        if not values:
            return
        self.latest.update(values)
        self._pending.update(values)
        self._observed.update(values)
        waiting, by_key = self._waiting, self.routes.dashboards_by_key
        for key, value in values.items():
            for dashboard_id in by_key.get(key, ()):
                items = waiting.get(dashboard_id)
                if items is None:  # (not setdefault: that builds a dict per update)
                    items = waiting[dashboard_id] = {}
                items[key] = value
        self._work.set()
        metrics.updates_in.inc(len(values) if updates is None else updates)

    def _queue(self, key: str, value: dict) -> None:
        self.latest[key] = self._pending[key] = value
        waiting = self._waiting
        for dashboard_id in self.routes.dashboards_by_key.get(key, ()):
            items = waiting.get(dashboard_id)
            if items is None:  # (not setdefault: that builds a dict per update)
                items = waiting[dashboard_id] = {}
            items[key] = value
        self._work.set()

    def take_observed(self) -> frozenset:
        """The statistics whose latest value changed since the last call (for observers)."""
        observed, self._observed = self._observed, set()
        return frozenset(observed)

    def set_connection(self, *, upstream: str | None = None, service: str | None = None,
                       poll_seconds: float | None = None) -> None:
        """Change the connection state; dashboards hear of it on the next publish.

        ``poll_seconds`` goes with ``upstream="polling"`` (how often values are polled)."""
        new_upstream = upstream or self.connection["upstream"]
        new_service = service or self.connection["service"]
        new_poll = poll_seconds if upstream == "polling" else self.connection.get("poll_seconds")
        if (new_upstream, new_service, new_poll) == (
                self.connection["upstream"], self.connection["service"], self.connection.get("poll_seconds")):
            return
        self.connection = frames.connection(upstream=new_upstream, service=new_service, bridge="up",
                                            as_of=self._clock(), poll_seconds=new_poll)
        self._connection_changed = True
        self._work.set()
        metrics.set_upstream_state(new_upstream)
        metrics.service_available.set(1 if new_service == "AVAILABLE" else 0)

    def mark_all(self, state: str) -> int:
        """Queue every known value in ``state`` (e.g. all stale when the service goes away)."""
        return self._queue_wanted(lambda item: None if item["state"] == state else frames.with_state(item, state))

    async def set_routes(self, routes: Routes) -> None:
        """Adopt new routes; dashboards new to this bridge continue their stored sequence."""
        new_ids = [d for d in routes.slugs if d not in self._seqs]
        if new_ids:
            stored = await self._run_sync(store.read_seqs, new_ids)
            self._seqs.update(continued_seqs(stored, self._clock()))
        known = set(routes.wanted)
        missing = [k for k in known if k not in self.latest]
        if missing:
            stored_values = await self._run_sync(store.read_values, missing)
            for key, item in stored_values.items():
                # Whatever an earlier bridge left is not fresh until upstream confirms it.
                self.latest[key] = frames.with_state(item, "stale") if item["state"] == "fresh" else item
                self._observed.add(key)
        self.latest = {k: v for k, v in self.latest.items() if k in known}
        self._pending = {k: v for k, v in self._pending.items() if k in known}
        waiting = {
            d: {k: v for k, v in items.items() if d in routes.dashboards_by_key.get(k, ())}
            for d, items in self._waiting.items()
        }
        self._waiting = {d: items for d, items in waiting.items() if items}
        self.routes = routes
        self._history.retain(known)
        metrics.statistics_wanted.set(len(known))

    # ------------------------------------------------------------ publishing

    def status(self, extra=None) -> dict:
        """The status record web processes read (connection, heartbeat, counts).

        ``extra``: a dict, or a function returning one, called only when a status is
        written (so a publish that writes none does not build it).
        """
        return {
            "connection": self.connection,
            "heartbeat": self._clock(),
            "bridge": self.identity,
            "started": self.started,
            **((extra() if callable(extra) else extra) or {}),
        }

    def next_flush_in(self) -> float | None:
        """Seconds until ``flush_due`` has something to send (0: now; None: nothing waits)."""
        if self._connection_changed or (self._pending and not self._waiting):
            return 0.0
        return self.clock.next_due_in(self._waiting, self._monotonic())

    async def wait_for_work(self) -> None:
        """Return once something was offered or changed since the last call."""
        await self._work.wait()
        self._work.clear()

    async def wait_for_round(self, timeout: float) -> None:
        """Return once a dashboard's round ended since the last call, or after ``timeout`` seconds."""
        # Not woken by offers: a busy upstream would wake this thousands of times a second.
        # The caller caps ``timeout`` at the floor, so a dashboard that starts waiting while
        # others are in flight is noticed within one floor.
        try:
            async with asyncio.timeout(timeout):
                await self._round_over.wait()
        except TimeoutError:
            return
        self._round_over.clear()

    async def flush_due(self, extra_status=None) -> int:
        """Publish to the dashboards whose last round ended and whose floor passed; the rest wait."""
        due = self.clock.due(self._waiting, self._monotonic())
        return await self._publish(due, extra_status, heartbeat=False)

    async def flush(self, extra_status: dict | None = None, *, heartbeat: bool = False) -> int:
        """Publish everything gathered to every dashboard now; return the number of frames sent."""
        return await self._publish(list(self._waiting), extra_status, heartbeat=heartbeat)

    async def beat(self, extra_status: dict | None = None) -> bool:
        """Write the status with a new heartbeat, on the status runner only; after the
        shared store lost its data, publish every value again (store and screens) and
        return True, so the caller can write back what else it keeps there."""
        epoch = await self._run_status(store.store_epoch)
        reset = self._epoch is not None and epoch != self._epoch
        if reset:
            log.warning("the shared store lost its data (restarted?); publishing every value again")
            self.requeue_all()
        self._epoch = epoch
        await self._run_status(self._write_beat, self.status(extra_status))
        return reset

    def _write_beat(self, status: dict) -> None:
        """(Runner thread.) Write a heartbeat status with the connection as it is now: one
        taken earlier could land after a publish's newer one and put the old one back
        (``connection`` is replaced, never changed in place, so reading it here is safe)."""
        store.write(None, None, {**status, "connection": self.connection})

    def requeue_all(self) -> int:
        """Queue every latest wanted value for the next publish; return how many."""
        return self._queue_wanted(lambda item: item)

    def _queue_wanted(self, transform) -> int:
        """Queue ``transform(item)`` of each latest wanted value (skipping None); return how many."""
        count = 0
        for key, item in self.latest.items():
            if key in self.routes.wanted and (queued := transform(item)) is not None:
                self._queue(key, queued)
                self._observed.add(key)
                count += 1
        return count

    async def _publish(self, dashboard_ids: list[int], extra_status: dict | None, *, heartbeat: bool) -> int:
        changed, self._pending = self._pending, {}
        per_dashboard = {d: self._waiting.pop(d) for d in dashboard_ids if d in self._waiting}
        connection = self.connection if self._connection_changed else None
        self._connection_changed = False
        if not changed and not per_dashboard and connection is None and not heartbeat:
            return 0
        seqs_before = dict(self._seqs)
        outgoing = frames_for_dashboards(self.routes, self._seqs, per_dashboard, connection)
        touched = {d: s for d, s in self._seqs.items() if seqs_before.get(d) != s}
        sent_at = self._monotonic()
        status = self.status(extra_status) if (connection is not None or heartbeat) else None
        # One write for values, sequence numbers and status: a snapshot reads them in one
        # go, and one that saw a status frame's seq beside the previous connection would
        # make its socket drop that frame and show the old connection until the next change.
        try:
            if store.in_process():
                store.write(changed, touched, status)
            else:
                await self._run_sync(store.write, changed, touched, status)
            for dashboard_id, frame in outgoing:
                if frame["type"] == "batch":
                    await self._send_clocked(dashboard_id, frame, sent_at)
                else:
                    await self.layer.group_send(dashboard_group(dashboard_id),
                                                {"type": FRAME_MESSAGE, "frame": SharedFrame(frame)})
                metrics.messages_out.labels(type=frame["type"]).inc()
            if connection is not None:
                await self.layer.group_send(STATUS_GROUP, {"type": "bridge.status", "status": status})
        except BaseException:
            self._put_back(changed, per_dashboard, connection is not None)
            raise
        published = self._clock()
        self._observe(changed, published)
        if self._record_history:
            self._history.add(changed, published)
        return len(outgoing)

    async def _send_clocked(self, dashboard_id: int, frame: dict, sent_at: float) -> None:
        """Send a batch as one round of ``dashboard_id``: in flight until every socket has it."""
        message = {"type": FRAME_MESSAGE, "frame": SharedFrame(frame)}
        if self._acked:
            await self._send_acked(dashboard_id, message, sent_at)
            return
        if not self._receipts:
            token = object()
            self.clock.sent(dashboard_id, sent_at, token)
            await self.layer.group_send(dashboard_group(dashboard_id), message)
            # In every recipient's queue; their reading cannot be seen from here (see clocking).
            asyncio.get_running_loop().call_later(BLIND_ROUND_SECONDS, self._end_round, dashboard_id, token)
            return
        receipt = message["receipt"] = Receipt(lambda: self._end_round(dashboard_id, receipt))
        self.clock.sent(dashboard_id, sent_at, receipt)
        await self.layer.group_send(dashboard_group(dashboard_id), message)
        receipt.seal()

    async def _send_acked(self, dashboard_id: int, message: dict, sent_at: float) -> None:
        """Send a batch as an acknowledged round (``statsbridge.acks``): it carries
        ``[reply channel, round id]`` and ends once every socket it was queued for was acked."""
        reply = await self._ack_channel()
        timed_out = self.rounds.prune(sent_at, self.clock.round_timeout)  # the clock gave up on those already
        if timed_out:
            metrics.rounds_timed_out.inc(timed_out)
        round_ = self.rounds.open(dashboard_id, sent_at)
        message["round"] = [reply, round_.id]
        self.clock.sent(dashboard_id, sent_at, round_)
        try:
            expected = await self.layer.group_send_counted(dashboard_group(dashboard_id), message)
        except BaseException:
            self.rounds.rounds.pop(round_.id, None)
            raise
        if self.rounds.seal(round_, expected):
            metrics.rounds_acked.inc()
            self._end_round(dashboard_id, round_)

    async def _ack_channel(self) -> str:
        """This bridge's reply channel, with its reader running (started at the first round)."""
        if self._reply is None:
            # The default prefix: channels_redis reads one Redis key per prefix, under one
            # lock, so a reply channel of its own would stall the process's other receives.
            self._reply = await self.layer.new_channel()
        if self._ack_reader is None or self._ack_reader.done():
            self._ack_reader = asyncio.get_running_loop().create_task(self._read_acks(self._reply))
        return self._reply

    async def _read_acks(self, reply: str) -> None:
        """End the rounds whose every socket was acknowledged, as the acks come."""
        while True:
            try:
                message = await self.layer.receive(reply)
            except Exception:  # Redis blipped: rounds meanwhile time out; read on after a moment.
                log.warning("could not read round acknowledgements", exc_info=True)
                await asyncio.sleep(BLIND_ROUND_SECONDS)
                continue
            if message.get("type") == ACK_MESSAGE:
                ended = self.rounds.ack(message.get("round"), message.get("count"), message.get("from"))
                if ended is not None:
                    metrics.rounds_acked.inc()
                    self._end_round(ended.dashboard_id, ended)

    async def close(self) -> None:
        """Stop reading acknowledgements (the bridge stops)."""
        reader, self._ack_reader = self._ack_reader, None
        if reader is not None:
            reader.cancel()
            # channels_redis can take its time to give up a blocking receive (its BZPOPMIN
            # ends within 5 s): a stopping bridge does not wait for it.
            await asyncio.wait([reader], timeout=1.0)

    def _end_round(self, dashboard_id: int, token: object) -> None:
        """``dashboard_id``'s round of ``token`` ended: it may be due again (wake the loop)."""
        self.clock.delivered(dashboard_id, token)
        self._round_over.set()

    def _put_back(self, changed: dict, per_dashboard: dict, connection_changed: bool) -> None:
        """Queue again what a failed publish took (the store or layer blipped), under anything
        newer queued meanwhile, so the next publish sends it: a value dropped here would stay
        on screen, wrong but fresh, until its statistic next changes. (Frames that did go
        out are sent again with new sequence numbers: the same values, harmless.)"""
        self._pending = {**changed, **self._pending}
        for dashboard_id, items in per_dashboard.items():
            self._waiting[dashboard_id] = {**items, **self._waiting.get(dashboard_id, {})}
            self.clock.forget(dashboard_id)  # due again at once
        self._connection_changed = self._connection_changed or connection_changed
        self._work.set()

    def _observe(self, changed: dict, published: int) -> None:
        """Count a publish's values in the metrics, once per publish (not per value)."""
        metrics.updates_out.inc(len(changed))
        fresh = [item for item in changed.values() if item["state"] == "fresh"]
        metrics.observe_many(metrics.update_age, [max(0.0, (published - stamp) / 1000)
                                                  for item in fresh if (stamp := item["timestamp"])])
        metrics.observe_many(metrics.fanout_lag, [max(0.0, (published - received) / 1000)
                                                  for item in fresh if (received := item["received"])])

    async def publish_alerts(self, dashboard_id: int, items: list[dict]) -> bool:
        """Store and send a dashboard's open alerts (``frames.alert`` items, the whole list);
        return False when the dashboard is not routed. Sockets send the stored list after
        each snapshot, so a page opened later shows them too."""
        slug = self.routes.slugs.get(dashboard_id)
        if slug is None:
            return False
        frame = frames.alerts(slug, items)
        await self._run_sync(store.write_alerts, dashboard_id, frame)
        await self.layer.group_send(dashboard_group(dashboard_id), {"type": FRAME_MESSAGE, "frame": SharedFrame(frame)})
        metrics.messages_out.labels(type="alerts").inc()
        return True

    async def publish_down(self) -> None:
        """Tell everyone this bridge is stopping: values stale, bridge down."""
        self.mark_all("stale")
        self.connection = frames.connection(
            upstream="down", service=self.connection["service"], bridge="down", as_of=self._clock()
        )
        self._connection_changed = True
        await self.flush()
        await self._history.drain()  # every sample gathered, the throttled ones too
