"""The tick evaluates an agent's event-driven statistics only when that agent changed state:
the values and the notifications must be exactly those of evaluating everything."""

import time
from types import SimpleNamespace

from statsbridge.simulator import tenant as tenant_module
from statsbridge.simulator.catalog import resolve
from statsbridge.simulator.config import SimulatorConfig
from statsbridge.simulator.subscriptions import Subscription
from statsbridge.simulator.tenant import Tenant

NAMES = ("CurrentAgentState", "AgentCallsHandled", "AverageHandlingTime", "TimeInCurrentState", "TotalReadyTime")
PERIODICAL = {"category": "CurrentState", "subject": "AgentStatus", "notificationMode": "Periodical",
              "notificationFrequency": 1}


def tenant_with_every_agent_statistic(agents=60):
    """A tenant with every agent statistic (one Periodical definition among them) open in one
    notified subscription; deliveries are recorded instead of queued."""
    tenant = Tenant(SimulatorConfig(agents=agents, queues=3, seed=7))
    subscription = Subscription("sub", session="session", verbose=True)
    for agent in tenant.model.agents:
        descriptors = [{"objectType": "Agent", "objectId": agent, "name": n} for n in NAMES]
        descriptors.append({"objectType": "Agent", "objectId": agent, "definition": PERIODICAL})
        for number, descriptor in enumerate(descriptors):
            statistic_id = f"{agent}-{number}"
            subscription.statistics[statistic_id] = tenant.open_statistic(
                "sub", statistic_id, descriptor, resolve(descriptor, tenant.model.has_object))
    tenant.registry.add(subscription)
    sent = []
    tenant.hub.deliver = lambda _session, message: sent.append(message)
    return tenant, subscription, sent


def without_timestamps(messages):
    return [sorted((i["statisticId"], repr(i["value"])) for i in m["data"]["data"]["statistics"]) for m in messages]


def test_skipping_unchanged_agents_sends_and_holds_exactly_what_a_full_evaluation_does(monkeypatch):
    # Both tenants read one clock that moves with the model, so Periodical sends line up.
    clock = {"now": 1000.0}
    monkeypatch.setattr(tenant_module, "time", SimpleNamespace(monotonic=lambda: clock["now"], time=time.time))
    fast, fast_subscription, fast_sent = tenant_with_every_agent_statistic()
    full, _full_subscription, full_sent = tenant_with_every_agent_statistic()
    # The reference evaluates every statistic on every tick.
    monkeypatch.setattr(full.model, "take_changed", lambda: set(full.model.agents))
    skipped_some = False
    for _ in range(120):
        clock["now"] += 0.5
        fast.model.step(0.5)
        full.model.step(0.5)
        moved = len(fast.model.changed)
        fast.evaluate()
        full.evaluate()
        skipped_some |= moved < len(fast.model.agents)
        for stat in fast_subscription.statistics.values():
            assert stat.value == stat.resolved.spec.compute(fast.model, stat.object_type, stat.object_id)
    assert skipped_some, "some ticks left agents unchanged"
    assert fast_sent and without_timestamps(fast_sent) == without_timestamps(full_sent)
    assert {s.event_driven for s in fast_subscription.statistics.values()} == {True, False}
    periodical = [s for s in fast_subscription.statistics.values() if s.resolved.mode == "Periodical"]
    assert periodical and not any(s.event_driven for s in periodical), "Periodical ones run on the clock"
    assert sum(1 for m in fast_sent for i in m["data"]["data"]["statistics"] if i["statisticId"].endswith("-5")) \
        >= 60 * 50, "every Periodical statistic was sent about once a second"
