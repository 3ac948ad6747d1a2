"""The CometD notifications endpoint: a Bayeux 1.0 long-polling server as the official clients expect."""

import asyncio
import json
import time

import pytest
from yarl import URL

from tests.fixtures_simulator import fast_config

from .helpers import NOTIFICATIONS, Client, control, updates_in, wait_until

HANDSHAKE = {"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
             "supportedConnectionTypes": ["long-polling", "callback-polling"],
             "advice": {"timeout": 60000, "interval": 0}, "id": "1"}
LIVELY_STATS = [{"statisticId": f"s{n}", "objectType": "Agent", "objectId": f"agent{n:03d}",
                     "name": "TimeInCurrentState"} for n in range(1, 5)]


async def test_handshake_reply_and_cookies(client: Client):
    response = await client.http.post(client.url + NOTIFICATIONS + "/handshake", json=[HANDSHAKE],
                                      headers=client.headers())
    reply = (await response.json())[0]
    assert reply["id"] == "1" and reply["successful"] and reply["clientId"]
    assert reply["version"] == "1.0" and "long-polling" in reply["supportedConnectionTypes"]
    assert reply["advice"] == {"reconnect": "retry", "interval": 0, "timeout": 400}
    cookies = {c.key: c for c in response.cookies.values()}
    assert set(cookies) == {"STATISTICS_SESSIONID", "BAYEUX_BROWSER"}
    for cookie in cookies.values():
        assert cookie["path"] == "/" and not cookie["secure"]


@pytest.mark.parametrize("suffix", ["", "/", "/handshake", "/connect", "/anything/else"])
async def test_dispatch_is_on_channel_never_on_path(client: Client, suffix):
    status, replies = await client.bayeux([HANDSHAKE], suffix)
    assert status == 200 and replies[0]["channel"] == "/meta/handshake" and replies[0]["successful"]
    client.client_id = replies[0]["clientId"]
    connect = {"channel": "/meta/connect", "clientId": client.client_id, "connectionType": "long-polling",
               "advice": {"timeout": 0}, "id": "2"}
    status, replies = await client.bayeux([connect], "/handshake")
    assert replies[-1]["channel"] == "/meta/connect" and replies[-1]["successful"]


async def test_chunked_body_and_single_object_body(client: Client):
    async def chunks():
        text = json.dumps([HANDSHAKE]).encode()
        yield text[:10]
        yield text[10:]
    response = await client.http.post(client.url + NOTIFICATIONS, data=chunks(),
                                      headers=client.headers(**{"Content-Type": "application/json"}))
    assert response.status == 200 and (await response.json())[0]["successful"]
    status, replies = await client.bayeux(HANDSHAKE)
    assert status == 200 and replies[0]["successful"]


async def test_first_connect_answers_at_once_later_ones_are_held(client: Client):
    await client.handshake()
    started = time.monotonic()
    first = await client.connect()
    assert time.monotonic() - started < 0.3 and first[-1]["successful"]
    started = time.monotonic()
    held = await client.connect()
    elapsed = time.monotonic() - started
    assert held[-1]["successful"] and held[-1]["advice"]["reconnect"] == "retry"
    assert 0.35 <= elapsed < 2.0, elapsed


async def test_held_connect_is_released_by_data(client: Client):
    await client.start_session()
    await client.connect()
    status, _ = await client.subscribe_statistics(LIVELY_STATS)
    assert status == 200
    messages = await client.collect(lambda got: updates_in(got), timeout=5)
    items = updates_in(messages)
    assert {i["statisticId"] for i in items} <= {s["statisticId"] for s in LIVELY_STATS}
    assert all(set(i) >= {"subscriptionId", "statisticId", "value", "timestamp"} for i in items)
    # The reference's sample form: name, topic, and the items at data.statistics.
    update = next(m for m in messages if m["channel"] == "/statistics/v3/updates")
    assert update["data"]["name"] == "StatisticUpdate" and update["data"]["topic"] == "/statistics/v3/updates"
    assert set(update["data"]) == {"name", "topic", "data"} and isinstance(update["data"]["data"]["statistics"], list)


async def test_unknown_client_gets_402_with_handshake_advice(client: Client):
    for channel in ("/meta/connect", "/meta/subscribe", "/meta/unsubscribe", "/meta/disconnect"):
        status, replies = await client.bayeux([{"channel": channel, "clientId": "nobody", "id": "9",
                                                "subscription": "/statistics/v3/updates"}])
        assert status == 200
        assert replies == [{"channel": channel, "id": "9", "successful": False, "error": "402::Unknown client",
                            "advice": {"reconnect": "handshake", "interval": 0}}]


