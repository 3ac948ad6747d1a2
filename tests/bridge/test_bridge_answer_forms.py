"""The bridge against the simulator armed with each answer form the reference documents:
lost subscriptions, failing batches, partial success, lost create replies, and polling
while CometD cannot be held."""

import time

import pytest
from channels.db import database_sync_to_async

from statsbridge import metrics, store
from statsbridge.upstream.bayeux import MessagesLost
from tests.bridge.simulated import Control, open_desk, seed, streaming_bridge, truth_with, until_equal
from tests.fixtures_simulator import fast_config
from tests.live import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def simulator_config():
    return fast_config(tick_seconds=0.3)


@pytest.fixture
def bridge_settings():
    return {}


@pytest.fixture
async def bridge(simulator, settings, bridge_settings):
    settings.BRIDGE = {**settings.BRIDGE, **bridge_settings}
    async for host in streaming_bridge(simulator):
        yield host


def creates(outcome):
    return metrics.subscription_creates.labels(outcome=outcome)._value.get()


async def once_each(control_api, keys):
    """The truth holds every key in exactly one subscription; returns it."""
    truth = await control_api.truth()
    assert set(truth) == set(keys), sorted(set(truth) ^ set(keys))
    assert all(len(items) == 1 for items in truth.values()), "a statistic is subscribed twice upstream"
    return truth


async def live_desk(simulator):
    control_api = Control(simulator)
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "subscribed")
    browser = await open_desk(user)
    await until_equal(browser, control_api, keys, "live")
    return control_api, browser, keys


# ---------------------------------------------------------------- lost subscriptions


@pytest.mark.parametrize("form", [{"status": 404}, {"status": 500}, {"status": 200, "code": 500}],
                         ids=["404", "500", "200-code-500"])
async def test_a_lost_subscription_is_found_by_any_answer_form_and_created_again(simulator, bridge, form):
    control_api, browser, keys = await live_desk(simulator)
    await control_api.call("POST", "/lost-peek", form)
    old_ids = set(bridge.bridge.held)
    assert (await control_api.call("POST", "/drop-subscriptions"))["dropped"] == len(old_ids)
    bridge.bridge.handle(MessagesLost(1))  # anything that makes the bridge peek

    async def recreated():
        truth = await control_api.truth()
        ids = {items[0]["subscriptionId"] for items in truth.values()}
        return set(truth) == set(keys) and not ids & old_ids

    await eventually(recreated, 10, "every statistic subscribed again under new ids")
    await once_each(control_api, keys)
    assert bridge.bridge.book.lost_total >= len(old_ids)
    assert set(bridge.bridge.held).isdisjoint(old_ids)
    await until_equal(browser, control_api, keys, "values equal to the truth again")
    await browser.communicator.disconnect()


async def test_a_failing_peek_that_recovers_loses_nothing(simulator, bridge):
    control_api, browser, keys = await live_desk(simulator)
    held = dict(bridge.bridge.held)
    await control_api.call("POST", "/fail", {"scope": "peek", "status": 503, "count": 1000})
    bridge.bridge.handle(MessagesLost(1))
    # Each peek is tried five times by the REST client (503 is transient), then by the book.
    await eventually(lambda: simulator.tenant.faults.armed("peek").count <= 1000 - 5 * len(held), 15,
                     "every subscription's peek failed")
    await control_api.call("POST", "/clear-faults")
    await eventually(lambda: bridge.bridge.book.next_due(time.monotonic()) is None, 40, "the retried peeks succeeded")
    assert bridge.bridge.held == held and bridge.bridge.book.lost_total == 0, "503 is transient: nothing lost"
    await until_equal(browser, control_api, keys, "still live")
    await browser.communicator.disconnect()


# ---------------------------------------------------------------- batches


@pytest.mark.parametrize("bridge_settings", [{"SUBSCRIPTION_BATCH_SIZE": 2}])
@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 200, "code": 500}], ids=["500", "200-code-500"])
async def test_one_failing_batch_is_retried_alone_and_the_others_are_not_recreated(simulator, bridge, fault):
    control_api = Control(simulator)
    ok, failed = creates("ok"), creates("failed")
    await control_api.call("POST", "/fail", {"scope": "subscriptions", "count": 1, **fault})
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "every batch subscribed")
    truth = await once_each(control_api, keys)
    subscriptions = {items[0]["subscriptionId"] for items in truth.values()}
    assert len(subscriptions) >= 3, "batches of two"
    # Every batch that succeeded was created once: the retry re-created only the failed one.
    assert (creates("failed") - failed, creates("ok") - ok) == (1, len(subscriptions))
    assert set(bridge.bridge.held) == {items[0]["subscriptionId"] for items in truth.values()}
    browser = await open_desk(user)
    await until_equal(browser, control_api, keys, "every value flows")
    await browser.communicator.disconnect()


