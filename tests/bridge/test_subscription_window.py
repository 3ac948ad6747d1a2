"""Concurrent subscription creates against the simulator: a bounded window of batches in
flight, failed batches retried alone, and every statistic subscribed exactly once, also
after the service drops everything (UNAVAILABLE) and comes back (AVAILABLE)."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from statsbridge import store
from statsbridge.upstream.statistics import StatisticsClient
from tests.bridge.simulated import Control, seed, streaming_bridge, truth_with
from tests.fixtures_simulator import fast_config
from tests.live import eventually

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 3


@pytest.fixture
def simulator_config():
    return fast_config(tick_seconds=0.3)


@pytest.fixture
def in_flight(monkeypatch):
    """Counts creates under way; each takes a while so that overlapping ones are seen."""
    seen = {"now": 0, "peak": 0, "calls": 0}
    original = StatisticsClient.create_subscription

    async def slow_create(self, *args, **kwargs):
        seen["now"] += 1
        seen["calls"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        try:
            await asyncio.sleep(0.05)
            return await original(self, *args, **kwargs)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(StatisticsClient, "create_subscription", slow_create)
    return seen


@pytest.fixture
async def bridge(simulator, settings, in_flight):
    # One statistic per batch: the seeded dashboard's six statistics are six creates.
    settings.BRIDGE = {**settings.BRIDGE, "SUBSCRIPTION_BATCH_SIZE": 1, "SUBSCRIPTION_CREATE_WINDOW": WINDOW}
    async for host in streaming_bridge(simulator):
        yield host


async def exactly_once(control_api, keys):
    """The simulator's truth once it holds every key in exactly one subscription, else None."""
    truth = await truth_with(control_api, set(keys))
    return truth if truth and all(len(items) == 1 for items in truth.values()) else None


def all_fresh(keys):
    """Every key's stored value is fresh (the shared value store, as snapshots read it)."""
    values = store.read_values(keys)
    return len(values) == len(keys) and all(v["state"] == "fresh" for v in values.values())


async def test_creates_run_in_a_bounded_window_and_failed_batches_are_retried_alone(simulator, bridge, in_flight):
    control_api = Control(simulator)
    # The first two creates fail (500): each is retried alone, under a new id.
    await control_api.call("POST", "/fail", {"scope": "subscriptions", "status": 500, "count": 2})
    _user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    truth = await eventually(lambda: exactly_once(control_api, keys), 15, "every statistic subscribed once")
    assert in_flight["peak"] == WINDOW, "six batches went out at most three at a time"
    assert in_flight["calls"] == len(keys) + 2, "only the two failed batches were sent again"
    assert len({items[0]["subscriptionId"] for items in truth.values()}) == len(keys)
    assert set(bridge.bridge.held) == {items[0]["subscriptionId"] for items in truth.values()}
    await eventually(lambda: all_fresh(keys), 10, "every value fresh in the store")

    await control_api.call("POST", "/service", {"state": "UNAVAILABLE"})
    await eventually(lambda: not bridge.bridge.held and not all_fresh(keys), 10, "everything dropped and stale")
    in_flight["peak"] = 0
    await control_api.call("POST", "/service", {"state": "AVAILABLE"})
    truth = await eventually(lambda: exactly_once(control_api, keys), 15, "every statistic subscribed once again")
    assert in_flight["peak"] == WINDOW
    assert set(bridge.bridge.held) == {items[0]["subscriptionId"] for items in truth.values()}
    assert bridge.bridge.book.held_keys() == set(keys) and not bridge.bridge.book.busy
    await eventually(lambda: all_fresh(keys), 10, "every value fresh in the store again")