async def test_subscribe_rules_and_publish_denied(client: Client):
    await client.handshake()
    assert (await client.meta_subscribe("/statistics/v3/updates"))["subscription"] == "/statistics/v3/updates"
    assert (await client.meta_subscribe("statistics/v3/service"))["error"] == "400::invalid channel"
    assert (await client.meta_subscribe("/chat/room"))["error"] == "403::subscription denied"
    _status, replies = await client.bayeux([{"channel": "/statistics/v3/updates", "clientId": client.client_id,
                                             "data": {}, "id": "5"}])
    assert replies[0]["error"] == "403::publish denied" and replies[0]["id"] == "5"
    _status, replies = await client.bayeux([{"channel": "/meta/unsubscribe", "clientId": client.client_id,
                                            "subscription": "/statistics/v3/updates"}])
    assert replies[0]["successful"]


async def test_bad_requests_to_the_endpoint(client: Client):
    response = await client.http.post(client.url + NOTIFICATIONS, data=b"[{", headers=client.headers())
    assert response.status == 400 and "not valid JSON" in (await response.json())["message"]
    wrong_key = await client.http.post(client.url + NOTIFICATIONS, json=[HANDSHAKE],
                                       headers=client.headers(**{"x-api-key": "nope"}))
    assert wrong_key.status == 403
    no_token = await client.http.post(client.url + NOTIFICATIONS, json=[HANDSHAKE],
                                      headers={"x-api-key": "demo-api-key"})
    assert no_token.status == 401
    _status, replies = await client.bayeux([{**HANDSHAKE, "supportedConnectionTypes": ["websocket"]}])
    assert replies[0]["successful"] is False and replies[0]["advice"] == {"reconnect": "none"}


async def test_notification_faults(client: Client):
    await client.handshake()
    await control(client, "POST", "fail", {"status": 502, "count": 1, "scope": "notifications"})
    status, body = await client.bayeux([{"channel": "/meta/connect", "clientId": client.client_id}])
    assert status == 502 and body == {"message": "Bad Gateway"}
    assert (await client.connect())[-1]["successful"]


async def test_rest_subscription_before_meta_subscribe_still_delivers(client: Client):
    await client.handshake()
    await client.connect(first=True)
    status, _ = await client.subscribe_statistics(LIVELY_STATS, operation_id="early")
    assert status == 200
    messages = await client.collect(lambda got: updates_in(got))
    assert {i["subscriptionId"] for i in updates_in(messages)} == {"early"}


async def test_one_cookie_header_per_cookie_is_read(client: Client):
    await client.handshake()
    session_cookie = client.http.cookie_jar.filter_cookies(URL(client.url))["STATISTICS_SESSIONID"].value
    bare = Client(client.url)
    bare.token = client.token
    try:
        response = await bare.http.post(
            client.url + "/statistics/v3/subscriptions",
            json={"operationId": "cookie", "data": {"statistics": LIVELY_STATS}},
            headers=[*client.headers().items(), ("Cookie", "BAYEUX_BROWSER=x"),
                     ("Cookie", f"STATISTICS_SESSIONID={session_cookie}")])
        assert response.status == 200
    finally:
        await bare.close()
    await client.connect(first=True)
    messages = await client.collect(lambda got: updates_in(got))
    assert {i["subscriptionId"] for i in updates_in(messages)} == {"cookie"}


async def test_subscription_without_session_cookie_is_peekable_but_silent(simulator, client: Client):
    bare = Client(simulator.url)
    bare.token = client.token
    try:
        status, _ = await bare.subscribe_statistics(LIVELY_STATS, operation_id="loose")
        assert status == 200
        await client.start_session()
        replies = await client.connect()  # held through several evaluations
        assert updates_in(replies) == []
        peek = await bare.request("GET", "/statistics/v3/subscriptions/loose/statistic-values")
        assert peek.status == 200
    finally:
        await bare.close()


async def test_disconnect_ends_session_and_its_subscriptions(client: Client):
    await client.start_session()
    await client.subscribe_statistics(LIVELY_STATS)
    _status, replies = await client.bayeux([{"channel": "/meta/disconnect", "clientId": client.client_id, "id": "d"}])
    assert replies[0]["successful"]
    state = (await control(client, "GET", "state"))[1]
    assert state["sessions"] == 0 and state["subscriptions"] == 0
    assert (await client.connect())[0]["error"] == "402::Unknown client"


