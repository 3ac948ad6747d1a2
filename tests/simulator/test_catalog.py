"""Catalogue: descriptor validation, custom definitions, value shapes, notification decisions."""

import pytest

from statsbridge.simulator import catalog
from statsbridge.simulator import model as m
from statsbridge.simulator.catalog import StatisticError, resolve
from statsbridge.simulator.subscriptions import OpenStatistic, should_notify

CC = m.ContactCentre(42, 8, 2)


def descriptor(**fields):
    return {"objectType": m.QUEUE, "objectId": "VQ_Sales@SIP_Switch", **fields}


@pytest.mark.parametrize("fields, message", [
    ({"name": "NoSuchStat"}, "unknown statistic name 'NoSuchStat'"),
    ({"name": "CallsWaiting", "objectId": "VQ_Nope"}, "unknown objectId 'VQ_Nope' for objectType Queue"),
    ({"name": "CallsWaiting", "objectType": "Planet"}, "unknown objectType 'Planet'"),
    ({"name": "CurrentAgentState"}, "statistic CurrentAgentState does not apply to objectType Queue"),
    ({}, "a statistic needs a name or a definition"),
    ({"name": "CallsWaiting", "objectId": ""}, "objectId is required"),
    ({"definition": []}, "definition must be an object"),
    ({"definition": {"category": "CurrentNumber", "colour": "red"}}, "unknown definition field(s): colour"),
    ({"definition": {"subject": "DNAction"}}, "definition.category is required"),
    ({"definition": {"category": "CurrentNumber", "notificationMode": "Sometimes"}}, "notificationMode must be one of"),
    ({"definition": {"category": "CurrentNumber", "notificationFrequency": 0}}, "notificationFrequency must be a positive"),
    ({"definition": {"category": "CurrentNumber", "insensitivity": -1}}, "insensitivity must be a non-negative"),
    ({"definition": {"category": "CurrentNumber", "intervalType": "SlidingWindow"}}, "intervalLength must be a positive"),
    ({"definition": {"category": "CurrentNumber", "dynamicTimeProfile": "25:00"}}, "dynamicTimeProfile must look like"),
    ({"definition": {"category": "CurrentNumber", "mainMask": 3}}, "definition.mainMask must be a string"),
    ({"definition": {"category": 7}}, "definition.category must be a string"),
])
def test_bad_descriptors_are_refused_with_clear_messages(fields, message):
    with pytest.raises(StatisticError) as error:
        resolve(descriptor(**fields), CC.has_object)
    assert message in str(error.value)


REFERENCE_SAMPLE = {  # verbatim the reference's sample custom definition (POST /subscriptions)
    "notificationMode": "Periodical", "notificationFrequency": 10, "insensitivity": 1,
    "category": "TotalAdjustedTime", "subject": "DNStatus", "intervalType": "GrowingWindow",
    "mainMask": "WaitForNextCall", "dynamicTimeProfile": "00:00", "dynamicFilter": "Media=voice", "maskType": "DN"}


def test_the_references_sample_definition_is_computed_as_ready_time():
    cc = m.ContactCentre(42, 8, 2)
    agent = cc.objects()[m.AGENT][0]
    resolved = resolve({"objectType": m.AGENT, "objectId": agent, "definition": REFERENCE_SAMPLE}, cc.has_object)
    assert (resolved.spec.name, resolved.mode, resolved.frequency, resolved.insensitivity) == \
        ("TotalReadyTime", "Periodical", 10.0, 1.0)
    ready = 0.0
    for _ in range(400):  # integrate Ready time independently of the model's own bookkeeping
        cc.step(0.5)
        ready += 0.5 if cc.agents[agent].state == m.READY else 0.0
    value = resolved.spec.compute(cc, m.AGENT, agent)["value"]
    assert ready > 0 and abs(value - ready) <= 1.0, (value, ready)
    group = cc.agents[agent].group_id
    total = resolved.spec.compute(cc, m.GROUP_AGENTS, group)["value"]
    members = sum(int(cc.agents[a].seconds_in(m.READY, cc.now)) for a in cc.groups[group].agent_ids)
    assert abs(total - members) <= len(cc.groups[group].agent_ids)


@pytest.mark.parametrize("definition", [
    {"category": "Vibes"},
    {"category": "Formula", "subject": "DNAction"},
    {"category": "TotalAdjustedTime", "subject": "DNStatus", "mainMask": "CallRinging", "maskType": "DN"},
])
def test_any_well_formed_definition_is_accepted_with_no_value_yet(definition):
    resolved = resolve(descriptor(definition=definition, name="Mine"), CC.has_object)
    assert resolved.spec is catalog.NO_VALUE_YET and resolved.name == "Mine"
    assert resolved.spec.compute(CC, m.QUEUE, "VQ_Sales@SIP_Switch") == {}


def test_named_statistic_uses_changes_mode():
    resolved = resolve(descriptor(name="CallsWaiting"), CC.has_object)
    assert (resolved.spec.name, resolved.mode, resolved.insensitivity, resolved.definition) == \
        ("CallsWaiting", "Changes", 0.0, None)


