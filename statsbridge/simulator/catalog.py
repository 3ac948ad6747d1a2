"""The tenant's statistics: pre-configured names, custom definitions, value shapes.

Values are computed from :class:`~.model.ContactCentre` and shaped as Stat Server
sends them: an object whose structure depends on the kind of statistic (see
docs/simulator.md). Everything here is pure.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import model as m

# Stat Server agent status codes carried in agent-state structures.
STATUS_CODES = {
    m.READY: 4,  # WaitForNextCall
    m.NOT_READY: 8,  # NotReadyForNextCall
    m.AFTER_CALL_WORK: 9,  # AfterCallWork
    m.TALKING: 22,  # CallInbound
    m.LOGGED_OUT: 23,  # LoggedOut
}

NOTIFICATION_MODES = ("Changes", "Periodical", "Immediate", "NoNotification")
INTERVAL_TYPES = ("GrowingWindow", "SlidingWindow", "SelectionBased")
DEFINITION_FIELDS = {
    "notificationMode", "notificationFrequency", "insensitivity", "category", "subject",
    "intervalType", "intervalLength", "mainMask", "relMask", "dynamicTimeProfile",
    "dynamicFilter", "maskType", "objects",
}
DEFAULT_PERIOD_SECONDS = 10.0
_TIME_PROFILE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class StatisticError(ValueError):
    """A statistic descriptor the tenant cannot open; the message says why."""


@dataclass(frozen=True)
class StatisticSpec:
    """One pre-configured statistic and how to compute it."""

    name: str
    object_types: tuple
    description: str
    shape: str
    category: str
    subject: str
    main_mask: str
    compute: Callable[[m.ContactCentre, str, str], dict]
    # Object types for which the value moves only when that object enters a state (never
    # with the clock alone): open statistics of these are recomputed only then.
    event_driven_for: tuple = ()


@dataclass(frozen=True)
class Resolved:
    """A validated descriptor: what to compute and how to notify."""

    spec: StatisticSpec
    name: str
    mode: str
    frequency: float
    insensitivity: float
    definition: dict | None


# -- value shapes ---------------------------------------------------------------

def _number(value) -> dict:
    return {"value": value}


def _agent_state(cc: m.ContactCentre, _type: str, agent_id: str) -> dict:
    agent = cc.agents[agent_id]
    code = STATUS_CODES[agent.state]
    since = int(cc.epoch + agent.state_since)
    return {
        "agentId": agent.agent_id,
        "loginId": agent.login_id,
        "placeId": agent.place_id,
        "status": code,
        "time": since,
        "reasons": [{"key": "ReasonCode", "value": agent.reason}] if agent.reason else [],
        "dnStatuses": [{
            "dnId": agent.login_id,
            "switchId": m.SWITCH,
            "dnType": "Extension",
            "status": code,
            "time": since,
        }],
    }


def _ready_time(cc: m.ContactCentre, object_type: str, object_id: str) -> dict:
    """Seconds spent Ready (Stat Server's WaitForNextCall) since the start: one agent, or a group's sum."""
    agents = [cc.agents[object_id]] if object_type == m.AGENT else [cc.agents[a] for a in cc.groups[object_id].agent_ids]
    return _number(int(sum(agent.seconds_in(m.READY, cc.now) for agent in agents)))


def _no_value_yet(_cc: m.ContactCentre, _type: str, _id: str) -> dict:
    """A definition the model has nothing to compute for: an empty value object (see docs/simulator.md)."""
    return {}


def _time_in_state(cc: m.ContactCentre, _type: str, agent_id: str) -> dict:
    return _number(int(cc.now - cc.agents[agent_id].state_since))


def _calls_handled(cc: m.ContactCentre, _type: str, agent_id: str) -> dict:
    return _number(cc.agents[agent_id].calls_handled)


def _average(total: float, count: int) -> dict:
    return _number(round(total / count, 1) if count else 0.0)


def _handling_time(cc: m.ContactCentre, object_type: str, object_id: str) -> dict:
    if object_type == m.QUEUE:
        queue = cc.queues[object_id]
        return _average(queue.handle_time_total, queue.completed)
    if object_type == m.AGENT:
        agent = cc.agents[object_id]
        return _average(agent.handle_time, agent.calls_handled)
    agents = [cc.agents[a] for a in cc.groups[object_id].agent_ids]
    return _average(sum(a.handle_time for a in agents), sum(a.calls_handled for a in agents))


def _agents_in(*states: str) -> Callable:
    def count(cc: m.ContactCentre, _type: str, group_id: str) -> dict:
        return _number(sum(1 for a in cc.groups[group_id].agent_ids if cc.agents[a].state in states))
    return count


def _queue_counter(attribute: str) -> Callable:
    def read(cc: m.ContactCentre, _type: str, queue_id: str) -> dict:
        return _number(getattr(cc.queues[queue_id], attribute))
    return read


def _calls_waiting(cc: m.ContactCentre, _type: str, queue_id: str) -> dict:
    return _number(len(cc.queues[queue_id].waiting))


def _longest_wait(cc: m.ContactCentre, _type: str, queue_id: str) -> dict:
    waiting = cc.queues[queue_id].waiting
    return _number(int(cc.now - waiting[0][0]) if waiting else 0)


def _service_level(cc: m.ContactCentre, _type: str, queue_id: str) -> dict:
    queue = cc.queues[queue_id]
    offered = queue.answered + queue.abandoned
    return _number(round(100.0 * queue.answered_in_threshold / offered, 2) if offered else 100.0)


def _speed_of_answer(cc: m.ContactCentre, _type: str, queue_id: str) -> dict:
    queue = cc.queues[queue_id]
    return _average(queue.answer_wait_total, queue.answered)


_ALL = (m.AGENT, m.GROUP_AGENTS, m.QUEUE)
_STATES_LOGGED_IN = (m.READY, m.NOT_READY, m.TALKING, m.AFTER_CALL_WORK)

CATALOG: dict[str, StatisticSpec] = {spec.name: spec for spec in (
    StatisticSpec("CurrentAgentState", (m.AGENT,), "Current state of the agent (agent-state structure).",
                  "agent-state", "CurrentState", "AgentStatus", "*", _agent_state, (m.AGENT,)),
    StatisticSpec("TimeInCurrentState", (m.AGENT,), "Seconds the agent has spent in its current state.",
                  "duration", "CurrentTime", "AgentStatus", "*", _time_in_state),
    StatisticSpec("AgentCallsHandled", (m.AGENT,), "Calls the agent finished (talk and wrap-up) in the interval.",
                  "count", "TotalNumber", "DNAction", "CallInbound", _calls_handled, (m.AGENT,)),
    StatisticSpec("AverageHandlingTime", _ALL, "Average talk plus after-call-work seconds per finished call.",
                  "average", "AverageTime", "DNAction", "CallInbound,AfterCallWork", _handling_time, (m.AGENT,)),
    StatisticSpec("AgentsReady", (m.GROUP_AGENTS,), "Agents of the group that are Ready.",
                  "count", "CurrentNumber", "AgentStatus", "WaitForNextCall", _agents_in(m.READY)),
    StatisticSpec("AgentsNotReady", (m.GROUP_AGENTS,), "Agents of the group that are NotReady (any reason).",
                  "count", "CurrentNumber", "AgentStatus", "NotReadyForNextCall", _agents_in(m.NOT_READY)),
    StatisticSpec("AgentsTalking", (m.GROUP_AGENTS,), "Agents of the group on a call.",
                  "count", "CurrentNumber", "AgentStatus", "CallInbound", _agents_in(m.TALKING)),
    StatisticSpec("AgentsAfterCallWork", (m.GROUP_AGENTS,), "Agents of the group in after-call work.",
                  "count", "CurrentNumber", "AgentStatus", "AfterCallWork", _agents_in(m.AFTER_CALL_WORK)),
    StatisticSpec("AgentsLoggedIn", (m.GROUP_AGENTS,), "Agents of the group that are logged in.",
                  "count", "CurrentNumber", "AgentStatus", "~LoggedOut", _agents_in(*_STATES_LOGGED_IN)),
    StatisticSpec("CallsWaiting", (m.QUEUE,), "Calls waiting in the queue now.",
                  "count", "CurrentNumber", "DNAction", "CallWait", _calls_waiting),
    StatisticSpec("LongestWaitTime", (m.QUEUE,), "Seconds the oldest waiting call has waited (0 when none).",
                  "duration", "CurrentMaxTime", "DNAction", "CallWait", _longest_wait),
    StatisticSpec("CallsEntered", (m.QUEUE,), "Calls that entered the queue in the interval.",
                  "count", "TotalNumber", "DNAction", "CallEntered", _queue_counter("entered")),
    StatisticSpec("CallsAnswered", (m.QUEUE,), "Calls answered in the interval.",
                  "count", "TotalNumber", "DNAction", "CallAnswered", _queue_counter("answered")),
    StatisticSpec("CallsAbandoned", (m.QUEUE,), "Calls abandoned while waiting in the interval.",
                  "count", "TotalNumber", "DNAction", "CallAbandoned", _queue_counter("abandoned")),
    StatisticSpec("ServiceLevel", (m.QUEUE,),
                  "Percent of offered calls (answered + abandoned) answered within 20 s; 100 before any call.",
                  "percentage", "ServiceFactor", "DNAction", "CallAnswered", _service_level),
    StatisticSpec("AverageSpeedOfAnswer", (m.QUEUE,), "Average seconds answered calls waited.",
                  "average", "AverageTime", "DNAction", "CallWait", _speed_of_answer),
    # The reference's own sample custom definition (TotalAdjustedTime / DNStatus / WaitForNextCall).
    StatisticSpec("TotalReadyTime", (m.AGENT, m.GROUP_AGENTS), "Seconds spent Ready (WaitForNextCall) since the start.",
                  "duration", "TotalAdjustedTime", "DNStatus", "WaitForNextCall", _ready_time),
)}

# A statistic opened by name resolves to the same (frozen) value every time: shared, so a
# 100,000-statistic tenant does not hold 100,000 copies.
_NAMED: dict[str, Resolved] = {
    name: Resolved(spec, name, "Changes", DEFAULT_PERIOD_SECONDS, 0.0, None) for name, spec in CATALOG.items()
}

# What a syntactically valid definition that matches nothing the model computes gets.
NO_VALUE_YET = StatisticSpec("CustomStatistic", m.OBJECT_TYPES,
                             "A custom definition this tenant has no computation for: its value stays {}.",
                             "none", "", "", "", _no_value_yet)


def catalog_listing() -> list[dict]:
    """The catalogue as the control API lists it."""
    return [
        {"name": s.name, "objectTypes": list(s.object_types), "description": s.description,
         "shape": s.shape, "definition": {"category": s.category, "subject": s.subject, "mainMask": s.main_mask}}
        for s in CATALOG.values()
    ]


def catalog_reply(cc: m.ContactCentre) -> dict:
    """What ``GET /simulator/catalog`` answers: objects by type, group membership, statistics."""
    return {
        "objects": cc.objects(),
        "groups": {group_id: list(group.agent_ids) for group_id, group in cc.groups.items()},
        "statistics": catalog_listing(),
    }


# -- descriptor validation -------------------------------------------------------

def resolve(descriptor: dict, has_object: Callable[[str, str], bool]) -> Resolved:
    """Validate one statistic descriptor; raise :class:`StatisticError` with a clear message."""
    object_type = descriptor.get("objectType")
    object_id = descriptor.get("objectId")
    if not isinstance(object_type, str) or not object_type:
        raise StatisticError("objectType is required")
    if not isinstance(object_id, str) or not object_id:
        raise StatisticError("objectId is required")
    if object_type not in m.OBJECT_TYPES:
        raise StatisticError(f"unknown objectType {object_type!r}; this tenant has {', '.join(m.OBJECT_TYPES)}")
    if not has_object(object_type, object_id):
        raise StatisticError(f"unknown objectId {object_id!r} for objectType {object_type}")
    definition = descriptor.get("definition")
    name = descriptor.get("name")
    if definition is None:
        if not isinstance(name, str) or not name:
            raise StatisticError("a statistic needs a name or a definition")
        spec = CATALOG.get(name)
        if spec is None:
            raise StatisticError(f"unknown statistic name {name!r}")
        if object_type not in spec.object_types:
            raise StatisticError(f"statistic {name} does not apply to objectType {object_type}")
        return _NAMED[name]
    if name is not None and not isinstance(name, str):
        raise StatisticError("name must be a string")
    return _resolve_definition(definition, object_type, name)


def _resolve_definition(definition, object_type: str, name: str | None) -> Resolved:
    if not isinstance(definition, dict):
        raise StatisticError("definition must be an object")
    unknown = sorted(set(definition) - DEFINITION_FIELDS)
    if unknown:
        raise StatisticError(f"unknown definition field(s): {', '.join(unknown)}")
    for key in ("category", "subject", "mainMask", "relMask", "dynamicFilter", "maskType", "intervalType",
                "notificationMode", "dynamicTimeProfile"):
        if key in definition and not isinstance(definition[key], str):
            raise StatisticError(f"definition.{key} must be a string")
    category = definition.get("category")
    if not category:
        raise StatisticError("definition.category is required")
    mode = _choice(definition, "notificationMode", NOTIFICATION_MODES, "Changes")
    frequency = _number_field(definition, "notificationFrequency", DEFAULT_PERIOD_SECONDS, positive=True)
    insensitivity = _number_field(definition, "insensitivity", 0.0, positive=False)
    interval = _choice(definition, "intervalType", INTERVAL_TYPES, "GrowingWindow")
    if "intervalLength" in definition or interval == "SlidingWindow":
        length = definition.get("intervalLength")
        if not isinstance(length, int) or isinstance(length, bool) or length <= 0:
            raise StatisticError("definition.intervalLength must be a positive integer (required for SlidingWindow)")
    profile = definition.get("dynamicTimeProfile")
    if profile is not None and not _TIME_PROFILE.match(profile):
        raise StatisticError("definition.dynamicTimeProfile must look like HH:MM")
    spec = _match(category, definition.get("subject"), definition.get("mainMask"), object_type)
    return Resolved(spec, name or spec.name, mode, frequency, insensitivity, dict(definition))


def _choice(definition: dict, key: str, allowed: tuple, default: str) -> str:
    value = definition.get(key, default)
    for option in allowed:
        if value.lower() == option.lower():
            return option
    raise StatisticError(f"definition.{key} must be one of {', '.join(allowed)}")


def _number_field(definition: dict, key: str, default: float, positive: bool) -> float:
    value = definition.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (positive and value == 0):
        kind = "a positive number" if positive else "a non-negative number"
        raise StatisticError(f"definition.{key} must be {kind}")
    return float(value)


def _match(category: str, subject: str | None, mask: str | None, object_type: str) -> StatisticSpec:
    """The catalogued computation a definition describes, else ``NO_VALUE_YET``.

    A real Stat Server opens any well-formed definition; so does the simulator, and
    answers an empty value object for the ones its model cannot compute.
    """
    for spec in CATALOG.values():
        if (spec.category == category and object_type in spec.object_types
                and subject in (None, spec.subject) and mask in (None, spec.main_mask)):
            return spec
    return NO_VALUE_YET
