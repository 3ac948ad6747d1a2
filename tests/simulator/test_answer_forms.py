"""Control-API arms for the answer forms the reference documents: lost subscriptions, failing
batches, partial success, blocked or proxy-cut notifications."""

import time

import pytest

from .helpers import QUEUE, Client, control

STATS = [{"statisticId": f"s{i}", "objectType": "Queue", "objectId": QUEUE, "name": name}
         for i, name in enumerate(["CallsWaiting", "CallsAnswered", "CallsAbandoned", "LongestWaitTime"])]


async def peek(client: Client, subscription_id: str):
    response = await client.request("GET", f"/statistics/v3/subscriptions/{subscription_id}/statistic-values")
    return response.status, await response.json()


@pytest.mark.parametrize("arm, status, code", [
    (None, 404, 404), ({"status": 404}, 404, 404), ({"status": 500}, 500, 500),
    ({"status": 200}, 200, 500), ({"status": 200, "code": 16}, 200, 16),
])
async def test_a_peek_of_a_lost_subscription_answers_the_armed_form(client: Client, arm, status, code):
    assert (await client.subscribe_statistics(STATS[:1], operation_id="op-1"))[0] == 200
    if arm is not None:
        assert (await control(client, "POST", "lost-peek", arm)) == (200, {"status": status, "code": code})
    assert (await control(client, "POST", "drop-subscriptions", {"ids": ["op-1", "nope"]})) == (200, {"dropped": 1})
    got_status, body = await peek(client, "op-1")
    assert got_status == status and body["status"]["code"] == code
    assert "op-1" in body["status"]["message"]


@pytest.mark.parametrize("body, message", [
    ({"status": 503}, "status must be 404, 500, or 200 with an error code"),
    ({"status": 404, "code": 3}, "status must be 404, 500, or 200 with an error code"),
    ({"status": 200, "code": 0}, "code must be an error status.code (not 0, 1 or 2)"),
    ({"status": 200, "code": 2}, "code must be an error status.code (not 0, 1 or 2)"),
])
async def test_bad_lost_peek_forms_are_refused(client: Client, body, message):
    assert (await control(client, "POST", "lost-peek", body)) == (400, {"message": message})


async def test_drop_subscriptions_without_ids_drops_everything(client: Client):
    await client.subscribe_statistics(STATS[:1], operation_id="a")
    await client.subscribe_statistics(STATS[1:2], operation_id="b")
    assert (await control(client, "POST", "drop-subscriptions")) == (200, {"dropped": 2})
    assert (await control(client, "GET", "state"))[1]["subscriptions"] == 0
    assert (await control(client, "POST", "drop-subscriptions", {"ids": "a"}))[0] == 400


@pytest.mark.parametrize("fault, http_status, code", [
    ({"status": 500}, 500, 500), ({"status": 200, "code": 500}, 200, 500), ({"status": 200, "code": 13}, 200, 13),
])
async def test_one_create_fails_in_the_armed_form_and_the_next_succeeds(client: Client, fault, http_status, code):
    assert (await control(client, "POST", "fail", {"scope": "subscriptions", **fault}))[0] == 200
    status, body = await client.subscribe_statistics(STATS[:2], operation_id="op-1")
    assert status == http_status and body["status"]["code"] == code
    assert (await control(client, "GET", "state"))[1]["subscriptions"] == 0, "nothing created"
    status, body = await client.subscribe_statistics(STATS[:2], operation_id="op-2")
    assert status == 200 and body["status"]["code"] == 0
    # The subscriptions scope never touches peeks.
    assert (await peek(client, "op-2"))[0] == 200


