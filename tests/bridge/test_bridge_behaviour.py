"""More bridge behaviour against the simulator: refusals, coalescing, operator actions, dialects."""

import asyncio
import os

import pytest
from channels.db import database_sync_to_async

from dashboard.models import Dashboard, Widget, WidgetStatistic
from statsbridge import control, store
from statsbridge.decoding import Decoding, Hint
from statsbridge.host import BridgeHost
from statsbridge.lease import LocalLease
from statsbridge.models import Statistic
from tests.bridge.simulated import Control, genesys_for, open_desk, seed, truth_with, until_equal
from tests.fixtures_simulator import fast_config
from tests.live import eventually
from tests.live_fixtures import FAST_BRIDGE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def simulator_config():
    return fast_config(tick_seconds=0.3, notification_nesting="flat")


@pytest.fixture
async def bridge(simulator):
    host = BridgeHost(genesys_for(simulator), lease=LocalLease())
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    await eventually(lambda: host.bridge, 5, "bridge started")
    yield host
    stop.set()
    await asyncio.wait_for(task, 20)


def add_bad_statistics(widget):
    """A statistic of an object the tenant does not have: refused upstream."""
    unknown_object = Statistic.objects.create(object_type="Queue", object_id="VQ_Nowhere", name="CallsWaiting")
    WidgetStatistic.objects.create(widget=widget, statistic=unknown_object, position=20)
    return unknown_object.key


async def test_refused_statistics_are_reported_and_the_rest_flows(simulator, bridge):
    control_api = Control(simulator)
    user, _dashboard, widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    bad = await database_sync_to_async(add_bad_statistics)(widget)
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "good statistics subscribed")

    def settled():
        status = store.read_status()
        held = sum(d["statistics"] for d in (status or {}).get("subscription_details", []))
        return status if status and bad in status.get("refused", {}) and held == len(keys) else None

    status = await eventually(settled, 5, "refusal and every good statistic in the shared status")
    assert "VQ_Nowhere" in status["refused"][bad]
    browser = await open_desk(user)
    await until_equal(browser, control_api, keys, "good values flow (flat notifications)")
    assert browser.values[bad]["kind"] == "unknown" and browser.values[bad]["value"] is None
    await browser.communicator.disconnect()


async def test_updates_are_coalesced_to_at_most_one_batch_per_dashboard_per_floor(simulator, bridge):
    control_api = Control(simulator)
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "subscribed")
    browser = await open_desk(user)
    await until_equal(browser, control_api, keys, "live")
    await control_api.call("POST", "/load", {"updates_per_second": 3000})
    start_sent = (await control_api.state())["loadUpdatesSent"]
    frames_before = len(browser.frames)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    # At least 1.5 s and 2000 updates: a loaded machine may send fewer than 3000/s, and
    # the bound below follows the time it took.
    while (loop.time() - started < 1.5 or sent <= 2000) and loop.time() - started < 30:
        for _ in range(10):
            await browser.pump(0.02)
        sent = (await control_api.state())["loadUpdatesSent"] - start_sent
    elapsed = loop.time() - started
    await control_api.call("POST", "/load", {"updates_per_second": 0})
    frames = len(browser.frames) - frames_before
    floors = elapsed / FAST_BRIDGE["FRAME_FLOOR_SECONDS"]
    assert sent > 2000, f"the load did not run ({sent} updates)"
    # One dashboard: at most one batch per floor (plus slack for timer jitter), whatever the
    # rate, and the updates of a round merged into one batch.
    assert 5 < frames <= floors + 5, (frames, floors, sent)
    assert frames * 10 < sent, (frames, sent)
    assert browser.gaps == []
    await browser.communicator.disconnect()


async def test_operator_resubscribe_and_peek(simulator, bridge):
    control_api = Control(simulator)
    _user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    before = await eventually(lambda: truth_with(control_api, set(keys)), 10, "subscribed")
    await control.request_resubscribe_async()

    async def resubscribed():
        truth = await truth_with(control_api, set(keys))
        if not truth:
            return None
        old = {items[0]["subscriptionId"] for items in before.values()}
        new = {items[0]["subscriptionId"] for items in truth.values()}
        return truth if not old & new and all(len(i) == 1 for i in truth.values()) else None

    await eventually(resubscribed, 5, "every subscription re-created on request")
    statistic = await database_sync_to_async(Statistic.objects.get)(key=keys[0])

    async def peek_matches():
        value = await control.peek_statistic_async(statistic, genesys_for(simulator))
        truth = await control_api.truth()
        item = truth[keys[0]][0]
        expected = Decoding().decode(item["value"], Hint(keys[0], item["name"]), timestamp=item["timestamp"], received=0)
        return value["value"] == expected["value"] and value["kind"] == expected["kind"]

    await eventually(peek_matches, 5, "peek equals the simulator's value", interval=0.1)
    custom = await database_sync_to_async(Statistic.objects.exclude)(definition=None)
    with pytest.raises(ValueError):
        await control.peek_statistic_async(await database_sync_to_async(custom.first)(), genesys_for(simulator))


