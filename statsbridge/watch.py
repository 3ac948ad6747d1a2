"""Noticing, in each web process, that the active bridge stopped beating (or came back).

A dead bridge publishes nothing, so web processes find out by reading its heartbeat.
One watcher task per event loop reads the shared status every heartbeat period and
calls every registered listener when the bridge goes up or down; consumers then send
their clients a fresh snapshot (stale values, ``bridge: down``). The task ends when
its last listener leaves.

The decision has hysteresis (``bridge_seems_up``): a bridge is called down as soon
as its heartbeat is older than ``dead_after_seconds()`` (the detection budget), but
called up again only once a beat younger than half that arrives, so a heartbeat
hovering around the limit does not flap every screen between down and up (each flap
costs every client a full snapshot). A heartbeat's age is discounted by how late the
watcher itself woke: a starved event loop makes beats look old without the bridge dying.
"""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async

from statsbridge import frames, store
from statsbridge.conf import bridge_settings, dead_after_seconds

log = logging.getLogger(__name__)

_watchers: dict = {}


def bridge_seems_up(was_up: bool | None, heartbeat_age: float | None, dead_after: float) -> bool:
    """Pure: whether to call the bridge up, given its heartbeat's age in seconds (None: no status).

    Down once the beat is older than ``dead_after``; back up only when it is at most
    half that old.
    """
    if heartbeat_age is None or heartbeat_age > dead_after:
        return False
    if was_up is False:
        return heartbeat_age <= dead_after / 2
    return True


class BridgeWatcher:
    """Polls the bridge status for one event loop and tells listeners of changes."""

    def __init__(self):
        self.listeners: set = set()
        self.bridge_up: bool | None = None
        self.epoch: str | None = None  # of the shared store (store.store_epoch)
        self._task: asyncio.Task | None = None

    def add(self, listener) -> None:
        """Register ``listener`` (an async callable taking the new Connection)."""
        self.listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="bridge watcher")

    def discard(self, listener) -> None:
        """Unregister a listener."""
        self.listeners.discard(listener)

    async def _run(self) -> None:
        period = bridge_settings().heartbeat_seconds
        unreadable = False
        due = None
        while self.listeners:
            # How late this loop woke: in an overloaded process the bridge's heartbeat
            # (written by a task of the same kind of loop) is late by as much, and
            # reading that as a dead bridge would snapshot every socket once per flap.
            lateness = max(0.0, time.monotonic() - due) if due is not None else 0.0
            try:
                try:
                    status, epoch = await sync_to_async(_read, thread_sensitive=False)()
                    unreadable = False
                except Exception as error:
                    # An unreachable shared store (Redis restarting) means this process
                    # gets no updates either: its values cannot be vouched for, so the
                    # bridge counts as down until the store answers again.
                    if not unreadable:
                        log.warning("could not read the bridge status (%s); calling the bridge down", type(error).__name__)
                    unreadable, status, epoch = True, None, self.epoch
                now = frames.now_ms()
                age = max(0.0, (now - status.get("heartbeat", 0)) / 1000 - lateness) if status else None
                up = bridge_seems_up(self.bridge_up, age, dead_after_seconds())
                connection = store.connection_from_status(status, now)
                reset = self.epoch is not None and epoch != self.epoch
                if reset:
                    # Redis restarted empty: its groups are gone too, so every socket
                    # joins again and is sent what the store holds now.
                    log.warning("the shared store lost its data (restarted?); refreshing every socket")
                if reset or (self.bridge_up is not None and up != self.bridge_up):
                    log.info("bridge is %s", "up" if up else "down")
                    for listener in list(self.listeners):
                        asyncio.get_running_loop().create_task(listener(connection))
                self.bridge_up, self.epoch = up, epoch
            except Exception:  # A listener bug must not end the watching.
                log.exception("bridge watcher failed")
            due = time.monotonic() + period
            await asyncio.sleep(period)


def _read() -> tuple:
    """The bridge's status and the shared store's epoch, in one trip to a thread."""
    return store.read_status(), store.store_epoch()


def watcher() -> BridgeWatcher:
    """The watcher of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(loop)
    if found is None:
        for old in [other for other in _watchers if other.is_closed()]:
            del _watchers[old]
        found = _watchers[loop] = BridgeWatcher()
    return found
