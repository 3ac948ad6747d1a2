"""WebSocket consumers: one per desk dashboard page, one per wall display.

Both send a snapshot of each dashboard they show first, then forward the bridge's
per-dashboard frames in sequence, answer ``resync`` and ``ping``, and reject bad
client frames with an ``error`` frame while keeping the socket open. Parsing, rate
limiting and sequence filtering are pure helpers in ``statsbridge.client_frames``.
"""

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import OrderedDict
from importlib import import_module
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user
from django.http.cookie import parse_cookie
from django.utils import timezone

from dashboard import access, security
from dashboard.models import Dashboard, Display
from dashboard.snapshots import SharedSnapshots
from dashboard.wanted import dashboard_keys
from statsbridge import frames, metrics, store
from statsbridge.aio import serial_dispatch
from statsbridge.client_frames import SeqFilter, TokenBucket, parse_client_frame
from statsbridge.conf import bridge_settings
from statsbridge.fanout import FRAME_MESSAGE, dashboard_group, display_group
from statsbridge.watch import watcher

log = logging.getLogger(__name__)

SIGNED_OUT = 4401  # the socket's session ended (logout, deactivation, password change)
FORBIDDEN = 4403
GONE = 4404
TOO_MANY = 4429  # this address guessed too many wall tokens: the wall retries later
SERVER_ERROR = 1011
TELEMETRY_MIN_SECONDS = 5.0
# How long after a socket ended frames sent to it may still arrive through Redis (the
# process's queue is read continuously; under load it lags by a second or so).
LATE_FRAMES_SECONDS = 10.0

_last_snapshot_failure_log = [0.0]


def log_snapshot_failure(error: Exception) -> None:
    """Log a failed snapshot once per outage (10 s), not once per socket: they fail together."""
    if time.monotonic() - _last_snapshot_failure_log[0] > 10:
        _last_snapshot_failure_log[0] = time.monotonic()
        log.warning("could not send fresh snapshots (%s); closing the sockets so pages show STALE",
                    type(error).__name__)


def viewable_dashboard(slug: str, user) -> Dashboard | None:
    """The dashboard ``slug`` if ``user`` may view it."""
    dashboard = Dashboard.objects.filter(slug=slug).first()
    if dashboard is None or user is None or not dashboard.can_view(user):
        return None
    return dashboard


def socket_user(scope: dict):
    """Who opened a socket: the scope's user if an outer layer set one (tests do), else the
    user of its session cookie, checked as Django checks a request's (AnonymousUser if none)."""
    # Read once here rather than by channels' session and auth middleware, whose layers
    # would each keep the scope, a lazy session and a user for the socket's whole life.
    if "user" in scope:
        return scope["user"]
    cookies = {}
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookies.update(parse_cookie(value.decode("latin1")))
    session = import_module(settings.SESSION_ENGINE).SessionStore(cookies.get(settings.SESSION_COOKIE_NAME))
    return get_user(SimpleNamespace(session=session))


def session_key_of(scope: dict) -> str | None:
    """The session cookie a socket was opened with (None without one)."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            key = parse_cookie(value.decode("latin1")).get(settings.SESSION_COOKIE_NAME)
            if key:
                return key
    return None


def desk_user(scope: dict):
    """Who a desk socket serves now: its session read again, or the scope's user read again."""
    if "user" in scope:
        from django.contrib.auth import get_user_model

        user = scope["user"]
        fresh = get_user_model().objects.filter(pk=user.pk).first() if user.is_authenticated else None
        return fresh if fresh is not None and fresh.is_active else None
    user = socket_user(scope)
    return user if user.is_authenticated else None


def desk_access(slug: str, scope: dict):
    """``(user, dashboard)`` of a desk socket opening: its user, and ``slug`` if they may view it."""
    user = socket_user(scope)
    return user, viewable_dashboard(slug, user)


def wall_access(token: str, address: str | None) -> tuple[Display | None, list[tuple[int, str]], int]:
    """``(display, playlist, close code)`` of a wall socket opening: ``TOO_MANY`` when
    ``address`` guessed too many tokens (no token is checked then), ``FORBIDDEN`` for a wrong
    token (counted against the address)."""
    if security.wall_guessing_blocked(address):
        return None, [], TOO_MANY
    display, dashboards = display_playlist(token)
    if display is None:
        security.note_wall_refusal(address)
        return None, [], FORBIDDEN
    return display, dashboards, 0


def desk_close_code(slug: str, scope: dict) -> int | None:
    """Why an open desk socket must close now (``SIGNED_OUT``, ``FORBIDDEN``), or None."""
    user = desk_user(scope)
    if user is None:
        return SIGNED_OUT
    return None if viewable_dashboard(slug, user) is not None else FORBIDDEN


