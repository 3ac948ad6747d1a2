"""The upstream client against our Genesys simulator: OAuth, REST, CometD and the tail command.

The simulator (statsbridge/simulator) is wire-faithful to the Genesys APIs, with the
demo tenant's credentials; these tests use its control API to revoke tokens, forget
sessions and inject failures.
"""

import pytest

from statsbridge.upstream.auth import TokenProvider
from statsbridge.upstream.bayeux import Fatal, Message
from statsbridge.upstream.errors import BadApiKey, BadUserCredentials
from statsbridge.upstream.http import create_session
from tests.upstream.helpers import wait_for
from tests.upstream.simulated import AGENTS, SERVICE, agent_states, control, demo_credentials
from tests.upstream.tail_process import TailProcess


async def test_rest_subscriptions_and_updates_share_the_cometd_session(simulator, upstream):
    up = upstream()
    await up.events.wait_sessions(1)
    batch = await up.subscribe(agent_states())
    assert len(batch.subscription_ids) == 3 and batch.errors == []
    assert sorted(s["statisticId"] for s in batch.statistics) == sorted(f"state-{a}" for a in AGENTS)
    state = await control(simulator, "state", method="GET")
    assert (state["subscriptions"], state["statistics"]) == (3, 24)
    # Updates for the REST subscriptions reach this CometD session: the cookie jar is shared.
    await wait_for(lambda: up.updated_ids() & set(batch.subscription_ids), timeout=15,
                   message="a StatisticUpdate for our subscriptions")
    peek = await up.rest.get_subscription_values(batch.subscription_ids[0], ["state-agent001", "state-agent002"])
    assert sorted(s["statisticId"] for s in peek.data["statistics"]) == ["state-agent001", "state-agent002"]
    assert all(isinstance(s["timestamp"], int) for s in peek.data["statistics"])
    one = await up.rest.get_statistic_value("CurrentAgentState", "agent003", "Agent")
    assert one.data["statistic"]["objectId"] == "agent003"
    ex = await up.rest.get_statistic_ex([{"name": "CurrentAgentState", "objectId": "agent004", "objectType": "Agent"}])
    assert ex.data["statistics"][0]["objectId"] == "agent004"
    for subscription_id in batch.subscription_ids:
        await up.rest.delete_subscription(subscription_id)
    assert (await control(simulator, "state", method="GET"))["subscriptions"] == 0


async def test_partial_success_reports_the_bad_items(upstream):
    up = upstream()
    await up.events.wait_sessions(1)
    result = await up.rest.create_subscription(
        [*agent_states(["agent001"]), {"statisticId": "bad", "objectId": "nobody", "objectType": "Agent",
                                       "name": "CurrentAgentState"}])
    assert result.partial
    assert [s["statisticId"] for s in result.data["statistics"]] == ["state-agent001"]
    assert len(result.errors) == 1 and result.errors[0].message


async def test_revoked_tokens_are_replaced_for_rest_and_cometd(simulator, upstream):
    up = upstream()
    await up.events.wait_sessions(1)
    batch = await up.subscribe(agent_states(AGENTS[:2]))
    await control(simulator, "load", {"updates_per_second": 50})
    requests = up.tokens.requests
    await control(simulator, "revoke-tokens", {"refresh": True})
    # CometD meets the revoked token on its next poll (401), gets a new one once and goes on.
    await wait_for(lambda: up.tokens.requests > requests, timeout=10, message="a new token after the CometD 401")
    seen = len(up.events.of(Message))
    await wait_for(lambda: len(up.events.of(Message)) > seen + 2, timeout=15, message="updates after revocation")
    assert len(up.events.sessions()) == 1, "the Bayeux session survived the revocation"
    assert not up.events.of(Fatal)
    # The refresh token was revoked too: the provider fell back to the password grant.
    assert up.tokens.requests == requests + 2
    # REST shares the provider: it uses the new token directly.
    peek = await up.rest.get_subscription_values(batch.subscription_ids[0])
    assert len(peek.data["statistics"]) == 2
    assert up.tokens.requests == requests + 2
    # Revoked again (access tokens only): whichever client meets the 401 first refreshes, once.
    await control(simulator, "revoke-tokens")
    peek = await up.rest.get_subscription_values(batch.subscription_ids[0])
    assert len(peek.data["statistics"]) == 2
    assert up.tokens.requests == requests + 3, "one refresh_token grant"