async def test_forget_clients_drops_sessions_and_subscriptions(simulator, client: Client, make_client):
    other = await make_client()
    silent = [{**s, "name": None, "definition": {"category": "CurrentTime", "notificationMode": "NoNotification"}}
              for s in LIVELY_STATS]
    for each in (client, other):
        await each.start_session()
        assert (await each.subscribe_statistics(silent))[0] == 200
    held = asyncio.create_task(client.connect())
    hub = simulator.tenant.hub
    await wait_until(lambda: hub.by_client_id[client.client_id].waiter is not None, message="connect held")
    status, body = await control(client, "POST", "forget-clients")
    assert status == 200 and body["forgotten"] == 2
    replies = await asyncio.wait_for(held, 3)
    assert replies[-1]["error"] == "402::Unknown client" and replies[-1]["advice"]["reconnect"] == "handshake"
    assert (await other.connect())[0]["error"] == "402::Unknown client"
    state = (await control(client, "GET", "state"))[1]
    assert (state["sessions"], state["subscriptions"], state["statistics"]) == (0, 0, 0)


async def test_idle_session_expires_with_its_subscriptions(client: Client):
    await client.start_session()
    await client.subscribe_statistics(LIVELY_STATS)
    assert (await control(client, "GET", "state"))[1]["subscriptions"] == 1

    async def expired():
        state = (await control(client, "GET", "state"))[1]
        return state["sessions"] == 0 and state["subscriptions"] == 0
    await wait_until(expired, timeout=8, message="session expiry (3 s without polling)")
    assert (await client.connect())[0]["error"] == "402::Unknown client"


async def test_service_state_changes_are_notified_and_drop_subscriptions(client: Client):
    await client.start_session()
    await client.subscribe_statistics(LIVELY_STATS, operation_id="dropped")
    await control(client, "POST", "service", {"state": "unavailable"})
    messages = await client.collect(lambda got: any(m["channel"] == "/statistics/v3/service" for m in got))
    service = [m for m in messages if m["channel"] == "/statistics/v3/service"]
    # Exactly the reference's samples (reference lines ~5090-5110).
    assert service[0]["data"] == {"data": {"serviceState": "UNAVAILABLE"}, "name": "ServiceStateChange",
                                  "topic": "/statistics/v3/service"}
    assert (await control(client, "GET", "state"))[1]["subscriptions"] == 0
    await control(client, "POST", "service", {"state": "AVAILABLE"})
    messages = await client.collect(lambda got: any(m["channel"] == "/statistics/v3/service" for m in got))
    assert [m["data"] for m in messages if m["channel"] == "/statistics/v3/service"] == [
        {"data": {"serviceState": "AVAILABLE"}, "name": "ServiceStateChange", "topic": "statistics/v3/service"}]


class TestFlatNesting:
    @pytest.fixture
    def simulator_config(self):
        return fast_config(notification_nesting="flat")

    async def test_items_sit_directly_under_data(self, client: Client):
        await client.start_session()
        await client.subscribe_statistics(LIVELY_STATS)
        messages = await client.collect(lambda got: updates_in(got))
        update = next(m for m in messages if m["channel"] == "/statistics/v3/updates")
        assert update["data"]["name"] == "StatisticUpdate" and "statistics" in update["data"]


class TestMessageTypeDialect:
    @pytest.fixture
    def simulator_config(self):
        return fast_config(notification_dialect="messageType")

    async def test_the_former_dialect_on_demand(self, client: Client):
        await client.start_session()
        await client.subscribe_statistics(LIVELY_STATS)
        messages = await client.collect(lambda got: updates_in(got))
        update = next(m for m in messages if m["channel"] == "/statistics/v3/updates")
        assert set(update["data"]) == {"messageType", "data"} and update["data"]["messageType"] == "StatisticUpdate"


class TestBoundedQueue:
    @pytest.fixture
    def simulator_config(self):
        return fast_config(max_queue_per_session=5, session_expiry_seconds=30)

    async def test_oldest_messages_are_dropped_beyond_the_limit(self, client: Client):
        await client.start_session()
        await client.subscribe_statistics(LIVELY_STATS)
        await control(client, "POST", "load", {"updates_per_second": 500})

        async def overflowed():
            return (await control(client, "GET", "state"))[1]["droppedMessages"] >= 3
        await wait_until(overflowed, timeout=5, message="messages dropped from the full queue")
        # Stopped before the connect drains the queue: stopped after, the load (every 20 ms)
        # could queue more in between on a loaded machine.
        await control(client, "POST", "load", {"updates_per_second": 0})
        replies = await client.connect()
        data = [r for r in replies if r["channel"] == "/statistics/v3/updates"]
        assert len(data) == 5
        state = (await control(client, "GET", "state"))[1]
        assert state["queuedMessages"] == 0
