"""The simulated Statistics API: envelope, the five calls, and every documented error."""

import pytest

from .helpers import AGENT, GROUP, QUEUE, Client, control

WAITING = {"statisticId": "waiting", "objectType": "Queue", "objectId": QUEUE, "name": "CallsWaiting"}
STATE = {"statisticId": "state", "objectType": "Agent", "objectId": AGENT, "name": "CurrentAgentState"}
READY = {"statisticId": "ready", "objectType": "GroupAgents", "objectId": GROUP, "name": "AgentsReady"}


async def values_of(client: Client) -> dict:
    status, body = await control(client, "GET", "values")
    assert status == 200
    return {(v["subscriptionId"], v["statisticId"]): v for v in body["values"]}


async def test_create_subscription_echoes_operation_id_and_returns_true_values(client: Client):
    status, body = await client.subscribe_statistics([WAITING, STATE, READY], operation_id="op-1")
    assert status == 200
    assert body["status"] == {"code": 0, "message": "OK"} and body["path"] == "/statistics/v3/subscriptions"
    assert body["data"]["operationId"] == body["data"]["subscriptionId"] == "op-1"
    items = {s["statisticId"]: s for s in body["data"]["statistics"]}
    assert set(items) == {"waiting", "state", "ready"}
    truth = await values_of(client)
    for statistic_id, item in items.items():
        names = {"waiting": "CallsWaiting", "state": "CurrentAgentState", "ready": "AgentsReady"}
        assert item["name"] == names[statistic_id]
        assert isinstance(item["timestamp"], int) and item["timestamp"] > 1_600_000_000_000
        assert truth[("op-1", statistic_id)]["objectId"] == item["objectId"]
    assert items["state"]["value"]["agentId"] == AGENT


async def test_verbose_off_omits_descriptors(client: Client):
    status, body = await client.subscribe_statistics([WAITING], verbose="OFF")
    assert status == 200
    assert set(body["data"]["statistics"][0]) == {"statisticId", "value", "timestamp"}
    status, body = await client.subscribe_statistics([WAITING], verbose="LOUD")
    assert status == 400 and body["status"]["message"] == "verbose must be INFO or OFF"


async def test_partial_success_has_code_2_and_one_error_per_failure(client: Client):
    bad_name = {"statisticId": "x", "objectType": "Queue", "objectId": QUEUE, "name": "Nope"}
    bad_object = {"statisticId": "y", "objectType": "Queue", "objectId": "VQ_Mars", "name": "CallsWaiting"}
    status, body = await client.subscribe_statistics([WAITING, bad_name, bad_object], operation_id="op-2")
    assert status == 200 and body["status"]["code"] == 2
    assert [s["statisticId"] for s in body["data"]["statistics"]] == ["waiting"]
    assert [e["status"]["detail"]["statisticId"] for e in body["errors"]] == ["x", "y"]
    assert body["errors"][0]["status"]["message"] == "unknown statistic name 'Nope'"
    state = (await control(client, "GET", "state"))[1]
    assert state["subscriptions"] == 1 and state["statistics"] == 1


@pytest.mark.parametrize("payload, message", [
    ({"data": {"statistics": [WAITING]}}, "operationId is required"),
    ({"operationId": "a", "data": {"statistics": []}}, "data.statistics must be a non-empty list"),
    ({"operationId": "a"}, "data.statistics must be a non-empty list"),
    ({"operationId": "a", "data": {"statistics": [{"objectType": "Queue", "objectId": QUEUE, "name": "CallsWaiting"}]}},
     "no statistic could be opened"),
    ({"operationId": "a", "data": {"statistics": [WAITING, WAITING]}}, None),
    ([1, 2], "request body must be a JSON object"),
])
async def test_bad_subscription_requests_get_400(client: Client, payload, message):
    response = await client.request("POST", "/statistics/v3/subscriptions", json=payload)
    body = await response.json()
    if message is None:  # a duplicate statisticId fails that item only
        assert response.status == 200 and body["status"]["code"] == 2
        assert body["errors"][0]["status"]["message"] == "duplicate statisticId 'waiting'"
        return
    assert response.status == 400 and body["status"] == {"code": 400, "message": message}


async def test_invalid_json_and_duplicate_operation(client: Client):
    response = await client.request("POST", "/statistics/v3/subscriptions", data=b"{nope",
                                    headers=client.headers(**{"Content-Type": "application/json"}))
    assert response.status == 400 and "not valid JSON" in (await response.json())["status"]["message"]
    assert (await client.subscribe_statistics([WAITING], operation_id="dup"))[0] == 200
    status, body = await client.subscribe_statistics([WAITING], operation_id="dup")
    assert status == 400 and body["status"]["message"] == "subscription dup already exists"


