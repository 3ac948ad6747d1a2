"""The generic observer hook: configured classes see what the bridge publishes, and one
that fails is logged once and never stops the loop nor the others."""

import asyncio
import logging

import pytest

from statsbridge import frames, observers
from statsbridge.fanout import Fanout
from statsbridge.wanted import Routes, Wanted

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

    def take_observed(self):
        return frozenset()


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


def number(n):
    return frames.value(kind="number", value=n, text=str(n), state="fresh", timestamp=1, received=1)


async def test_an_observation_is_a_read_only_view_with_the_keys_changed_since_the_last_one():
    async def run_sync(function, *args):
        return function(*args)

    class Layer:
        async def group_send(self, group, message):
            pass

    fanout = Fanout(run_sync, layer=Layer(), record_history=False)
    keys = ["a", "b", "c"]
    await fanout.set_routes(Routes(wanted={k: Wanted(k, {"statisticId": k}, None) for k in keys},
                                   dashboards_by_key={k: frozenset({1}) for k in keys}, slugs={1: "d1"}))
    fanout.offer_many({"a": number(1), "b": number(2)})
    first = observers.observe(fanout, clock=lambda: 5)
    assert first.changed == {"a", "b"} and first.now == 5 and first.publisher is fanout
    assert dict(first.values) == {"a": number(1), "b": number(2)}
    with pytest.raises(TypeError):
        first.values["a"] = number(9)  # observers cannot change what the bridge publishes
    assert observers.observe(fanout).changed == frozenset()  # nothing new since

    fanout.offer("b", number(3))
    fanout.offer_many({"c": number(4)})
    fanout.mark_all("stale")  # every value changes state
    second = observers.observe(fanout)
    assert second.changed == {"a", "b", "c"}
    assert {k: v["state"] for k, v in second.values.items()} == {"a": "stale", "b": "stale", "c": "stale"}
    fanout.offer("c", number(5))
    assert observers.observe(fanout).changed == {"c"}