def display_playlist(token: str) -> tuple[Display | None, list[tuple[int, str]]]:
    """The live display of ``token`` and its dashboards ``[(id, slug)]`` in playlist order."""
    display = Display.for_token(token)
    if display is None:
        return None, []
    items = display.displayitem_set.select_related("dashboard").order_by("position", "pk")
    return display, [(item.dashboard_id, item.dashboard.slug) for item in items]


class DashboardKeysCache:
    """Statistic keys per dashboard, read from the database once per configuration version.

    Every admin edit of widgets, statistics or dashboards bumps the shared version
    (``dashboard.signals``), which empties this cache; without edits a snapshot
    needs no database query. The version is read before the database, so keys read
    across an edit are filed under the older version and dropped on the next call.
    """

    def __init__(self, read_keys=dashboard_keys, read_version=store.config_version):
        self._read_keys = read_keys
        self._read_version = read_version
        self._version: int | None = None
        self._keys: dict[int, list[str]] = {}

    def __call__(self, dashboard_id: int) -> list[str]:
        """The keys shown on ``dashboard_id`` (a shared list: do not modify it)."""
        version = self._read_version()
        if version != self._version:
            self._keys = {}
            self._version = version
        keys = self._keys.get(dashboard_id)
        if keys is None:
            keys = self._keys[dashboard_id] = self._read_keys(dashboard_id)
        return keys


cached_dashboard_keys = DashboardKeysCache()


# The in-memory layer hands every viewer of a dashboard the same frame object
# (statsbridge.fanout.SharedFrame): encode it once, not once per socket.
class EncodedFrames:
    """The JSON text of recently sent frames, by frame object.

    Entries hold their frame, so an id is never reused while cached; frames from
    channels_redis are new objects and miss.
    """

    def __init__(self, size: int = 256):
        self._size = size
        self._texts: OrderedDict = OrderedDict()

    def __call__(self, frame: dict) -> str:
        """``frame`` as JSON text (what ``send_json`` would send)."""
        entry = self._texts.get(id(frame))
        if entry is not None and entry[0] is frame:
            return entry[1]
        text = json.dumps(frame)
        self._texts[id(frame)] = (frame, text)
        if len(self._texts) > self._size:
            self._texts.popitem(last=False)
        return text


encoded_frame = EncodedFrames()


def build_snapshot(dashboard_id: int, slug: str) -> dict:
    """A snapshot frame of one dashboard (keys cached per configuration version + shared store)."""
    return store.dashboard_snapshot(dashboard_id, slug, cached_dashboard_keys(dashboard_id))


def read_snapshot(dashboard_id: int, slug: str) -> tuple[dict, str, str | None]:
    """What a socket sends when it starts showing a dashboard: its snapshot frame, that
    frame as JSON text, and its open alerts as JSON text (None: no alerts stored).

    Encoded here, on the worker thread: a 1,000-statistic snapshot is ~170 KB of JSON.
    """
    frame = build_snapshot(dashboard_id, slug)
    alerts = store.read_alerts(dashboard_id)
    return frame, json.dumps(frame), None if alerts is None else json.dumps(alerts)


shared_snapshot = SharedSnapshots(read_snapshot)


def store_telemetry(display_id: int, frame: dict) -> None:
    """Record what a wall reported about itself on its Display."""
    Display.objects.filter(pk=display_id).update(
        last_seen=timezone.now(),
        page_version=frame["version"],
        memory_mb=frame["memory"],
        latency_ms=frame["latency"],
    )


def touch_display(display_id: int) -> None:
    """Record that a wall is online."""
    Display.objects.filter(pk=display_id).update(last_seen=timezone.now())


def hand_back(layer, message) -> None:
    """A socket is done with a channel-layer message (sent it, dropped it as old, or ended
    with it unread): hand back what lets its dashboard's round end, if it carries anything.

    A batch from a bridge in this process carries a receipt (``statsbridge.clocking``), one
    from ``runbridge`` a round tag that the layer acknowledges (``statsbridge.acks``).
    """
    if not isinstance(message, dict):
        return
    receipt = message.get("receipt")
    if receipt is not None:
        receipt.hand_back()
    elif (tag := message.get("round")) is not None and (acknowledge := getattr(layer, "hand_back", None)):
        acknowledge(tag)


