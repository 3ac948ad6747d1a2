"""The upstream client against the simulator armed with each documented alternative.

Refresh refused in every documented form, tokens revoked early, a 403 envelope as an
ordinary answer of ``POST /subscriptions``, the gateway's API-key rejection, and the
notification dialects: each armed through the simulator's control API (docs/simulator.md).
"""

import asyncio

import pytest

from statsbridge.notifications import service_state, statistic_items
from statsbridge.upstream.bayeux import Fatal, Message
from statsbridge.upstream.errors import BadApiKey, StatisticsApiError
from tests.fixtures_simulator import fast_config
from tests.upstream.helpers import wait_for
from tests.upstream.simulated import AGENTS, UPDATES, Upstream, agent_states, control

FORMS = [(401, "envelope"), (400, "envelope"), (401, "oauth"), (400, "oauth"), (403, "envelope")]


def refused_then_configured(grants: list[str]) -> bool:
    """Every refresh_token grant is followed at once by the configured (password) grant."""
    return all(grants[i + 1] == "password" for i, grant in enumerate(grants[:-1]) if grant == "refresh_token")


class TestShortTokensAndRefreshRefused:
    @pytest.fixture
    def simulator_config(self):
        return fast_config(token_ttl=3)

    @pytest.mark.parametrize("status, form", FORMS, ids=[f"{s}-{f}" for s, f in FORMS])
    async def test_every_refused_refresh_is_followed_by_a_fresh_login_and_nothing_stops(
            self, simulator, upstream, status, form):
        up = upstream()
        await up.events.wait_sessions(1)
        batch = await up.subscribe(agent_states(AGENTS[:2]))
        await control(simulator, "refuse-refresh", {"status": status, "form": form, "count": 1000})
        await control(simulator, "load", {"updates_per_second": 40})
        # Tokens live 3 s and are refreshed at 80 %: two refused refreshes take about 5 s.
        await wait_for(lambda: list(up.tokens.grants_sent).count("refresh_token") >= 2, timeout=20,
                       message=f"two refresh attempts (grants: {list(up.tokens.grants_sent)})")
        grants = list(up.tokens.grants_sent)
        assert grants[0] == "password" and refused_then_configured(grants), grants
        await wait_for(lambda: grants[-1] == "password" or len(up.tokens.grants_sent) > len(grants), timeout=5)
        assert refused_then_configured(list(up.tokens.grants_sent))
        seen = len(up.events.of(Message))
        await wait_for(lambda: len(up.events.of(Message)) > seen + 3, timeout=10, message="updates keep flowing")
        peek = await up.rest.get_subscription_values(batch.subscription_ids[0])
        assert len(peek.data["statistics"]) == 2
        assert not up.events.of(Fatal) and len(up.events.sessions()) == 1, "no outage, the same CometD session"
        assert up.tokens.last_error is None


