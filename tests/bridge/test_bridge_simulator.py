"""The bridge against the simulator in-process, seen through a WebSocket client."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from dashboard.models import WidgetStatistic
from statsbridge import history, store
from statsbridge.host import BridgeHost
from statsbridge.lease import LocalLease
from statsbridge.models import Statistic, StatisticSample
from tests.bridge.simulated import Control, genesys_for, open_desk, seed, truth_with, until_equal
from tests.fixtures_simulator import fast_config
from tests.live import eventually

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "VQ_Sales@SIP_Switch"


@pytest.fixture
def simulator_config():
    # Slow model ticks keep values still long enough to compare with the truth.
    return fast_config(tick_seconds=0.3, notification_nesting="nested")


@pytest.fixture
async def bridge(simulator):
    """A bridge host (no lease) running against the simulator."""
    host = BridgeHost(genesys_for(simulator), lease=LocalLease())
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    yield host
    stop.set()
    await asyncio.wait_for(task, 20)


async def test_lifecycle_against_the_simulator(simulator, bridge):
    control = Control(simulator)
    user, _dashboard, widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())

    # Exactly the configured statistics are subscribed, in batches of 3.
    truth = await eventually(
        lambda: truth_with(control, set(keys)), 10, "subscriptions for exactly the configured statistics"
    )
    assert set(truth) == set(keys) and all(len(items) == 1 for items in truth.values())
    assert (await control.state())["subscriptions"] == 2

    browser = await open_desk(user)
    await browser.until(lambda b: b.connection and b.connection["service"] == "AVAILABLE", 5, "live connection")
    await until_equal(browser, control, keys, "values equal to the simulator's truth")
    agent_value = browser.values[keys[4]]
    assert agent_value["kind"] == "agent_state" and agent_value["agent"]["state"] in (
        "Ready", "NotReady", "Talking", "AfterCallWork", "LoggedOut")
    assert browser.values[keys[1]]["kind"] == "percentage" and browser.values[keys[2]]["kind"] == "duration"

    # UNAVAILABLE: every value stale, and the dashboard told, within 2 s.
    await control.call("POST", "/service", {"state": "UNAVAILABLE"})
    await browser.until(
        lambda b: b.connection["service"] == "UNAVAILABLE" and all(b.values[k]["state"] == "stale" for k in keys),
        2.0, "stale frames after UNAVAILABLE",
    )
    assert (await control.state())["subscriptions"] == 0

    # AVAILABLE: every subscription re-created, fresh values equal to the truth.
    await control.call("POST", "/service", {"state": "AVAILABLE"})
    await browser.until(lambda b: b.connection["service"] == "AVAILABLE", 10, "AVAILABLE status")
    truth = await eventually(lambda: truth_with(control, set(keys)), 10, "subscriptions re-created")
    assert all(len(items) == 1 for items in truth.values())
    await until_equal(browser, control, keys, "fresh values equal to the truth after AVAILABLE")

    # Admin edits: a new statistic is subscribed, a removed one released, others untouched.
    before = await control.truth()
    added = await database_sync_to_async(_add_statistic)(widget, simulator.tenant.model.objects()["Queue"][1])
    await database_sync_to_async(_remove_statistic)(widget, keys[3])
    wanted = (set(keys) - {keys[3]}) | {added}
    after = await eventually(lambda: truth_with(control, wanted), 10, "admin edit applied live")
    untouched = [k for k in keys[:3] if before[k][0]["subscriptionId"] == after[k][0]["subscriptionId"]]
    assert untouched, "statistics in unchanged subscriptions must keep their subscription"
    await browser.until(lambda b: b.values.get(added, {}).get("state") == "fresh", 10, "value of the added statistic")

    # Forget every client: the bridge re-handshakes and re-creates its subscriptions.
    await control.call("POST", "/forget-clients")
    await eventually(lambda: truth_with(control, wanted), 8, "subscriptions re-created after re-handshake")
    assert (await control.state())["sessions"] == 1
    await until_equal(browser, control, sorted(wanted), "values after re-handshake")
    assert browser.gaps == []

    # History: each statistic from its first publish, then in one bulk insert at most once
    # per interval (values published since the first ones are written within one); it
    # answers "what was shown at T".
    def recorded_keys():
        return list(StatisticSample.objects.values_list("key", flat=True))

    async def sampled_again():
        rows = await database_sync_to_async(recorded_keys)()
        return wanted <= set(rows) and len(rows) > len(set(rows))

    await eventually(sampled_again, 10, "every statistic in the history, some sampled again")
    shown = await database_sync_to_async(history.values_at)(keys[:1], timezone.now())
    assert shown[keys[0]]["kind"] == "number"
    await browser.communicator.disconnect()


async def test_shutdown_releases_subscriptions_and_a_restart_resubscribes(simulator):
    control = Control(simulator)
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    host = BridgeHost(genesys_for(simulator), lease=LocalLease())
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    await eventually(lambda: truth_with(control, set(keys)), 10, "subscribed")
    browser = await open_desk(user)
    await until_equal(browser, control, keys, "live values")
    stop.set()
    await asyncio.wait_for(task, 20)
    state = await control.state()
    assert state["subscriptions"] == 0 and state["sessions"] == 0
    await browser.until(lambda b: b.connection["bridge"] == "down" and all(b.values[k]["state"] == "stale" for k in keys),
                        10, "down")
    # A new bridge (a restart) subscribes again and the screen turns fresh by itself.
    stop = asyncio.Event()
    task = asyncio.create_task(BridgeHost(genesys_for(simulator), lease=LocalLease()).run(stop))
    await until_equal(browser, control, keys, "fresh after restart")
    stop.set()
    await asyncio.wait_for(task, 20)
    await browser.communicator.disconnect()


async def test_after_the_store_lost_its_data_the_bridge_writes_its_subscription_ids_again(simulator, bridge):
    """A bridge now lives through a Redis restart (it keeps its lease): the ids of its
    upstream subscriptions must be in the store again, or a successor taking over after
    it died would not delete them and upstream would hold duplicates."""
    control = Control(simulator)
    _, _, _, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    truth = await eventually(lambda: truth_with(control, set(keys)), 10, "subscribed")
    upstream = sorted({item["subscriptionId"] for items in truth.values() for item in items})

    def ids_written():
        # The bridge holds a subscription and writes its id once it has handled the create's
        # reply, which may come after the simulator already counts the subscription.
        held = sorted(bridge.bridge.held)
        return held if held == upstream and sorted(store.read_subscription_ids()) == held else None

    held = await eventually(ids_written, 10, "the bridge wrote the ids of the subscriptions it holds")

    cache.clear()  # what a Redis restart does to the store
    assert store.read_subscription_ids() == []
    await eventually(lambda: sorted(store.read_subscription_ids()) == held, 10, "subscription ids written again")
    assert sorted(bridge.bridge.held) == held, "the same bridge, the same subscriptions"


async def test_revoked_tokens_are_recovered_and_values_keep_flowing(simulator, bridge):
    control = Control(simulator)
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control, set(keys)), 10, "subscribed")
    browser = await open_desk(user)
    await until_equal(browser, control, keys, "live values")
    await control.call("POST", "/revoke-tokens", {"refresh": True})
    await control.call("POST", "/forget-clients")
    await eventually(lambda: truth_with(control, set(keys)), 8, "subscriptions back after token recovery")
    await until_equal(browser, control, keys, "values after token recovery")
    await browser.communicator.disconnect()


def _add_statistic(widget, queue):
    statistic = Statistic.objects.create(object_type="Queue", object_id=queue, name="CallsAbandoned")
    WidgetStatistic.objects.create(widget=widget, statistic=statistic, position=10)
    return statistic.key


def _remove_statistic(widget, key):
    WidgetStatistic.objects.filter(widget=widget, statistic__key=key).delete()