def hand_back_unread(layer, channel: str) -> None:
    """Hand back the messages still queued for a socket that ended, and drop its queue.

    Nobody reads it any more: without this, its dashboards' next batches would wait for the
    round timeout (``statsbridge.clocking``, ``statsbridge.acks``). The in-memory layer
    queues ``(expiry, message)``; channels_redis buffers the messages themselves.
    """
    if isinstance(layer, InMemoryChannelLayer):
        queue, in_memory = layer.channels.pop(channel, None), True
    else:
        buffers = getattr(layer, "receive_buffer", None)
        queue, in_memory = (None if buffers is None else buffers.pop(channel, None)), False
    while queue is not None and not queue.empty():
        item = queue.get_nowait()
        hand_back(layer, item[1] if in_memory else item)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """What desk and wall sockets share: groups, snapshots, frames, client messages."""

    kind = "desk"
    bucket: TokenBucket | None = None  # made at the first client frame: most sockets never send one
    left = False  # set once the socket has ended: it follows nothing any more
    taken: dict | None = None  # the channel message received but not yet dispatched

    @property
    def channel_receive(self):
        """The channel layer's receive for this socket (channels' ``__call__`` sets it)."""
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive) -> None:
        # Wrapped to remember the message taken but not dispatched yet: channels drops it
        # when the socket ends first (a disconnect dispatched before it), and a batch's
        # receipt in it must still be handed back (see ``forget_buffered_frames``).
        async def receive_remembered():
            self.taken = message = await receive()
            return message

        self._channel_receive = receive_remembered

    async def __call__(self, scope, receive, send):
        """Run the socket; however it ends, stop following the bridge and leave the groups."""
        # channels calls disconnect() only when the client goes, not when a channel-layer
        # receive fails (Redis restarting); a socket that never left would stay a watcher
        # listener and a group member whose frames queue up unread.
        try:
            await self.run(scope, receive, send)
        finally:
            try:
                await self.leave()
            finally:  # also when leaving was cancelled (daphne gives up on a slow close)
                self.forget_buffered_frames()

    async def run(self, scope, receive, send) -> None:
        """channels' ``AsyncConsumer.__call__``, dispatching with ``statsbridge.aio.serial_dispatch``.

        channels' own loop makes a task and an ``asyncio.wait`` per message: on every
        frame of every socket, a cost of its own beside the frame's (see ``serial_dispatch``).
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        receivers = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            receivers.append(self.channel_receive)
        with contextlib.suppress(StopConsumer):  # the socket closed: exit cleanly, as channels does
            await serial_dispatch(receivers, self.dispatch)

    def forget_buffered_frames(self) -> None:
        """Drop the queue channels_redis keeps for this socket's channel, now and again once
        frames sent before it left its groups have had time to arrive."""
        # channels_redis deletes a queue only when a receive empties it (its issue #384): a
        # consumer cancelled mid-receive, or frames arriving after its last receive, would
        # leave the queue for the process's life.
        layer = getattr(self, "channel_layer", None)
        channel = getattr(self, "channel_name", None)
        if layer is None or not channel:
            return
        taken, self.taken = self.taken, None
        hand_back(layer, taken)
        hand_back_unread(layer, channel)
        buffers = getattr(layer, "receive_buffer", None)
        if buffers is None:
            return
        depart = getattr(layer, "depart", None)
        if depart is not None:  # later frames are acknowledged as they arrive (statsbridge.redis_layer)
            depart(channel)
            return
        asyncio.get_running_loop().call_later(LATE_FRAMES_SECONDS, buffers.pop, channel, None)

    async def start(self, dashboards: list[tuple[int, str]]) -> None:
        """Accept, then join each dashboard's group and send its snapshot."""
        self.dashboards: dict[int, str] = {}
        self.seqs = SeqFilter()
        await self.accept()
        metrics.websocket_clients.labels(kind=self.kind).inc()
        self.counted = True
        await self.watch(dashboards)
        watcher().add(self.bridge_changed)

    async def watch(self, dashboards: list[tuple[int, str]]) -> None:
        """Follow exactly ``dashboards``: leave dropped groups, join and snapshot new ones."""
        wanted = dict(dashboards)
        for dashboard_id in [d for d in self.dashboards if d not in wanted]:
            await self.channel_layer.group_discard(dashboard_group(dashboard_id), self.channel_name)
            self.seqs.forget(self.dashboards.pop(dashboard_id))
        for dashboard_id, slug in wanted.items():
            if dashboard_id in self.dashboards:
                continue
            # Join before reading the snapshot: a batch published in between is then
            # either in the snapshot or delivered after it with a higher seq.
            await self.channel_layer.group_add(dashboard_group(dashboard_id), self.channel_name)
            self.dashboards[dashboard_id] = slug
            await self.send_snapshot(dashboard_id)

    async def send_snapshot(self, dashboard_id: int) -> None:
        """Send one dashboard's snapshot and restart its sequence from it."""
        # Shared with the other sockets of this process asking at the same time (one read
        # and one encoding for all: ``dashboard.snapshots``).
        frame, text, alerts = await shared_snapshot(dashboard_id, self.dashboards[dashboard_id])
        self.seqs.snapshot_sent(frame)
        await self.base_send({"type": "websocket.send", "text": text})
        if alerts is not None:
            await self.base_send({"type": "websocket.send", "text": alerts})

    async def send_all_snapshots(self) -> None:
        """Send a snapshot of every dashboard followed."""
        for dashboard_id in list(self.dashboards):
            await self.send_snapshot(dashboard_id)

    def groups_joined(self) -> list[str]:
        """The channel-layer groups this socket belongs to."""
        return [dashboard_group(dashboard_id) for dashboard_id in getattr(self, "dashboards", {})]

    async def leave_groups(self) -> None:
        """Leave every group joined, each attempted even if one fails, and a failed leave once more."""
        # After a Redis restart the first command on each pooled connection fails and the
        # retry gets a fresh one; a channel left in a group would be sent every frame, kept
        # for good. When Redis is really down the retry fails as fast, and the groups go
        # with its data or expire.
        for group in self.groups_joined():
            for _ in range(2):
                try:
                    await self.channel_layer.group_discard(group, self.channel_name)
                    break
                except Exception:  # try again, then go on with the next group
                    continue

    async def leave(self) -> None:
        """Once, when the socket ends (closed, or its consumer failed): uncount it, stop
        following the bridge, leave the groups."""
        if self.left:
            return
        self.left = True
        if getattr(self, "counted", False):
            metrics.websocket_clients.labels(kind=self.kind).dec()
            self.counted = False
            watcher().discard(self.bridge_changed)
        if getattr(self, "channel_layer", None) is not None:
            await self.leave_groups()

    async def bridge_changed(self, connection: dict) -> None:
        """The bridge came or went, or the shared store was reset: fresh snapshots say so.

        Runs as a task of the watcher's. When the snapshots cannot be built (the shared
        store is unreachable, e.g. Redis restarting), the socket is closed: the page then
        marks every tile STALE at once and reconnects, rather than showing values nobody
        can vouch for as fresh.
        """
        if self.left:  # a change noticed just before the socket ended
            return
        try:
            # Join again first (idempotent): after a Redis restart the groups are gone,
            # and a socket that stayed open would otherwise get nothing but pongs.
            for group in self.groups_joined():
                await self.channel_layer.group_add(group, self.channel_name)
            if self.left:
                # It ended while joining, and may have left before a join above landed:
                # leave again, or its channel stays a group member that nobody reads.
                await self.leave_groups()
                return
            await self.send_all_snapshots()
        except Exception as error:
            log_snapshot_failure(error)
            with contextlib.suppress(Exception):  # the socket may be gone already
                await self.close(code=SERVER_ERROR)

    async def disconnect(self, code):
        """The client went: leave everything now (``__call__`` would, a moment later)."""
        await self.leave()

    async def dispatch(self, message: dict) -> None:
        """Handle one message; a bridge frame straight away, anything else as channels does."""
        # channels' dispatch first closes the thread's old database connections, through
        # sync_to_async: a thread-pool round trip per message. For a frame (no database)
        # that hop was the largest part of what a frame cost a socket (py-spy, 2,000
        # updates/s, 200 sockets): the thread pool's worker, submit and the loop's wake-ups.
        if message["type"] == FRAME_MESSAGE:
            await self.dash_frame(message)
        else:
            await super().dispatch(message)

    # -- from the bridge

    async def dash_frame(self, message: dict) -> None:
        """A batch or status frame of a followed dashboard, or its open alerts (no sequence: each replaces the last).

        Its receipt or round tag is handed back whatever happened to the frame (``hand_back``):
        that lets the dashboard's next batch go.
        """
        frame = message["frame"]
        self.taken = None  # dispatched: handed back below, whatever happens
        try:
            if frame["type"] == "alerts" or self.seqs.accept(frame):
                # Straight to the server (what ``send`` does after checking its arguments).
                await self.base_send({"type": "websocket.send", "text": encoded_frame(frame)})
        finally:
            hand_back(self.channel_layer, message)

    async def dash_removed(self, message: dict) -> None:
        """A followed dashboard was deleted: nothing left to show on a desk."""
        await self.close(code=GONE)

    async def access_check(self, message: dict) -> None:
        """Who may view a dashboard changed: desks re-check (walls follow their token only)."""

    # -- from the browser

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Check a client frame, then act on it; answer bad ones with an error frame."""
        if self.bucket is None:
            rate = bridge_settings().client_frames_per_second
            self.bucket = TokenBucket(rate=rate, burst=4 * rate)
        if not self.bucket.allow():
            metrics.client_frames_rejected.labels(code="rate_limited").inc()
            if self.bucket.should_warn():
                await self.send_json(frames.error("rate_limited", "Too many frames; slow down."))
            return
        frame, problem = parse_client_frame(text_data, bytes_data)
        if problem is not None:
            metrics.client_frames_rejected.labels(code=problem["code"]).inc()
            await self.send_json(problem)
            return
        await self.act(frame)

    async def act(self, frame: dict) -> None:
        """Answer one valid client frame."""
        if frame["type"] == "resync":
            await self.send_all_snapshots()
        elif frame["type"] == "ping":
            await self.send_json(frames.pong(frame["t"]))
        else:
            await self.send_json(frames.error("bad_message", "Telemetry is only accepted from wall displays."))


class DashboardConsumer(LiveConsumer):
    """``ws/dashboards/<slug>/``: a logged-in user who may view the dashboard."""

    kind = "desk"

    async def connect(self):
        """Refuse unless the user may view the dashboard."""
        slug = self.scope["url_route"]["kwargs"]["slug"]
        user, dashboard = await database_sync_to_async(desk_access)(slug, self.scope)
        if dashboard is None:
            await self.close(code=FORBIDDEN)
            return
        # Its user's group: logouts and access changes reach the socket (dashboard.access).
        self.user_id = user.pk
        await self.channel_layer.group_add(access.user_group(user.pk), self.channel_name)
        await self.start([(dashboard.pk, dashboard.slug)])

    def groups_joined(self) -> list[str]:
        """The dashboard's group and the user's."""
        user = [access.user_group(self.user_id)] if getattr(self, "user_id", None) is not None else []
        return [*super().groups_joined(), *user]

    async def access_check(self, message: dict) -> None:
        """Access may have changed: close with why if the socket's session or user no longer may view."""
        if message.get("ended_session") and message["ended_session"] == session_key_of(self.scope):
            code = SIGNED_OUT  # logged out (the session is flushed just after the signal)
        else:
            code = await database_sync_to_async(desk_close_code)(self.scope["url_route"]["kwargs"]["slug"], self.scope)
        if code is not None:
            await self.close(code=code)


