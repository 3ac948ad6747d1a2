"""The frame floor's CPU budget: the pure step, the governor on injected clocks, then the
publishing loop whose floor grows while its (injected) CPU time says it is over budget."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from statsbridge import housekeeping
from statsbridge.aio import SyncRunner
from statsbridge.cpu_budget import FLOOR_CEILING_SECONDS, GROW_LIMIT, SHRINK_LIMIT, SLACK, FloorGovernor, next_floor
from statsbridge.fanout import Fanout, dashboard_group
from tests.bridge.test_publishing_paths import fresh, routes_of
from tests.waiting import eventually

BASE = 0.015


def test_over_budget_the_floor_grows_in_proportion_and_at_most_by_the_grow_limit():
    assert next_floor(BASE, share=0.75, budget=0.5, base=BASE) == pytest.approx(BASE * 1.5)
    assert next_floor(BASE, share=5.0, budget=0.5, base=BASE) == pytest.approx(BASE * GROW_LIMIT)
    assert next_floor(0.2, share=1.0, budget=0.5, base=BASE) == FLOOR_CEILING_SECONDS, "never past the old tick"


def test_under_the_slack_it_shrinks_back_to_the_configured_floor_and_between_it_holds():
    assert next_floor(0.1, share=0.0, budget=0.5, base=BASE) == pytest.approx(0.1 / SHRINK_LIMIT)
    assert next_floor(0.1, share=0.3, budget=0.5, base=BASE) == pytest.approx(0.1 * 0.3 / (SLACK * 0.5))
    assert next_floor(0.02, share=0.0, budget=0.5, base=BASE) == BASE, "never under the configured floor"
    assert next_floor(0.1, share=0.45, budget=0.5, base=BASE) == 0.1, "between slack and budget: held"
    assert next_floor(0.1, share=0.5, budget=0.5, base=BASE) == 0.1


def test_no_budget_means_the_configured_floor():
    assert next_floor(0.1, share=3.0, budget=0, base=BASE) == BASE
    assert next_floor(BASE, share=3.0, budget=0.5, base=0.5) == 0.5, "a configured floor over the ceiling stays"


class Clocks:
    """Injected wall and CPU clocks, moved by hand."""

    def __init__(self):
        self.wall = 100.0
        self.cpu = 10.0

    def run(self, seconds: float, share: float) -> None:
        self.wall += seconds
        self.cpu += seconds * share


def test_the_governor_decides_once_a_period_from_the_cpu_share_over_it():
    clocks = Clocks()
    governor = FloorGovernor(BASE, 0.5, period=1.0, cpu_time=lambda: clocks.cpu, monotonic=lambda: clocks.wall)
    assert governor.observe() == BASE  # the first call starts the first period
    clocks.run(0.5, share=1.0)
    assert governor.observe() == BASE, "half a period: nothing decided yet"
    clocks.run(0.5, share=1.0)
    assert governor.observe() == pytest.approx(2 * BASE) and governor.share == pytest.approx(1.0)
    for _ in range(10):
        clocks.run(1.0, share=1.0)
        governor.observe()
    assert governor.floor == FLOOR_CEILING_SECONDS
    clocks.run(1.0, share=0.45)
    assert governor.observe() == FLOOR_CEILING_SECONDS, "within the slack: held"
    clocks.run(30.0, share=0.0)  # an idle stretch is one long period under budget
    assert governor.observe() == FLOOR_CEILING_SECONDS / SHRINK_LIMIT
    for _ in range(10):
        clocks.run(1.0, share=0.1)
        governor.observe()
    assert governor.floor == BASE


def test_a_governor_without_budget_never_reads_the_clocks():
    def boom():
        raise AssertionError("read")

    governor = FloorGovernor(BASE, 0, cpu_time=boom, monotonic=boom)
    assert governor.observe() == BASE


async def test_the_publishing_loop_grows_the_floor_while_over_budget_and_spaces_batches_by_it():
    """CPU time injected as one core (the loop's wall clock itself), so the share is 1.0 whatever
    the machine does; the floor must grow, and batches of a busy dashboard be spaced by it."""
    layer = get_channel_layer()
    runner = SyncRunner("test-cpu-budget")
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=0.001)
    await fanout.set_routes(routes_of({1: ["a"]}))
    viewer = await layer.new_channel()
    await layer.group_add(dashboard_group(1), viewer)
    busy = [True]
    cpu = [0.0]
    last_wall = [None]

    def cpu_time():
        # One core while busy, nothing when not: the CPU share is exactly 1.0 or 0.0.
        now = asyncio.get_running_loop().time()
        if last_wall[0] is not None and busy[0]:
            cpu[0] += now - last_wall[0]
        last_wall[0] = now
        return cpu[0]

    governor = FloorGovernor(0.001, 0.5, ceiling=0.2, period=0.02, cpu_time=cpu_time,
                             monotonic=lambda: asyncio.get_running_loop().time())
    stop = asyncio.Event()
    loop = asyncio.create_task(housekeeping.publish_loop(fanout, dict, stop, governor))
    sent: list[float] = []  # when each batch left, as the fan-out's clock recorded it
    clock_sent = fanout.clock.sent

    def record_sent(dashboard_id, now, token):
        sent.append(now)
        clock_sent(dashboard_id, now, token)

    fanout.clock.sent = record_sent

    async def read():
        while True:
            message = await layer.receive(viewer)
            if message.get("receipt") is not None:
                message["receipt"].hand_back()  # the socket took it at once: only the floor paces

    async def offer():  # a value every 2 ms: the floor, not the offers, paces the batches
        n = 0
        while True:
            n += 1
            fanout.offer("a", fresh(n))
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(read()), asyncio.create_task(offer())]
    try:
        await eventually(lambda: fanout.floor == 0.2, timeout=20, message="the floor to grow to its ceiling")
        assert fanout.clock.floor == 0.2
        count = len(sent)
        await eventually(lambda: len(sent) >= count + 3, timeout=10, message="more batches")
        gaps = [b - a for a, b in zip(sent[count:], sent[count + 1:], strict=False)]
        assert min(gaps) >= 0.2, f"batches closer than the grown floor: {gaps}"
        busy[0] = False
        await eventually(lambda: fanout.floor == 0.001, timeout=20, message="the floor to shrink back")
    finally:
        stop.set()
        loop.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(loop, *tasks, return_exceptions=True)
        await runner.close()


def test_the_cpu_clock_is_read_only_when_a_period_ends():
    clocks = Clocks()
    reads = []

    def cpu_time():
        reads.append(clocks.wall)
        return clocks.cpu

    governor = FloorGovernor(BASE, 0.5, period=1.0, cpu_time=cpu_time, monotonic=lambda: clocks.wall)
    governor.observe()
    for _ in range(3):
        clocks.run(0.25, share=1.0)
        governor.observe()
    assert len(reads) == 1
    clocks.run(0.25, share=1.0)
    governor.observe()
    assert len(reads) == 2
