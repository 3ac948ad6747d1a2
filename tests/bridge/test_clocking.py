"""Self-clocked fan-out: the pure clock and receipt, then a Fanout on the in-memory layer driven
step by step (a fake monotonic clock, no timing), then the publishing loop."""

import asyncio
import copy

import pytest
from channels.layers import get_channel_layer

from statsbridge import housekeeping
from statsbridge.aio import SyncRunner
from statsbridge.clocking import ROUND_TIMEOUT_SECONDS, FrameClock, Receipt
from statsbridge.fanout import FRAME_MESSAGE, Fanout, dashboard_group
from tests.bridge.test_publishing_paths import fresh, routes_of
from tests.waiting import eventually

FLOOR = 0.05

# ------------------------------------------------------------------ pure


def test_a_dashboard_never_sent_is_due_at_once_and_then_waits_for_its_round_and_the_floor():
    clock = FrameClock(floor=FLOOR, round_timeout=1.0)
    assert clock.due([1, 2], now=10.0) == [1, 2]
    assert clock.next_due_in([1], now=10.0) == 0.0
    assert clock.next_due_in([], now=10.0) is None
    token = object()
    clock.sent(1, 10.0, token)
    # In flight: not due after the floor, only after its round ended (or timed out).
    assert clock.due([1, 2], now=10.5) == [2]
    assert clock.next_due_in([1], now=10.5) == pytest.approx(0.5)
    assert clock.due([1], now=11.0) == [1], "a round nobody hands back ends after the timeout"
    clock.delivered(1, token)
    assert clock.due([1], now=10.01) == [], "the floor still holds"
    assert clock.next_due_in([1], now=10.01) == pytest.approx(FLOOR - 0.01)
    assert clock.due([1], now=10.0 + FLOOR) == [1]


def test_a_late_hand_back_of_an_earlier_round_does_not_end_the_current_one():
    clock = FrameClock(floor=0.0, round_timeout=1.0)
    old, new = object(), object()
    clock.sent(1, 10.0, old)
    clock.sent(1, 11.5, new)  # the old round had timed out
    clock.delivered(1, old)
    assert clock.due([1], now=11.6) == []
    clock.delivered(1, new)
    assert clock.due([1], now=11.6) == [1]
    clock.sent(1, 12.0, object())
    clock.forget(1)  # a failed publish: due again at once
    assert clock.due([1], now=12.0) == [1]


def test_a_receipt_ends_when_every_copy_came_back_and_not_before_it_is_sealed():
    ended = []
    receipt = Receipt(lambda: ended.append(True))
    message = {"type": FRAME_MESSAGE, "receipt": receipt}
    copies = [copy.deepcopy(message) for _ in range(3)]  # what the in-memory layer does per recipient
    assert all(c["receipt"] is receipt for c in copies) and receipt.copies == 3
    copies[0]["receipt"].hand_back()  # a consumer may run before group_send returns
    receipt.seal()
    copies[1]["receipt"].hand_back()
    assert ended == []
    copies[2]["receipt"].hand_back()
    assert ended == [True]
    receipt.hand_back()  # one too many (never happens) ends nothing twice
    assert ended == [True]
    nobody = Receipt(lambda: ended.append("nobody"))
    nobody.seal()
    assert ended[-1] == "nobody", "a round to a dashboard nobody watches ends at once"


# ------------------------------------------------------------------ a Fanout, step by step


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


async def take(layer, channel: str) -> dict:
    """The next message on ``channel`` (one must be queued already: the in-memory layer queues in group_send)."""
    return await asyncio.wait_for(layer.receive(channel), 5)