@pytest.mark.parametrize("query, expected", [
    ("", ["waiting", "state", "ready"]),
    ("?statisticIds=state,ready", ["state", "ready"]),
    ("?statisticIds=state&statisticIds=waiting", ["state", "waiting"]),
    ("?statisticIds=ready&verbose=OFF", ["ready"]),
])
async def test_peek_accepts_both_statistic_ids_forms(client: Client, query, expected):
    await client.subscribe_statistics([WAITING, STATE, READY], operation_id="peek")
    response = await client.request("GET", f"/statistics/v3/subscriptions/peek/statistic-values{query}")
    body = await response.json()
    assert response.status == 200 and body["status"]["code"] == 0
    assert [s["statisticId"] for s in body["data"]["statistics"]] == expected
    for item in body["data"]["statistics"]:
        assert ("name" in item) == ("verbose=OFF" not in query)


async def test_peek_errors(client: Client):
    response = await client.request("GET", "/statistics/v3/subscriptions/ghost/statistic-values")
    assert response.status == 404 and (await response.json())["status"]["message"] == "subscription ghost not found"
    await client.subscribe_statistics([WAITING], operation_id="p2")
    partial = await client.request("GET", "/statistics/v3/subscriptions/p2/statistic-values?statisticIds=waiting,zzz")
    body = await partial.json()
    assert partial.status == 200 and body["status"]["code"] == 2
    assert body["errors"][0]["status"]["detail"] == {"statisticId": "zzz"}
    none = await client.request("GET", "/statistics/v3/subscriptions/p2/statistic-values?statisticIds=zzz")
    assert none.status == 400


async def test_delete_always_succeeds_and_removes(client: Client):
    await client.subscribe_statistics([WAITING, STATE], operation_id="gone")
    for _ in range(2):
        response = await client.request("DELETE", "/statistics/v3/subscriptions/gone")
        assert response.status == 200 and (await response.json())["status"]["code"] == 0
    assert (await control(client, "GET", "state"))[1]["statistics"] == 0
    assert (await client.request("GET", "/statistics/v3/subscriptions/gone/statistic-values")).status == 404


async def test_delete_succeeds_even_while_the_service_is_unavailable(client: Client):
    await client.subscribe_statistics([WAITING], operation_id="kept")
    await control(client, "POST", "service", {"state": "UNAVAILABLE"})
    for subscription_id in ("kept", "never-existed"):
        response = await client.request("DELETE", f"/statistics/v3/subscriptions/{subscription_id}")
        assert response.status == 200 and (await response.json())["status"]["code"] == 0


async def test_the_references_sample_subscription_is_accepted_verbatim(client: Client):
    # The reference's POST /subscriptions sample, with this tenant's agent for "agent".
    sample = [
        {"statisticId": "UUID2", "objectId": AGENT, "objectType": "Agent", "name": "AverageHandlingTime"},
        {"statisticId": "UUID3", "objectId": AGENT, "objectType": "Agent", "definition": {
            "notificationMode": "Periodical", "notificationFrequency": 10, "insensitivity": 1,
            "category": "TotalAdjustedTime", "subject": "DNStatus", "intervalType": "GrowingWindow",
            "mainMask": "WaitForNextCall", "dynamicTimeProfile": "00:00", "dynamicFilter": "Media=voice",
            "maskType": "DN"}},
        {"statisticId": "UUID4", "objectId": AGENT, "objectType": "Agent", "definition": {
            "category": "TotalNumberInTimeRange", "subject": "DNAction", "mainMask": "CallConsult"}},
    ]
    status, body = await client.subscribe_statistics(sample, operation_id="UUID1")
    assert status == 200 and body["status"]["code"] == 0, body
    assert body["data"]["subscriptionId"] == body["data"]["operationId"] == "UUID1"
    by_id = {s["statisticId"]: s for s in body["data"]["statistics"]}
    assert isinstance(by_id["UUID3"]["value"]["value"], int), "ready seconds, computed by the model"
    assert by_id["UUID4"]["value"] == {}, "well formed but not modelled: no value yet"


async def test_armed_refusals_answer_the_documented_403_forms(client: Client):
    armed = await control(client, "POST", "refuse", {"method": "POST", "path": "/statistics/v3/subscriptions",
                                                     "status": 403, "form": "envelope"})
    assert armed[0] == 200
    status, body = await client.subscribe_statistics([WAITING])
    assert status == 403 and body == {"status": {"code": 403, "message": "Forbidden"},
                                      "path": "/statistics/v3/subscriptions"}
    assert (await client.subscribe_statistics([WAITING]))[0] == 200, "one request, as armed"
    await control(client, "POST", "refuse", {"method": "GET", "path": "/statistics/v3/subscriptions/x/statistic-values",
                                             "status": 403, "form": "api-key", "count": 2})
    for _ in range(2):
        response = await client.request("GET", "/statistics/v3/subscriptions/x/statistic-values")
        assert response.status == 403 and await response.json() == {"message": "Forbidden"}
    assert (await client.request("GET", "/statistics/v3/subscriptions/x/statistic-values")).status == 404
    bad = await control(client, "POST", "refuse", {"path": "nowhere"})
    assert bad == (400, {"message": "path must be a request path such as /statistics/v3/subscriptions"})