class TestLongTokens:
    async def test_tokens_revoked_early_are_replaced_by_one_shared_grant(self, simulator, upstream):
        up = upstream()
        await up.events.wait_sessions(1)
        batch = await up.subscribe(agent_states(AGENTS[:2]))
        await control(simulator, "load", {"updates_per_second": 40})
        before = len(up.tokens.grants_sent)
        await control(simulator, "refuse-refresh", {"status": 401, "form": "envelope"})
        await control(simulator, "revoke-tokens")  # an hour-long token ends now
        # CometD and a burst of REST calls all meet the 401; they share one new login.
        peeks = await asyncio.gather(*(up.rest.get_subscription_values(batch.subscription_ids[0]) for _ in range(8)))
        assert all(len(p.data["statistics"]) == 2 for p in peeks)
        seen = len(up.events.of(Message))
        await wait_for(lambda: len(up.events.of(Message)) > seen + 3, timeout=10, message="updates after revocation")
        assert list(up.tokens.grants_sent)[before:] == ["refresh_token", "password"]
        assert not up.events.of(Fatal) and len(up.events.sessions()) == 1

    async def test_a_403_envelope_of_post_subscriptions_is_an_answer_not_a_bad_key(self, simulator, upstream):
        up = upstream()
        await up.events.wait_sessions(1)
        await control(simulator, "refuse", {"method": "POST", "path": "/statistics/v3/subscriptions",
                                            "status": 403, "form": "envelope"})
        with pytest.raises(StatisticsApiError) as refused:
            await up.rest.create_subscription(agent_states(AGENTS[:1]))
        assert not isinstance(refused.value, BadApiKey) and refused.value.http_status == 403
        batch = await up.subscribe(agent_states(AGENTS[:1]))
        await wait_for(lambda: set(batch.subscription_ids) & up.updated_ids(), timeout=15, message="updates")
        assert not up.events.of(Fatal), "the CometD client goes on"

    async def test_a_403_envelope_on_cometd_is_a_failed_poll_not_a_bad_key(self, simulator, upstream):
        up = upstream()
        await up.events.wait_sessions(1)
        await up.subscribe(agent_states(AGENTS[:1]))
        errors = up.cometd.stats.errors
        await control(simulator, "refuse", {"method": "POST", "path": "/statistics/v3/notifications",
                                            "status": 403, "form": "envelope", "count": 2})
        await wait_for(lambda: up.cometd.stats.errors >= errors + 2, timeout=10, message="two refused polls")
        await control(simulator, "load", {"updates_per_second": 40})
        seen = len(up.events.of(Message))
        await wait_for(lambda: len(up.events.of(Message)) > seen + 3, timeout=10, message="updates after the 403s")
        assert not up.events.of(Fatal) and len(up.events.sessions()) == 1

    async def test_the_gateways_api_key_rejection_stops_rest_and_cometd_clearly(self, simulator, upstream):
        up = upstream()
        await up.events.wait_sessions(1)
        await control(simulator, "refuse", {"method": "GET", "path": "/statistics/v3/statistic-values/CallsWaiting",
                                            "status": 403, "form": "api-key"})
        with pytest.raises(BadApiKey, match="GENESYS_API_KEY"):
            await up.rest.get_statistic_value("CallsWaiting", "VQ_Sales@SIP_Switch", "Queue")
        await control(simulator, "refuse", {"method": "POST", "path": "/statistics/v3/notifications",
                                            "status": 403, "form": "api-key"})
        await wait_for(lambda: up.events.of(Fatal), timeout=10, message="the CometD client stops")
        [fatal] = up.events.of(Fatal)
        assert isinstance(fatal.error, BadApiKey) and "demo-api-key" not in fatal.reason


@pytest.mark.parametrize("dialect", ["reference", "messageType"])
@pytest.mark.parametrize("nesting", ["nested", "flat"])
async def test_our_decoding_reads_every_notification_dialect_the_simulator_speaks(dialect, nesting):
    from statsbridge.simulator import start_simulator

    simulator = await start_simulator(fast_config(notification_dialect=dialect, notification_nesting=nesting))
    up = Upstream(simulator)
    try:
        await up.events.wait_sessions(1)
        await up.subscribe(agent_states(AGENTS[:2]))
        await control(simulator, "load", {"updates_per_second": 40})

        def items():
            return [i for e in up.events.of(Message) for i in statistic_items(e.channel, e.data)]
        await wait_for(lambda: len(items()) >= 3, timeout=10, message="decoded updates")
        assert {i["statisticId"] for i in items()} <= {s["statisticId"] for s in agent_states(AGENTS[:2])}
        for state in ("UNAVAILABLE", "AVAILABLE"):
            await control(simulator, "service", {"state": state})
            await wait_for(lambda state=state: state in [service_state(e.channel, e.data) for e in up.events.of(Message)],
                           timeout=10, message=f"{state} decoded")
        assert not [e for e in up.events.of(Message) if e.channel not in (UPDATES, "/statistics/v3/service")]
    finally:
        await up.close()
        await simulator.stop()
