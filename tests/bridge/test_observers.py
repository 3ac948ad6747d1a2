"""The generic observer hook: configured classes see what the bridge publishes, and one
that fails is logged once and never stops the loop nor the others."""

import asyncio
import logging

from statsbridge import frames, observers
from statsbridge.wanted import Routes

CALLS: list = []


class Recording:
    """Records every observation."""

    def __init__(self, run_sync):
        self.run_sync = run_sync

    async def observe(self, observation):
        CALLS.append(("seen", observation.values, observation.live))

    async def close(self):
        CALLS.append(("closed",))


class Failing:
    """Fails every time, with the same error."""

    def __init__(self, run_sync):
        pass

    async def observe(self, observation):
        raise ValueError("bad rule")


class FakeFanout:
    def __init__(self):
        self.latest = {"k": frames.value(kind="number", value=3, text="3", state="fresh", timestamp=1, received=1)}
        self.routes = Routes()
        self.connection = frames.connection(upstream="connected", service="AVAILABLE", bridge="up")


async def test_observers_see_the_published_values_and_a_failing_one_is_logged_once(settings, caplog):
    settings.BRIDGE_OBSERVERS = ["tests.bridge.test_observers.Failing", "tests.bridge.test_observers.Recording"]
    CALLS.clear()
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="statsbridge.bridge"):
        task = asyncio.create_task(observers.observer_loop(FakeFanout(), "runner", stop, every=0.01))
        deadline = asyncio.get_running_loop().time() + 5
        while len(CALLS) < 3:
            assert asyncio.get_running_loop().time() < deadline, "observers were not called"
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert CALLS[0] == ("seen", {"k": FakeFanout().latest["k"]}, True)
    assert CALLS[-1] == ("closed",)
    failures = [r for r in caplog.records if "observer Failing failed" in r.getMessage()]
    assert len(failures) == 1


async def test_without_observers_the_loop_only_waits(settings):
    settings.BRIDGE_OBSERVERS = []
    stop = asyncio.Event()
    task = asyncio.create_task(observers.observer_loop(FakeFanout(), None, stop))
    await asyncio.sleep(0)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 5)