async def test_a_partial_success_keeps_what_succeeded_and_reports_the_refused(simulator, bridge):
    control_api = Control(simulator)
    await control_api.call("POST", "/fail", {"scope": "subscriptions", "status": 200, "code": 2})
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())

    def settled():
        status = store.read_status()
        refused = (status or {}).get("refused", {})
        return status if refused and status["statistics"] + len(refused) == len(keys) else None

    status = await eventually(settled, 10, "part held, part refused, in the shared status")
    assert set(status["refused"].values()) == {"Simulated refusal: statistic not opened"}
    held = bridge.bridge.book.held_keys()
    assert held | set(status["refused"]) == set(keys) and not held & set(status["refused"])
    browser = await open_desk(user)
    await until_equal(browser, control_api, sorted(held), "what succeeded flows")
    assert set(await control_api.truth()) == held, "refused statistics are not retried"
    await browser.communicator.disconnect()


async def test_a_create_whose_reply_was_lost_is_never_duplicated(simulator, bridge):
    control_api = Control(simulator)
    await control_api.call("POST", "/fail", {"scope": "subscriptions", "status": 504, "lost_reply": True})
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "subscribed")

    async def single():
        state = await control_api.state()
        return state["statistics"] == len(keys) and state["subscriptions"] == len(bridge.bridge.held)

    await eventually(single, 10, "the twin of the lost reply deleted")
    truth = await once_each(control_api, keys)
    assert set(bridge.bridge.held) == {items[0]["subscriptionId"] for items in truth.values()}
    browser = await open_desk(user)
    await until_equal(browser, control_api, keys, "values flow")
    await browser.communicator.disconnect()


# ---------------------------------------------------------------- polling


POLLING = {"POLL_SECONDS": 0.5, "POLL_AFTER_FAILED_CONNECTS": 3, "POLL_AFTER_SECONDS": 30.0}


@pytest.mark.parametrize("bridge_settings", [POLLING])
@pytest.mark.parametrize("blocked", [{"status": 503}, {"cut_after": 0.3}], ids=["every-request-fails", "proxy-cut"])
async def test_polling_while_notifications_are_blocked_then_streaming_again(simulator, bridge, blocked):
    control_api, browser, keys = await live_desk(simulator)
    await control_api.call("POST", "/fail", {"scope": "notifications", "count": "forever", **blocked})
    await browser.until(lambda b: b.connection["upstream"] == "polling", 15, "POLLING after 3 failed connects")
    assert browser.connection["poll_seconds"] == 0.5
    # The old session expires with its subscriptions: peeks find them lost, they are created again.
    await until_equal(browser, control_api, keys, "fresh polled values equal to the truth")
    key = keys[0]
    polled = browser.values[key]["received"]
    await browser.until(lambda b: b.values[key]["received"] > polled and b.values[key]["state"] == "fresh",
                        5, "the next poll refreshes it")
    # The session nobody can poll expires (3 s here) with its subscriptions: found lost, made again.
    await eventually(lambda: bridge.bridge.book.lost_total > 0, 15, "the session's subscriptions found lost")
    await eventually(lambda: truth_with(control_api, set(keys)), 10, "created again while polling")
    await until_equal(browser, control_api, keys, "polled values of the new subscriptions equal to the truth")
    assert browser.connection["upstream"] == "polling"
    status = store.read_status()
    assert status["mode"] == "polling" and status["connection"]["upstream"] == "polling"
    assert metrics.upstream_state.labels(state="polling")._value.get() == 1
    exposition = metrics.render().decode()
    assert "ccdash_shared_polling 1.0" in exposition and 'ccdash_upstream_state{state="polling"} 1.0' in exposition
    await control_api.call("POST", "/clear-faults")
    await browser.until(lambda b: b.connection["upstream"] == "connected", 40, "streaming again")
    assert "poll_seconds" not in browser.connection
    await until_equal(browser, control_api, keys, "streamed values equal to the truth")
    await eventually(lambda: bridge.bridge.book.busy is False and not bridge.bridge.worker.need_resubscribe, 10, "settled")
    await once_each(control_api, keys)
    assert store.read_status()["mode"] == "streaming"
    assert "ccdash_shared_polling 0.0" in metrics.render().decode()
    await browser.communicator.disconnect()


@pytest.mark.parametrize("bridge_settings", [POLLING])
async def test_no_polling_status_while_rest_does_not_answer_either(simulator, bridge):
    control_api, browser, keys = await live_desk(simulator)
    await control_api.call("POST", "/fail", {"scope": "statistics", "status": 503, "count": "forever"})
    await control_api.call("POST", "/fail", {"scope": "notifications", "status": 503, "count": "forever"})
    await eventually(lambda: bridge.bridge.polling, 15, "CometD counted as blocked")
    # Polls go out (and fail): nothing can be fresh, and the status does not claim polling.
    await eventually(lambda: simulator.tenant.faults.armed("statistics") is not None and bridge.bridge.last_error, 10,
                     "a poll failed")
    await browser.until(lambda b: all(b.values[k]["state"] == "stale" for k in keys), 5, "every value stale")
    assert browser.connection["upstream"] == "reconnecting"
    assert store.read_status()["mode"] == "streaming"
    await control_api.call("POST", "/clear-faults", {"scope": "statistics"})
    await browser.until(lambda b: b.connection["upstream"] == "polling", 15, "POLLING once REST answers")
    await until_equal(browser, control_api, keys, "fresh polled values")
    await control_api.call("POST", "/clear-faults")
    await browser.until(lambda b: b.connection["upstream"] == "connected", 40, "streaming again")
    await browser.communicator.disconnect()