async def test_get_statistic_ex_and_partial_failure(client: Client):
    infos = [{"name": "CallsWaiting", "objectId": QUEUE, "objectType": "Queue"},
             {"name": "AgentsTalking", "objectId": GROUP, "objectType": "GroupAgents"},
             {"name": "CallsWaiting", "objectId": "VQ_Mars", "objectType": "Queue"}]
    response = await client.request("POST", "/statistics/v3/operations/get-statistic-ex",
                                    json={"data": {"statistics": infos}})
    body = await response.json()
    assert response.status == 200 and body["status"]["code"] == 2
    assert [(s["name"], s["objectId"]) for s in body["data"]["statistics"]] == [("CallsWaiting", QUEUE),
                                                                                 ("AgentsTalking", GROUP)]
    assert all(set(s) == {"name", "objectId", "objectType", "value", "timestamp"} for s in body["data"]["statistics"])
    assert body["errors"][0]["status"]["detail"] == {"index": 2, "name": "CallsWaiting"}
    all_bad = await client.request("POST", "/statistics/v3/operations/get-statistic-ex",
                                   json={"data": {"statistics": infos[2:]}})
    assert all_bad.status == 400
    empty = await client.request("POST", "/statistics/v3/operations/get-statistic-ex", json={"data": {}})
    assert empty.status == 400


async def test_statistic_values_single_read(client: Client):
    response = await client.request("GET", f"/statistics/v3/statistic-values/CurrentAgentState"
                                           f"?objectId={AGENT}&objectType=Agent")
    body = await response.json()
    assert response.status == 200 and body["data"]["statistic"]["value"]["agentId"] == AGENT
    missing = await client.request("GET", "/statistics/v3/statistic-values/CurrentAgentState?objectType=Agent")
    assert missing.status == 400 and (await missing.json())["status"]["message"] == "objectId is required"
    unknown = await client.request("GET", f"/statistics/v3/statistic-values/Bogus?objectId={AGENT}&objectType=Agent")
    assert unknown.status == 400 and (await unknown.json())["status"]["message"] == "unknown statistic name 'Bogus'"


async def test_gateway_errors(client: Client):
    for headers, status in (({"Authorization": f"Bearer {client.token}"}, 403),
                            ({"x-api-key": "wrong", "Authorization": f"Bearer {client.token}"}, 403),
                            ({"x-api-key": "demo-api-key"}, 401),
                            ({"x-api-key": "demo-api-key", "Authorization": "Bearer nope"}, 401)):
        response = await client.request("GET", "/statistics/v3/subscriptions/x/statistic-values", headers=headers)
        assert response.status == status
    unknown = await client.request("GET", "/statistics/v3/nothing-here")
    assert unknown.status == 404 and (await unknown.json())["status"]["code"] == 404


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_statistics_faults_hit_exactly_count_requests(client: Client, status):
    await control(client, "POST", "fail", {"status": status, "count": 2, "scope": "statistics"})
    for _ in range(2):
        response = await client.request("POST", "/statistics/v3/operations/get-statistic-ex",
                                        json={"data": {"statistics": [WAITING]}})
        assert response.status == status
        assert (await response.json())["status"]["code"] == status
    assert (await client.subscribe_statistics([WAITING]))[0] == 200


async def test_unavailable_service_answers_503_and_drops_subscriptions(client: Client):
    await client.subscribe_statistics([WAITING], operation_id="before")
    await control(client, "POST", "service", {"state": "UNAVAILABLE"})
    status, body = await client.subscribe_statistics([WAITING])
    assert status == 503 and body["status"]["message"] == "Statistics service is unavailable"
    await control(client, "POST", "service", {"state": "AVAILABLE"})
    response = await client.request("GET", "/statistics/v3/subscriptions/before/statistic-values")
    assert response.status == 404
    assert (await client.subscribe_statistics([WAITING]))[0] == 200


async def test_custom_definition_subscription(client: Client):
    definition = {"category": "CurrentNumber", "subject": "DNAction", "mainMask": "CallWait",
                  "notificationMode": "Periodical", "notificationFrequency": 2, "intervalType": "GrowingWindow"}
    custom = {"statisticId": "c", "objectType": "Queue", "objectId": QUEUE, "definition": definition}
    bad = {"statisticId": "d", "objectType": "Queue", "objectId": QUEUE,
           "definition": {"category": "CurrentNumber", "notificationMode": "Sometimes"}}
    status, body = await client.subscribe_statistics([custom, bad])
    assert status == 200 and body["status"]["code"] == 2
    assert body["data"]["statistics"][0]["name"] == "CallsWaiting"
    assert body["errors"][0]["status"]["message"].startswith("definition.notificationMode must be one of")
