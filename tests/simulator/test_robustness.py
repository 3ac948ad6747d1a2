"""Arbitrary input never breaks the simulator: every bad request gets a clear 4xx, never a 500."""

import asyncio
import json
import urllib.error
import urllib.request

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statsbridge.simulator.bayeux import SessionHub

from .helpers import CONTROL

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children,
                                                                                        max_size=3),
                    max_leaves=8)
CHANNELS = st.sampled_from(["/meta/handshake", "/meta/connect", "/meta/subscribe", "/meta/unsubscribe",
                            "/meta/disconnect", "/meta/other", "/statistics/v3/updates", "nope"]) | JSON
MESSAGES = st.lists(st.one_of(JSON, st.fixed_dictionaries(
    {"channel": CHANNELS},
    optional={"clientId": JSON, "id": JSON, "subscription": JSON, "advice": JSON,
              "supportedConnectionTypes": JSON})), max_size=4)


@settings(max_examples=200, deadline=None)
@given(MESSAGES)
def test_any_bayeux_batch_gets_one_reply_per_message(messages):
    hub = SessionHub(connect_timeout_ms=0, expiry_seconds=10, max_queue=5, on_session_end=lambda s: None)
    replies, _ = asyncio.run(hub.process(messages, {}))
    assert len(replies) == len(messages)
    for message, reply in zip(messages, replies, strict=True):
        assert isinstance(reply["successful"], bool)
        if isinstance(message, dict) and message.get("channel") == "/meta/connect" and not reply["successful"]:
            assert reply["advice"]["reconnect"] == "handshake"
    json.dumps(replies)


DESCRIPTOR = st.fixed_dictionaries({}, optional={
    "statisticId": st.text(max_size=4) | JSON, "objectType": st.sampled_from(["Agent", "Queue", "GroupAgents"]) | JSON,
    "objectId": st.sampled_from(["agent001", "Sales", "VQ_Sales@SIP_Switch"]) | JSON,
    "name": st.sampled_from(["CallsWaiting", "CurrentAgentState", "AgentsReady"]) | JSON,
    "definition": st.fixed_dictionaries({}, optional={
        "category": st.sampled_from(["CurrentNumber", "CurrentState"]) | JSON, "notificationMode": JSON,
        "notificationFrequency": JSON, "insensitivity": JSON, "intervalType": JSON, "intervalLength": JSON}) | JSON,
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(JSON, st.fixed_dictionaries({"operationId": st.uuids().map(str) | JSON, "data": st.one_of(
    JSON, st.fixed_dictionaries({"statistics": st.lists(DESCRIPTOR | JSON, max_size=3)}))})))
def test_any_subscription_body_gets_a_clear_answer(simulator_thread, body):
    url = simulator_thread.url
    grant = urllib.request.Request(url + "/auth/v3/oauth/token", data=b"grant_type=client_credentials", headers={
        "x-api-key": "demo-api-key", "Authorization": "Basic ZGVtby1jbGllbnQ6ZGVtby1zZWNyZXQ="})
    with urllib.request.urlopen(grant, timeout=5) as response:
        token = json.load(response)["access_token"]
    request = urllib.request.Request(url + "/statistics/v3/subscriptions", data=json.dumps(body).encode(), headers={
        "x-api-key": "demo-api-key", "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, reply = response.status, json.load(response)
    except urllib.error.HTTPError as error:
        status, reply = error.code, json.load(error)
    assert status in (200, 400), (status, reply)
    assert reply["status"]["code"] in ((0, 2) if status == 200 else (400,)) and reply["status"]["message"]


async def test_deeply_nested_bodies_get_400_not_500(client):
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/statistics/v3/notifications", "/statistics/v3/subscriptions"):
        response = await client.http.post(client.url + path, data=deep, headers=client.headers())
        assert response.status == 400, path
        assert "nested too deeply" in await response.text()
    response = await client.http.post(client.url + "/simulator/service", data=deep, headers=CONTROL)
    assert response.status == 400
