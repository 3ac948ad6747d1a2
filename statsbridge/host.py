"""Hosting the bridge: lease, lifecycle and shutdown, for runbridge and embedded use.

``BridgeHost.run(stop)`` waits for the lease, runs a ``Bridge`` while it holds it,
and stops the bridge when the lease is lost or ``stop`` is set. On a clean stop the
bridge deletes its upstream subscriptions and disconnects; after a lost lease it only
disconnects (the new holder owns the shared records by then).
"""

import asyncio
import logging
import os
import socket

from django.conf import settings

from statsbridge.aio import SyncRunner
from statsbridge.bridge import Bridge
from statsbridge.conf import bridge_settings
from statsbridge.fanout import Fanout
from statsbridge.lease import LocalLease, RedisLease

log = logging.getLogger(__name__)


def make_lease():
    """A Redis lease when ``REDIS_URL`` is set, else the always-held local one."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return LocalLease()
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    key = f"{prefix}:{bridge_settings().key_prefix}:lease"
    identity = f"{socket.gethostname()}:{os.getpid()}:{id(object())}"
    return RedisLease(url, key, identity, bridge_settings().lease_seconds)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; return whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
        return True
    except TimeoutError:
        return False


class BridgeHost:
    """Runs one bridge at a time in this process, while holding the lease."""

    def __init__(self, genesys: dict | None = None, lease=None):
        self._genesys = genesys or settings.GENESYS
        self.lease = lease or make_lease()
        self.bridge: Bridge | None = None
        self.active = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the lease and run the bridge until ``stop`` is set."""
        runner = SyncRunner("bridge-db")
        # Heartbeats get their own thread: behind history writes they would come late
        # and web processes would call a busy bridge dead.
        beat_runner = SyncRunner("bridge-beat")
        # History inserts are the slowest blocking work: on their own thread they
        # never hold up the store writes of the next publish.
        history_runner = SyncRunner("bridge-history")
        poll = max(0.1, self.lease.seconds / 3)
        try:
            while not stop.is_set():
                if await self.lease.acquire():
                    if not await self._run_active(stop, (runner, beat_runner, history_runner), poll):
                        await _wait(stop, 1.0)  # It crashed: no tight restart loop.
                else:
                    await _wait(stop, poll)
        finally:
            await self.lease.close()
            for each in (runner, beat_runner, history_runner):
                await each.close()

    async def _run_active(self, stop: asyncio.Event, runners: tuple, poll: float) -> bool:
        """Run a bridge while the lease holds; return False when the bridge crashed.

        ``runners``: the value, heartbeat and history ``SyncRunner``s.
        """
        runner, beat_runner, history_runner = runners
        log.info("this process is now the active bridge")
        bridge_stop = asyncio.Event()
        self.bridge = Bridge(self._genesys, runner, Fanout(runner, run_status=beat_runner, run_history=history_runner))
        task = asyncio.create_task(self.bridge.run(bridge_stop), name="bridge")
        self.active.set()
        lost = False
        try:
            while not stop.is_set() and not task.done():
                if await _wait(stop, poll):
                    break
                if not await self.lease.renew():
                    lost = True
                    log.warning("bridge lease lost; standing down")
                    break
        finally:
            bridge_stop.set()
            await asyncio.gather(task, return_exceptions=True)
            crashed = not task.cancelled() and task.exception() is not None
            if crashed:
                log.error("bridge stopped with an error; restarting it", exc_info=task.exception())
            try:
                await asyncio.wait_for(self.bridge.shutdown(release=not lost), 15)
            except Exception:
                log.exception("bridge shutdown did not complete")
            if not lost:
                await self.lease.release()
            self.active.clear()
            self.bridge = None
        return not crashed