def seed_second_dashboard():
    dashboard = Dashboard.objects.create(title="Other", slug="other")
    widget = Widget.objects.create(dashboard=dashboard, type=Widget.KPI, label="Waiting")
    statistic = Statistic.objects.get(name="CallsWaiting")
    WidgetStatistic.objects.create(widget=widget, statistic=statistic)
    return statistic.key


async def test_a_statistic_on_two_dashboards_is_subscribed_once_and_reaches_both(simulator, bridge):
    control_api = Control(simulator)
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "subscribed")
    shared = await database_sync_to_async(seed_second_dashboard)()
    browser = await open_desk(user, "other")
    await browser.until(lambda b: b.values.get(shared, {}).get("state") == "fresh", 5, "shared statistic on the second dashboard")
    truth = await control_api.truth()
    assert len(truth[shared]) == 1 and set(truth) == set(keys)
    await browser.communicator.disconnect()


PROBE_AUTH = "Bearer " + os.environ["METRICS_TOKEN"]  # tests/settings.py sets it


async def test_readyz_and_metrics_follow_the_bridge(simulator, bridge, client):
    await database_sync_to_async(seed)(simulator.tenant.model.objects())

    async def ready():
        response = await database_sync_to_async(client.get)("/readyz", HTTP_AUTHORIZATION=PROBE_AUTH)
        return response if response.status_code == 200 else None

    response = await eventually(ready, 10, "/readyz turns ready")
    assert response.json()["connection"]["service"] == "AVAILABLE"
    await Control(simulator).call("POST", "/service", {"state": "UNAVAILABLE"})

    async def not_ready():
        response = await database_sync_to_async(client.get)("/readyz", HTTP_AUTHORIZATION=PROBE_AUTH)
        return response if response.status_code == 503 else None

    response = await eventually(not_ready, 10, "/readyz says why not")
    assert response.json()["reason"] == "statistics service is UNAVAILABLE"
    metrics_text = (await database_sync_to_async(client.get)("/metrics", HTTP_AUTHORIZATION=PROBE_AUTH)).content.decode()
    for name in ("ccdash_service_available 0.0", "ccdash_upstream_state{state=\"connected\"} 1.0", "ccdash_shared_bridge_up 1.0",
                 "ccdash_updates_in_total", "ccdash_update_age_seconds_bucket", "ccdash_resubscribe_seconds_count"):
        assert name in metrics_text, name
    assert (await database_sync_to_async(client.get)("/healthz")).json() == {"status": "ok"}


async def test_a_broken_cometd_link_turns_values_stale_and_recovery_fresh(simulator, bridge):
    control_api = Control(simulator)
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "subscribed")
    browser = await open_desk(user)
    await until_equal(browser, control_api, keys, "live")
    await control_api.call("POST", "/fail", {"scope": "notifications", "status": 503, "count": 2})
    await browser.until(
        lambda b: b.connection["upstream"] == "reconnecting" and all(b.values[k]["state"] == "stale" for k in keys),
        2.0, "stale within 2 s of the link breaking",
    )
    await browser.until(lambda b: b.connection["upstream"] == "connected", 15, "link restored")
    await until_equal(browser, control_api, keys, "fresh values equal to the truth after recovery")
    truth = await control_api.truth()
    assert all(len(items) == 1 for items in truth.values()), "no duplicate subscriptions after recovery"
    await browser.communicator.disconnect()


# A model that never moves: only a peek can refresh a value's "received" time.
@pytest.mark.parametrize("simulator_config", [fast_config(tick_seconds=3600.0)])
async def test_lost_notifications_make_the_bridge_peek_every_subscription(simulator, bridge):
    from statsbridge.upstream.bayeux import MessagesLost

    control_api = Control(simulator)
    _user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "subscribed")
    latest = bridge.bridge.fanout.latest
    await eventually(lambda: all(k in latest for k in keys), 5, "values received")
    before = {k: latest[k]["received"] for k in keys}
    # What the CometD client emits when its buffer overflowed.
    bridge.bridge.handle(MessagesLost(17))
    await eventually(
        lambda: all(latest[k]["received"] > before[k] for k in keys), 10, "every statistic re-read after the loss"
    )