async def test_the_next_batch_waits_for_the_hand_back_merges_what_came_meanwhile_and_spares_other_dashboards():
    layer = get_channel_layer()
    runner = SyncRunner("test-clocking")
    time = FakeTime()
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=FLOOR, monotonic=time)
    await fanout.set_routes(routes_of({1: ["a"], 2: ["b"]}))
    one, two = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(dashboard_group(1), one)
    await layer.group_add(dashboard_group(2), two)
    await fanout.flush()  # the start's status frames
    await take(layer, one), await take(layer, two)
    try:
        fanout.offer("a", fresh(1))
        assert fanout.next_flush_in() == 0.0, "an idle dashboard is due at once"
        assert await fanout.flush_due() == 1
        first = await take(layer, one)
        assert first["frame"]["values"]["a"]["value"] == 1 and first["receipt"].copies == 1

        fanout.offer("a", fresh(2))
        fanout.offer("a", fresh(3))
        time.now += 2 * FLOOR  # past the floor, within the round timeout
        assert await fanout.flush_due() == 0, "its round is in flight: nothing more for dashboard 1"
        fanout.offer("b", fresh(20))
        assert await fanout.flush_due() == 1, "dashboard 2 is not held back by dashboard 1"
        other = await take(layer, two)
        assert other["frame"]["values"]["b"]["value"] == 20

        first["receipt"].hand_back()  # the socket has it
        assert await fanout.flush_due() == 1
        second = await take(layer, one)
        assert second["frame"]["values"] == {"a": fresh(3) | {"received": second["frame"]["values"]["a"]["received"]}}
        assert second["frame"]["seq"] == first["frame"]["seq"] + 1

        second["receipt"].hand_back()
        fanout.offer("a", fresh(4))
        assert await fanout.flush_due() == 0, "the floor holds the next batch"
        assert fanout.next_flush_in() == pytest.approx(FLOOR)
        time.now += FLOOR
        assert await fanout.flush_due() == 1
        third = await take(layer, one)
        # Nobody hands this one back (the socket is stuck): the round times out.
        fanout.offer("a", fresh(5))
        time.now += ROUND_TIMEOUT_SECONDS - 0.001
        assert await fanout.flush_due() == 0
        time.now += 0.001
        assert await fanout.flush_due() == 1
        fourth = await take(layer, one)
        assert fourth["frame"]["values"]["a"]["value"] == 5
        third["receipt"].hand_back()  # late: changes nothing
        fanout.offer("a", fresh(6))
        time.now += 2 * FLOOR  # past the floor, within the round timeout
        assert await fanout.flush_due() == 0
    finally:
        await runner.close()


async def test_the_publishing_loop_sends_the_next_batch_once_the_previous_one_came_back():
    layer = get_channel_layer()
    runner = SyncRunner("test-clocking-loop")
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=0.001)
    fanout.clock.round_timeout = 3600.0  # only a hand-back can let the second batch go
    await fanout.set_routes(routes_of({1: ["a"]}))
    viewer = await layer.new_channel()
    await layer.group_add(dashboard_group(1), viewer)
    stop = asyncio.Event()
    loop = asyncio.create_task(housekeeping.publish_loop(fanout, dict, stop))
    try:
        fanout.offer("a", fresh(1))
        message = await take_batch(layer, viewer)
        assert message["frame"]["values"]["a"]["value"] == 1
        fanout.offer("a", fresh(2))
        assert await fanout.flush_due() == 0, "still in flight"
        message["receipt"].hand_back()
        message = await take_batch(layer, viewer)
        assert message["frame"]["values"]["a"]["value"] == 2
    finally:
        stop.set()
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await runner.close()


async def take_batch(layer, channel: str) -> dict:
    """The next batch message on ``channel`` (status frames skipped); fail after 10 s."""
    while True:
        message = await asyncio.wait_for(layer.receive(channel), 10)
        if message["frame"]["type"] == "batch":
            return message


class SerialisingLayer:
    """A channel layer whose messages cannot carry objects back (as channels_redis): records what is sent."""

    def __init__(self):
        self.sent = []

    async def group_send(self, group, message):
        self.sent.append((group, message))


async def test_a_round_on_a_layer_without_receipts_ends_a_fixed_time_after_it_was_sent():
    layer = SerialisingLayer()
    runner = SyncRunner("test-clocking-blind")
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=0.0)
    await fanout.set_routes(routes_of({1: ["a"]}))
    await fanout.flush()  # the start's status frame (not clocked)
    try:
        fanout.offer("a", fresh(1))
        assert await fanout.flush_due() == 1
        [(group, message)] = [sent for sent in layer.sent if sent[1].get("frame", {}).get("type") == "batch"]
        assert group == dashboard_group(1) and "receipt" not in message, "nothing that could not be serialised"
        fanout.offer("a", fresh(2))
        assert await fanout.flush_due() == 0 and 1 in fanout.clock.in_flight

        async def round_ended():
            return not fanout.clock.in_flight

        await eventually(round_ended, 5, "the blind round ends")
        assert await fanout.flush_due() == 1
    finally:
        await runner.close()
