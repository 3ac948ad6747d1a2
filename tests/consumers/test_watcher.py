"""The web process's bridge watcher, in a real event loop with the real store."""

import asyncio
import time

import pytest
from django.core.cache import cache

from statsbridge import frames, store
from statsbridge.watch import BridgeWatcher
from tests.consumers.helpers import beat, live_status, make_async
from tests.live import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def watched():
    """A watcher of a live bridge status, and the bridge states it told its listener (in order)."""
    await make_async(store.write, status=live_status())
    changes = []

    async def listener(connection):
        changes.append(connection["bridge"])

    watcher = BridgeWatcher()
    watcher.add(listener)
    yield watcher, changes
    watcher.discard(listener)


async def test_a_starved_event_loop_is_not_read_as_a_dead_bridge(watched):
    """A loop blocked for longer than the detection budget makes the last beat look old;
    the watcher discounts its own lateness, so no flap re-sends every socket a snapshot."""
    watcher, changes = watched
    await eventually(lambda: watcher.bridge_up is True, 5, "the watcher sees the bridge up")
    # An embedded bridge beats from the same event loop; the whole process stalls
    # for well over the 0.8 s budget of these settings.
    stop = asyncio.Event()
    beating = asyncio.create_task(beat(stop, 0.2))
    await asyncio.sleep(0.3)
    time.sleep(1.6)  # noqa: ASYNC251 (blocking on purpose: the point is to stall the event loop, not to wait)
    await asyncio.sleep(0.6)  # a few watcher periods after the stall
    stop.set()
    await beating
    assert changes == [] and watcher.bridge_up is True

    # A bridge that really stops beating is still called down.
    stale = {**live_status(), "heartbeat": frames.now_ms() - 5_000}
    await make_async(store.write, status=stale)
    await eventually(lambda: watcher.bridge_up is False, 5, "the watcher calls the silent bridge down")
    assert changes == ["down"]


def restart_store():
    cache.clear()
    store.write(status=live_status())


async def test_a_store_that_lost_its_data_refreshes_every_socket_though_the_bridge_stayed_up(watched):
    """A Redis restart empties the store and the channel layer's groups; sockets that stayed
    open must join again and get snapshots, or they would show frozen values as fresh."""
    watcher, changes = watched
    stop = asyncio.Event()
    beating = asyncio.create_task(beat(stop, 0.2))
    try:
        await eventually(lambda: watcher.bridge_up is True and watcher.epoch is not None, 5, "the watcher sees the bridge up")
        await asyncio.sleep(0.6)
        assert changes == []
        # What a Redis restart does to the store, with the bridge's next beat landing
        # before the watcher looks: the bridge never looks down, yet the sockets must know.
        await make_async(restart_store)
        await eventually(lambda: changes, 5, "the watcher tells the sockets")
        await asyncio.sleep(0.6)
        assert changes == ["up"] and watcher.bridge_up is True
    finally:
        stop.set()
        await beating
