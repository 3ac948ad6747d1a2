"""Noticing, in each web process, that the active bridge stopped beating (or came back).

A dead bridge publishes nothing, so web processes find out by reading its heartbeat.
One watcher task per event loop reads the shared status every heartbeat period and
calls every registered listener when the bridge goes up or down; consumers then send
their clients a fresh snapshot (stale values, ``bridge: down``). The task ends when
its last listener leaves.
"""

import asyncio
import logging

from asgiref.sync import sync_to_async

from statsbridge import values
from statsbridge.conf import bridge_setting

log = logging.getLogger(__name__)

_watchers: dict = {}


class BridgeWatcher:
    """Polls the bridge status for one event loop and tells listeners of changes."""

    def __init__(self):
        self.listeners: set = set()
        self.bridge_up: bool | None = None
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
        period = float(bridge_setting("HEARTBEAT_SECONDS"))
        while self.listeners:
            try:
                connection = values.connection_from_status(await sync_to_async(values.read_status, thread_sensitive=False)())
                up = connection["bridge"] == "up"
                if self.bridge_up is not None and up != self.bridge_up:
                    log.info("bridge is %s", "up" if up else "down")
                    for listener in list(self.listeners):
                        asyncio.get_running_loop().create_task(listener(connection))
                self.bridge_up = up
            except Exception:  # The cache may blip; keep watching.
                log.exception("could not read the bridge status")
            await asyncio.sleep(period)


def watcher() -> BridgeWatcher:
    """The watcher of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(loop)
    if found is None:
        for old in [l for l in _watchers if l.is_closed()]:
            del _watchers[old]
        found = _watchers[loop] = BridgeWatcher()
    return found