async def test_an_armed_partial_success_refuses_half_by_name(client: Client):
    assert (await control(client, "POST", "fail", {"scope": "subscriptions", "status": 200, "code": 2}))[0] == 200
    status, body = await client.subscribe_statistics(STATS, operation_id="op-1")
    assert status == 200 and body["status"]["code"] == 2
    assert [s["statisticId"] for s in body["data"]["statistics"]] == ["s0", "s1"]
    assert [(e["status"]["detail"]["statisticId"], e["status"]["message"]) for e in body["errors"]] == \
        [("s2", "Simulated refusal: statistic not opened"), ("s3", "Simulated refusal: statistic not opened")]
    assert (await control(client, "GET", "state"))[1]["statistics"] == 2


async def test_peek_faults_answer_500_or_200_with_an_error_code(client: Client):
    await client.subscribe_statistics(STATS[:1], operation_id="op-1")
    await control(client, "POST", "fail", {"scope": "peek", "status": 200, "code": 500, "count": 2})
    for _ in range(2):
        status, body = await peek(client, "op-1")
        assert status == 200 and body["status"]["code"] == 500
    assert (await peek(client, "op-1"))[0] == 200


async def test_notifications_blocked_forever_until_cleared(client: Client):
    armed = await control(client, "POST", "fail", {"scope": "notifications", "status": 503, "count": "forever"})
    assert armed == (200, {"armed": {"notifications": {"status": 503, "count": "forever"}}})
    for _ in range(4):
        status, _body = await client.bayeux([{"channel": "/meta/handshake", "version": "1.0",
                                             "supportedConnectionTypes": ["long-polling"]}])
        assert status == 503
    assert (await control(client, "POST", "clear-faults", {"scope": "notifications"})) == (200, {"cleared": 1, "armed": {}})
    await client.handshake()


async def test_notifications_cut_by_a_proxy_after_n_seconds(client: Client):
    await control(client, "POST", "fail", {"scope": "notifications", "cut_after": 0.3, "count": "forever"})
    started = time.monotonic()
    status, body = await client.bayeux([{"channel": "/meta/handshake", "version": "1.0",
                                        "supportedConnectionTypes": ["long-polling"]}])
    assert status == 504 and body == {"message": "Gateway Timeout"} and time.monotonic() - started >= 0.3
    state = (await control(client, "GET", "state"))[1]
    assert state["sessions"] == 0, "the service never saw it"
    assert state["faults"] == {"notifications": {"status": 504, "count": "forever", "cut_after": 0.3}}
    await control(client, "POST", "clear-faults")
    await client.handshake()


@pytest.mark.parametrize("body, message", [
    ({"scope": "auth", "status": 200}, "status must be an HTTP error status (400-599)"),
    ({"scope": "peek", "status": 200, "code": 2}, "status 200 needs an error code (2, partial success, for subscriptions only)"),
    ({"scope": "statistics", "status": 200}, "status 200 needs an error code (2, partial success, for subscriptions only)"),
    ({"scope": "statistics", "cut_after": 1}, "cut_after is for the notifications scope"),
    ({"scope": "notifications", "cut_after": -1}, "cut_after must be a number of seconds (0-600)"),
    ({"scope": "auth", "status": 500, "code": 7}, "code must be an integer, for the statistics, subscriptions and peek scopes"),
    ({"scope": "auth", "status": 500, "count": "always"}, 'count must be a positive integer or "forever"'),
])
async def test_bad_fault_forms_are_refused(client: Client, body, message):
    assert (await control(client, "POST", "fail", body)) == (400, {"message": message})
    assert (await control(client, "POST", "clear-faults", {"scope": "everything"}))[0] == 400


async def test_a_lost_reply_creates_the_subscription_and_answers_the_error(client: Client):
    fault = {"scope": "subscriptions", "status": 504, "lost_reply": True}
    assert (await control(client, "POST", "fail", fault))[1]["armed"]["subscriptions"]["lost_reply"] is True
    status, body = await client.subscribe_statistics(STATS[:2], operation_id="op-1")
    assert status == 504 and body["status"]["code"] == 504
    assert (await peek(client, "op-1"))[0] == 200, "it exists all the same"
    assert (await control(client, "POST", "fail", {"scope": "peek", "status": 500, "lost_reply": True}))[0] == 400