def test_custom_definition_maps_onto_a_computation_and_keeps_its_notification_fields():
    definition = {"category": "CurrentMaxTime", "subject": "DNAction", "mainMask": "CallWait",
                  "notificationMode": "periodical", "notificationFrequency": 3, "intervalType": "GrowingWindow",
                  "dynamicTimeProfile": "00:00", "dynamicFilter": "Media=voice", "maskType": "DN"}
    resolved = resolve(descriptor(definition=definition, name="MyWait"), CC.has_object)
    assert resolved.spec.name == "LongestWaitTime"
    assert (resolved.name, resolved.mode, resolved.frequency) == ("MyWait", "Periodical", 3.0)
    by_mask = resolve(descriptor(definition={"category": "AverageTime", "mainMask": "CallInbound,AfterCallWork"}),
                      CC.has_object)
    assert by_mask.spec.name == "AverageHandlingTime"


def test_every_catalogued_statistic_computes_its_documented_shape():
    cc = m.ContactCentre(42, 8, 2)
    for _ in range(600):
        cc.step(0.5)
    objects = cc.objects()
    for spec in catalog.CATALOG.values():
        for object_type in spec.object_types:
            value = spec.compute(cc, object_type, objects[object_type][0])
            if spec.shape == "agent-state":
                assert value["status"] in catalog.STATUS_CODES.values()
                assert value["dnStatuses"][0]["status"] == value["status"]
                assert isinstance(value["time"], int) and isinstance(value["reasons"], list)
            else:
                assert list(value) == ["value"], spec.name
                kind = {"count": int, "duration": int, "average": float, "percentage": float}[spec.shape]
                assert isinstance(value["value"], kind), spec.name
                assert value["value"] >= 0
                if spec.shape == "percentage":
                    assert value["value"] <= 100


def test_group_counts_add_up_to_the_group():
    cc = m.ContactCentre(3, 12, 2)
    for _ in range(300):
        cc.step(0.5)
        for group_id, group in cc.groups.items():
            counts = [catalog.CATALOG[name].compute(cc, m.GROUP_AGENTS, group_id)["value"]
                      for name in ("AgentsReady", "AgentsNotReady", "AgentsTalking", "AgentsAfterCallWork")]
            logged_in = catalog.CATALOG["AgentsLoggedIn"].compute(cc, m.GROUP_AGENTS, group_id)["value"]
            assert sum(counts) == logged_in <= len(group.agent_ids)


def stat(mode: str, insensitivity: float = 0.0, frequency: float = 10.0, sent=None, sent_at: float = 0.0):
    resolved = resolve(descriptor(definition={"category": "CurrentNumber", "notificationMode": mode,
                                              "insensitivity": insensitivity,
                                              "notificationFrequency": frequency}), CC.has_object)
    open_stat = OpenStatistic("sub", "s", m.QUEUE, "VQ_Sales@SIP_Switch", resolved)
    open_stat.sent_value, open_stat.sent_at = sent, sent_at
    return open_stat


def test_notification_modes():
    assert not should_notify(stat("NoNotification", sent={"value": 1}), {"value": 9}, 100)
    assert not should_notify(stat("Changes", sent={"value": 1}), {"value": 1}, 100)
    assert should_notify(stat("Changes", sent={"value": 1}), {"value": 2}, 0)
    assert not should_notify(stat("Changes", insensitivity=2, sent={"value": 1}), {"value": 3}, 0)
    assert should_notify(stat("Changes", insensitivity=2, sent={"value": 1}), {"value": 4}, 0)
    assert should_notify(stat("Changes", insensitivity=2, sent={"status": 4}), {"status": 8}, 0)
    assert should_notify(stat("Immediate", insensitivity=5, sent={"value": 1}), {"value": 2}, 0)
    assert not should_notify(stat("Immediate", sent={"value": 1}), {"value": 1}, 0)
    assert not should_notify(stat("Periodical", frequency=5, sent={"value": 1}, sent_at=10), {"value": 7}, 14.9)
    assert should_notify(stat("Periodical", frequency=5, sent={"value": 1}, sent_at=10), {"value": 1}, 15)


def test_the_catalog_reply_lists_each_groups_members_as_its_statistics_count_them():
    cc = m.ContactCentre(7, 10, 3)
    reply = catalog.catalog_reply(cc)
    assert set(reply) == {"objects", "groups", "statistics"}
    assert list(reply["groups"]) == reply["objects"]["GroupAgents"]
    assert sorted(a for agents in reply["groups"].values() for a in agents) == sorted(reply["objects"]["Agent"])
    logged_in = catalog.CATALOG["AgentsLoggedIn"].compute
    for group_id, members in reply["groups"].items():
        # Log out every member: the group's own statistic must drop to zero, so the list is its membership.
        before = {a: cc.agents[a].state for a in members}
        for agent_id in members:
            cc.agents[agent_id].state = m.LOGGED_OUT
        assert logged_in(cc, m.GROUP_AGENTS, group_id)["value"] == 0, group_id
        for agent_id, state in before.items():
            cc.agents[agent_id].state = state
        assert logged_in(cc, m.GROUP_AGENTS, group_id)["value"] == sum(s != m.LOGGED_OUT for s in before.values())