class WallConsumer(LiveConsumer):
    """``ws/wall/<token>/``: a wall display following its playlist, closed when revoked."""

    kind = "wall"

    async def connect(self):
        """Refuse unknown or revoked tokens; follow every dashboard of the playlist."""
        self.token = self.scope["url_route"]["kwargs"]["token"]
        address = security.client_address(self.scope)
        display, dashboards, refused = await database_sync_to_async(wall_access)(self.token, address)
        if display is None:
            await self.close(code=refused)
            return
        self.display_id = display.pk
        self.telemetry_at = 0.0
        await self.channel_layer.group_add(display_group(display.pk), self.channel_name)
        await self.start(dashboards)
        await database_sync_to_async(touch_display)(display.pk)

    def groups_joined(self) -> list[str]:
        """The dashboards' groups and the display's (reloads, playlist and token changes)."""
        display = [display_group(self.display_id)] if getattr(self, "display_id", None) is not None else []
        return [*super().groups_joined(), *display]

    async def display_changed(self, message: dict) -> None:
        """The display was edited: close if its token no longer opens it, else follow the playlist."""
        display, dashboards = await database_sync_to_async(display_playlist)(self.token)
        if display is None or display.pk != self.display_id:
            await self.close(code=FORBIDDEN)
            return
        await self.watch(dashboards)

    async def dash_removed(self, message: dict) -> None:
        """A playlist dashboard was deleted: follow what is left of the playlist."""
        await self.display_changed(message)

    async def display_reload(self, message: dict) -> None:
        """Someone pressed "reload now" for this display."""
        await self.send_json(frames.reload(message.get("reason", "requested by an administrator")))

    async def act(self, frame: dict) -> None:
        """Walls may also report telemetry (stored at most every few seconds)."""
        if frame["type"] != "telemetry":
            await super().act(frame)
            return
        now = timezone.now().timestamp()
        if now - self.telemetry_at >= TELEMETRY_MIN_SECONDS:
            self.telemetry_at = now
            await database_sync_to_async(store_telemetry)(self.display_id, frame)
