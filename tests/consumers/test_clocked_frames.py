"""The self-clocked fan-out end to end on the in-memory layer: a desk socket hands each batch's
receipt back, so the next batch goes as soon as the socket has the last one, not on a timer."""

import asyncio
import contextlib

import pytest
from channels.layers import get_channel_layer

from statsbridge import housekeeping
from statsbridge.aio import SyncRunner
from statsbridge.decoding import hint_for
from statsbridge.fanout import Fanout
from statsbridge.wanted import Routes, Wanted
from tests.consumers.helpers import desk, fresh, make_async, make_dashboard, staff_user
from tests.live import Browser

pytestmark = pytest.mark.django_db(transaction=True)


def routes_for(dashboard, keys) -> Routes:
    """The routes a bridge would load for one dashboard showing ``keys``."""
    wanted = {k: Wanted(k, {"statisticId": k}, hint_for(k, "CallsWaiting", None)) for k in keys}
    return Routes(wanted=wanted, dashboards_by_key={k: frozenset({dashboard.pk}) for k in keys},
                  slugs={dashboard.pk: dashboard.slug})


async def next_batch(browser: Browser) -> dict:
    """The next batch frame the socket sends (status frames applied and skipped)."""
    while True:
        frame = await browser.next_frame()
        if frame["type"] == "batch":
            return frame


async def shows(browser: Browser, key: str, number: int) -> None:
    """Take the socket's frames until the page shows ``number`` for ``key``.

    From a batch, or from a fresh snapshot: on a starved machine the watcher can see the
    heartbeat go stale and re-snapshot the socket after the batch's store write, and the
    batch is then rightly dropped as already in the snapshot.
    """
    while browser.values.get(key, {}).get("value") != number:
        await browser.next_frame()


async def flush_when_due(fanout: Fanout) -> None:
    """Publish the waiting batch once the frame clock lets it go (its floor passed since the last one)."""
    # Not flush_due at once: a round that ended within the floor of its start (fast machine)
    # leaves the dashboard not yet due, and flush_due then rightly sends nothing.
    await asyncio.sleep(fanout.next_flush_in() or 0.0)
    assert await fanout.flush_due() >= 1, "the waiting batch went"


@contextlib.asynccontextmanager
async def beating(fanout: Fanout):
    """The fan-out's heartbeat written every 0.1 s, as the bridge does: without it a slow run
    outlives the status's freshness, the watcher says the bridge is down, and every socket
    is sent a fresh snapshot that already holds the batch the test waits for."""
    stop = asyncio.Event()

    async def beat() -> None:
        while not stop.is_set():
            await fanout.beat()
            await asyncio.sleep(0.1)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def clocked_fanout():
    """A fan-out on the in-memory layer for one seeded dashboard, live and beating, whose
    rounds end only by the sockets' hand-backs (no timer can let a batch go): yields
    (fan-out, user, the dashboard's keys)."""
    dashboard, keys = await make_async(make_dashboard)
    user = await make_async(staff_user)
    runner = SyncRunner("test-clocked")
    fanout = Fanout(runner, layer=get_channel_layer(), record_history=False, floor_seconds=0.001)
    fanout.clock.round_timeout = 3600.0
    await fanout.set_routes(routes_for(dashboard, keys))
    await fanout.flush(heartbeat=True)  # a live status, as a starting bridge writes it
    try:
        async with beating(fanout):
            yield fanout, user, keys
    finally:
        await runner.close()


async def test_each_batch_leaves_once_every_socket_has_the_previous_one_and_sequences_stay_whole():
    async with clocked_fanout() as (fanout, user, keys):
        await clocked_rounds_to_two_sockets(fanout, user, keys)


async def clocked_rounds_to_two_sockets(fanout, user, keys) -> None:
    """Five single offers, then a burst, through the publish loop to two desk sockets."""
    stop = asyncio.Event()
    publishing = asyncio.create_task(housekeeping.publish_loop(fanout, dict, stop))
    sockets = [await desk("floor", user) for _ in range(2)]
    browsers = [Browser(communicator) for communicator, _, _ in sockets]
    try:
        for browser in browsers:
            assert (await browser.next_frame())["type"] == "snapshot"
        for number in range(1, 6):
            fanout.offer(keys[0], fresh(number))
            for browser in browsers:
                frame = await next_batch(browser)
                assert frame["values"][keys[0]]["value"] == number, "an idle dashboard's value goes at once"
        # A burst while a round is in flight reaches each socket merged, latest value winning.
        for number in range(10, 20):
            fanout.offer(keys[0], fresh(number))
            fanout.offer(keys[1], fresh(number))
        for browser in browsers:
            while browser.values[keys[0]]["value"] != 19 or browser.values[keys[1]]["value"] != 19:
                await next_batch(browser)
            assert browser.gaps == [], "every frame continues the sequence"
            batches = [f for f in browser.frames if f["type"] == "batch"]
            assert len(batches) <= 5 + 10, "bursts are merged, never more than one frame per offer"
        assert not fanout.clock.in_flight or await rounds_end(fanout)
    finally:
        stop.set()
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)
        for communicator, _, _ in sockets:
            await communicator.disconnect()


async def rounds_end(fanout: Fanout) -> bool:
    """Whether every round in flight ends (the sockets handed back their last batch) within 10 s."""
    for _ in range(1000):
        if not fanout.clock.in_flight:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_socket_that_closes_with_a_batch_queued_does_not_hold_back_the_others():
    async with clocked_fanout() as (fanout, user, keys):
        await a_closing_socket_beside_a_staying_one(fanout, user, keys)


async def a_closing_socket_beside_a_staying_one(fanout, user, keys) -> None:
    """One socket closes with a batch queued; the other still gets the next one."""
    staying, _, _ = await desk("floor", user)
    leaving, _, _ = await desk("floor", user)
    browser = Browser(staying)
    assert (await browser.next_frame())["type"] == "snapshot"
    assert (await Browser(leaving).next_frame())["type"] == "snapshot"
    try:
        fanout.offer(keys[0], fresh(1))
        await flush_when_due(fanout)
        await leaving.disconnect()  # its copy of the batch may still be queued, unread
        await shows(browser, keys[0], 1)
        fanout.offer(keys[0], fresh(2))
        assert await rounds_end(fanout), "the closed socket's queued receipt was handed back"
        await flush_when_due(fanout)
        await shows(browser, keys[0], 2)
    finally:
        await staying.disconnect()
