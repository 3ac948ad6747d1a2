"""The control API under /simulator/: its key, its inspection calls, and its refusals."""

import pytest

from .helpers import AGENT, CONTROL, QUEUE, Client, control


@pytest.mark.parametrize("method, path", [("POST", "service"), ("POST", "forget-clients"), ("POST", "fail"),
                                          ("POST", "revoke-tokens"), ("POST", "load"), ("GET", "state"),
                                          ("GET", "values"), ("GET", "catalog")])
async def test_control_key_required_and_tenant_key_never_opens_it(client: Client, method, path):
    for headers in ({}, {"x-simulator-key": "wrong"}, {"x-simulator-key": "demo-api-key"},
                    {"x-api-key": "demo-api-key", "Authorization": f"Bearer {client.token}"}):
        response = await client.http.request(method, f"{client.url}/simulator/{path}", json={}, headers=headers)
        assert response.status == 403 and await response.json() == {"message": "Forbidden"}


async def test_state_values_and_catalog(client: Client):
    status, state = await control(client, "GET", "state")
    assert status == 200
    assert {k: state[k] for k in ("serviceState", "sessions", "subscriptions", "statistics")} == \
        {"serviceState": "AVAILABLE", "sessions": 0, "subscriptions": 0, "statistics": 0}
    await client.subscribe_statistics([{"statisticId": "a", "objectType": "Agent", "objectId": AGENT,
                                        "name": "CurrentAgentState"}], operation_id="s1")
    values = (await control(client, "GET", "values"))[1]["values"]
    assert len(values) == 1
    assert {k: values[0][k] for k in ("subscriptionId", "statisticId", "name", "objectType", "objectId")} == \
        {"subscriptionId": "s1", "statisticId": "a", "name": "CurrentAgentState", "objectType": "Agent",
         "objectId": AGENT}
    assert values[0]["value"]["agentId"] == AGENT and isinstance(values[0]["timestamp"], int)
    catalog = (await control(client, "GET", "catalog"))[1]
    assert len(catalog["objects"]["Agent"]) == 24 and QUEUE in catalog["objects"]["Queue"]
    assert catalog["objects"]["GroupAgents"] == ["Sales", "Support", "Billing", "Retention"]
    members = catalog["groups"]
    assert list(members) == catalog["objects"]["GroupAgents"]
    # Every agent is in exactly one group.
    assert sorted(a for agents in members.values() for a in agents) == sorted(catalog["objects"]["Agent"])
    assert all(members[g] for g in members)
    names = {s["name"]: s for s in catalog["statistics"]}
    required = {"CurrentAgentState", "TimeInCurrentState", "CallsWaiting", "LongestWaitTime", "ServiceLevel",
                "AverageSpeedOfAnswer", "AverageHandlingTime", "CallsAnswered", "CallsAbandoned", "AgentsReady",
                "AgentsNotReady", "AgentsTalking"}
    assert required <= set(names)
    assert all(s["description"] and s["objectTypes"] for s in catalog["statistics"])


@pytest.mark.parametrize("path, body, message", [
    ("service", {"state": "SLEEPY"}, "state must be AVAILABLE or UNAVAILABLE"),
    ("service", [1], "body must be a JSON object"),
    ("fail", {"status": 200, "scope": "auth"}, "status must be an HTTP error status (400-599)"),
    ("fail", {"status": 503, "scope": "everything"}, "scope must be one of statistics, subscriptions, peek, auth, notifications"),
    ("fail", {"status": 503, "scope": "auth", "count": 0}, 'count must be a positive integer or "forever"'),
    ("load", {"updates_per_second": -1}, "updates_per_second must be a non-negative number"),
    ("load", {}, "updates_per_second must be a non-negative number"),
    ("revoke-tokens", {"refresh": "yes"}, "refresh must be a boolean"),
])
async def test_bad_control_requests_get_400(client: Client, path, body, message):
    status, reply = await control(client, "POST", path, body)
    assert status == 400 and reply == {"message": message}
    state = (await control(client, "GET", "state"))[1]
    assert state["faults"] == {} and state["loadUpdatesPerSecond"] == 0 and state["serviceState"] == "AVAILABLE"


async def test_invalid_json_body_is_refused(client: Client):
    response = await client.http.post(client.url + "/simulator/service", data=b"{", headers=CONTROL)
    assert response.status == 400 and (await response.json()) == {"message": "body must be a JSON object"}
