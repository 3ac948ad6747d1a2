"""The contact-centre model: seeded determinism and the process's invariants."""

import dataclasses

from statsbridge.simulator import model as m


def snapshot(cc: m.ContactCentre) -> dict:
    return {
        "agents": [dataclasses.astuple(a) for a in cc.agents.values()],
        "queues": [(q.queue_id, list(q.waiting), q.entered, q.answered, q.abandoned, q.completed)
                   for q in cc.queues.values()],
    }


def run(seed: int, steps: int = 2000, dt: float = 0.5, agents: int = 24, queues: int = 4) -> m.ContactCentre:
    cc = m.ContactCentre(seed, agents, queues)
    for _ in range(steps):
        cc.step(dt)
    return cc


def test_same_seed_same_history_and_different_seed_differs():
    assert snapshot(run(42)) == snapshot(run(42))
    assert snapshot(run(42)) != snapshot(run(43))


def test_objects_follow_configuration():
    cc = m.ContactCentre(1, agents=10, queues=3)
    objects = cc.objects()
    assert objects[m.AGENT] == [f"agent{n:03d}" for n in range(1, 11)]
    assert objects[m.GROUP_AGENTS] == ["Sales", "Support", "Billing"]
    assert objects[m.QUEUE] == ["VQ_Sales@SIP_Switch", "VQ_Support@SIP_Switch", "VQ_Billing@SIP_Switch"]
    assert sorted(a for g in cc.groups.values() for a in g.agent_ids) == objects[m.AGENT]
    assert cc.has_object(m.QUEUE, "VQ_Billing@SIP_Switch") and not cc.has_object(m.QUEUE, "Sales")


def test_every_call_is_accounted_for_and_every_state_is_visited():
    cc = m.ContactCentre(7, 24, 4)
    seen_states, seen_reasons = set(), set()
    for _ in range(4000):
        cc.step(0.5)
        for agent in cc.agents.values():
            seen_states.add(agent.state)
            seen_reasons.add(agent.reason)
            assert (agent.reason is not None) == (agent.state == m.NOT_READY)
            assert (agent.call_queue is not None) == (agent.state in (m.TALKING, m.AFTER_CALL_WORK))
    assert seen_states == set(m.AGENT_STATES)
    assert seen_reasons - {None} == set(m.NOT_READY_REASONS)
    for queue in cc.queues.values():
        assert queue.entered == queue.answered + queue.abandoned + len(queue.waiting)
        assert queue.answered > 0 and queue.abandoned > 0
        assert queue.answered_in_threshold <= queue.answered
    talking = sum(1 for a in cc.agents.values() if a.state in (m.TALKING, m.AFTER_CALL_WORK))
    completed = sum(q.completed for q in cc.queues.values())
    assert sum(q.answered for q in cc.queues.values()) == completed + talking
    assert completed == sum(a.calls_handled for a in cc.agents.values())