async def test_forgotten_session_is_re_established_and_announced(simulator, upstream):
    up = upstream()
    await up.events.wait_sessions(1)
    batch = await up.subscribe(agent_states(AGENTS[:3]))
    assert (await control(simulator, "forget-clients"))["forgotten"] == 1
    await up.events.wait_sessions(2)
    assert up.events.sessions()[1].rehandshake is True
    # The service dropped the subscriptions with the session; the application re-creates them.
    assert (await control(simulator, "state", method="GET"))["subscriptions"] == 0
    again = await up.subscribe(agent_states(AGENTS[:3]))
    await wait_for(lambda: set(again.subscription_ids) & up.updated_ids(), timeout=15,
                   message="updates for the re-created subscriptions")
    assert set(batch.subscription_ids).isdisjoint(again.subscription_ids)


async def test_failing_notifications_recover_without_losing_the_session(simulator, upstream):
    up = upstream()
    await up.events.wait_sessions(1)
    errors = up.cometd.stats.errors
    await control(simulator, "fail", {"status": 503, "count": 3, "scope": "notifications"})
    await wait_for(lambda: up.cometd.stats.errors >= errors + 3, timeout=15, message="three failed polls")
    await up.subscribe(agent_states(AGENTS[:1]))
    await control(simulator, "load", {"updates_per_second": 50})
    seen = len(up.events.of(Message))
    await wait_for(lambda: len(up.events.of(Message)) > seen, timeout=15, message="messages after the failures")
    assert len(up.events.sessions()) == 1


async def test_wrong_user_password_and_api_key_are_configuration_errors(simulator):
    shared = create_session("demo-api-key")
    try:
        tokens = TokenProvider(shared, demo_credentials(simulator.url, password="wrong"))
        with pytest.raises(BadUserCredentials):
            await tokens.get()
    finally:
        await shared.close()
    wrong_key = create_session("not-the-key")
    try:
        with pytest.raises(BadApiKey):
            await TokenProvider(wrong_key, demo_credentials(simulator.url)).get()
    finally:
        await wrong_key.close()


def demo_env(simulator, **extra) -> dict:
    return {"GENESYS_API_URL": simulator.url, "GENESYS_API_KEY": "demo-api-key", "GENESYS_CLIENT_ID": "demo-client",
            "GENESYS_CLIENT_SECRET": "demo-secret", "GENESYS_USERNAME": "demo\\supervisor",
            "GENESYS_PASSWORD": "demo-password", **extra}


async def test_tail_command_with_the_demo_credentials(simulator):
    tail = await TailProcess.start("--max-messages", "2", "--network-allowance", "2", env=demo_env(simulator))
    try:
        await tail.wait_stderr("handshake: session established")
        await control(simulator, "service", {"state": "UNAVAILABLE"})
        await control(simulator, "service", {"state": "AVAILABLE"})
        assert await tail.wait_exit() == 0
    finally:
        await tail.kill()
    states = [line["data"].get("data", line["data"])["serviceState"] for line in tail.stdout]
    assert [line["channel"] for line in tail.stdout] == [SERVICE, SERVICE]
    assert states == ["UNAVAILABLE", "AVAILABLE"]
    assert not any("demo-password" in line or "demo-secret" in line for line in tail.stderr)


async def test_tail_command_rehandshake_and_bad_credentials(simulator):
    tail = await TailProcess.start("--max-messages", "1", "--network-allowance", "2", env=demo_env(simulator))
    try:
        await tail.wait_stderr("handshake: session established")
        await control(simulator, "forget-clients")
        await tail.wait_stderr("re-handshake: session established")
        await control(simulator, "service", {"state": "UNAVAILABLE"})
        assert await tail.wait_exit() == 0
    finally:
        await tail.kill()
    bad = await TailProcess.start("--max-seconds", "20", env=demo_env(simulator, GENESYS_PASSWORD="nope"))
    try:
        assert await bad.wait_exit() == 1
    finally:
        await bad.kill()
    assert bad.stderr[-1] == ("CommandError: stopped: the user credentials were rejected (HTTP 400 invalid_grant): "
                              "check GENESYS_USERNAME (tenant\\user) and GENESYS_PASSWORD")
