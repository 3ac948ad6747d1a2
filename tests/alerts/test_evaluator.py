"""The alert rules' logic without a clock, a database or a network."""

from alerts import evaluator
from alerts.engine import evaluate
from alerts.evaluator import FIRING, OK, PENDING, RESOLVED, Track, breaches, is_stale, step
from alerts.specs import DATA, Board, RuleSpec, Watch
from statsbridge.observers import Observation
from statsbridge.wanted import Routes


def fresh(number, text=None):
    return {"kind": "number", "value": number, "text": text or str(number), "state": "fresh", "timestamp": 1, "received": 1}


def stale(number):
    return {**fresh(number), "state": "stale"}


def test_a_condition_fires_once_it_has_held_for_its_duration_and_resolves_when_it_clears():
    track, event = step(Track(), True, 1_000, 5_000)
    assert (track, event) == (Track(PENDING, 1_000, None), None)
    track, event = step(track, True, 5_999, 5_000)
    assert (track.state, event) == (PENDING, None)
    track, event = step(track, True, 6_000, 5_000)
    assert (track, event) == (Track(FIRING, 1_000, 6_000), FIRING)
    track, event = step(track, True, 60_000, 5_000)
    assert (track.state, event) == (FIRING, None)  # never notified twice
    track, event = step(track, False, 61_000, 5_000)
    assert (track, event) == (Track(), RESOLVED)


def test_a_condition_that_clears_before_its_duration_notifies_nothing():
    track, _ = step(Track(), True, 0, 5_000)
    track, event = step(track, False, 4_000, 5_000)
    assert (track, event) == (Track(OK), None)


def test_no_duration_fires_at_once():
    assert step(Track(), True, 7, 0) == (Track(FIRING, 7, 7), FIRING)


def test_missing_data_neither_fires_nor_resolves():
    pending = Track(PENDING, 0, None)
    assert step(pending, None, 100_000, 5_000) == (pending, None)
    firing = Track(FIRING, 0, 5_000)
    assert step(firing, None, 100_000, 5_000) == (firing, None)


def test_an_acknowledged_alert_stays_open_until_its_condition_clears():
    acknowledged = evaluator.acknowledge(Track(FIRING, 0, 10))
    assert acknowledged.state == evaluator.ACKNOWLEDGED
    assert step(acknowledged, True, 20, 0) == (acknowledged, None)
    assert step(acknowledged, False, 30, 0) == (Track(), RESOLVED)


def test_thresholds_use_the_widgets_hysteresis():
    assert breaches(fresh(10), 10, "above", 2, holding=False) is True
    assert breaches(fresh(9), 10, "above", 2, holding=False) is False
    assert breaches(fresh(9), 10, "above", 2, holding=True) is True  # still within the hysteresis
    assert breaches(fresh(7.9), 10, "above", 2, holding=True) is False
    assert breaches(fresh(80), 85, "below", 0, holding=False) is True
    assert breaches(fresh(90), 85, "below", 0, holding=False) is False


def test_thresholds_need_a_fresh_number():
    assert breaches(stale(50), 10, "above", 0, holding=False) is None
    assert breaches(None, 10, "above", 0, holding=False) is None
    assert breaches({**fresh(0), "value": None, "kind": "unknown"}, 10, "above", 0, holding=False) is None
    assert breaches(fresh(True), 0, "above", 0, holding=False) is None


def test_data_is_stale_when_the_link_is_not_live_or_a_value_is_stale():
    assert is_stale([fresh(1), fresh(2)], live=True) is False
    assert is_stale([fresh(1), stale(2)], live=True) is True
    assert is_stale([fresh(1)], live=False) is True
    # a statistic never received yet is unknown, not stale
    assert is_stale([fresh(1), None, {**fresh(0), "state": "unknown"}], live=True) is False


def observation(values, *, live=True, now=0, service="AVAILABLE"):
    routes = Routes(dashboards_by_key={"k1": frozenset({1}), "k2": frozenset({1, 2})}, slugs={1: "floor", 2: "wall"})
    connection = {"upstream": "connected" if live else "down", "service": service, "bridge": "up"}
    return Observation(values, routes, connection, live, now)


def test_evaluate_fires_a_threshold_rule_per_dashboard_and_statistic():
    spec = RuleSpec(7, "long wait", "critical", "threshold", 1_000,
                    (Board(1, "floor", "Floor", (Watch("k1", "Longest wait", 60, "above", 5),)),), (3,))
    changes = evaluate([spec], {}, observation({"k1": fresh(90, "1:30")}, now=0))
    assert [(c["subject"], c["after"].state, c["event"]) for c in changes] == [("k1", PENDING, None)]
    tracks = {(7, 1, "k1"): (changes[0]["after"], 11)}
    changes = evaluate([spec], tracks, observation({"k1": fresh(90, "1:30")}, now=1_000))
    assert len(changes) == 1
    change = changes[0]
    assert (change["event"], change["alert"], change["value"], change["targets"]) == (FIRING, 11, 90.0, (3,))
    assert change["text"] == "Longest wait is 1:30 (above 60)"
    tracks = {(7, 1, "k1"): (change["after"], 11)}
    assert evaluate([spec], tracks, observation({"k1": fresh(91)}, now=2_000)) == []
    resolved = evaluate([spec], tracks, observation({"k1": fresh(54, "0:54")}, now=3_000))
    assert [(c["event"], c["text"]) for c in resolved] == [(RESOLVED, "Longest wait is back at 0:54")]


def test_evaluate_stale_rule_says_why():
    spec = RuleSpec(8, "stale", "warning", "stale", 10_000, (Board(2, "wall", "Wall"),), ())
    values = {"k1": fresh(1), "k2": fresh(2)}
    assert evaluate([spec], {}, observation(values, now=0)) == []
    changes = evaluate([spec], {}, observation(values, live=False, now=0, service="UNAVAILABLE"))
    assert [(c["subject"], c["after"].state) for c in changes] == [(DATA, PENDING)]
    tracks = {(8, 2, DATA): (changes[0]["after"], 5)}
    changes = evaluate([spec], tracks, observation(values, live=False, now=10_000, service="UNAVAILABLE"))
    assert changes[0]["event"] == FIRING
    assert changes[0]["text"] == "Data on Wall stale for more than 10 s: statistics service UNAVAILABLE"
    # only the wall's statistics count for the wall: k1 is on dashboard 1
    assert evaluate([spec], {}, observation({"k1": stale(1), "k2": fresh(2)}, now=0)) == []
    changes = evaluate([spec], {}, observation({"k1": fresh(1), "k2": stale(2)}, now=0))
    assert changes[0]["after"].state == PENDING


def agent(state, reason, since, freshness="fresh"):
    return {"kind": "agent_state", "value": None, "text": state, "state": freshness, "timestamp": 1, "received": 1,
            "agent": {"state": state, "reason": reason, "since": since}}


def test_an_agent_in_a_state_counts_from_its_own_since():
    check = evaluator.in_state_too_long
    assert check(agent("NotReady", "Break", 0), "NotReady", "", 600_000, 600_000) is True
    assert check(agent("NotReady", "Break", 1), "NotReady", "", 600_000, 600_000) is False
    assert check(agent("NotReady", "Break", 0), "NotReady", "Lunch", 900_000, 600_000) is False
    assert check(agent("NotReady", "Lunch", 0), "NotReady", "Lunch", 900_000, 600_000) is True
    assert check(agent("Ready", None, 0), "NotReady", "", 900_000, 600_000) is False
    assert check(agent("NotReady", None, None), "NotReady", "", 900_000, 600_000) is False
    assert check(agent("NotReady", None, 0, "stale"), "NotReady", "", 900_000, 600_000) is None
    assert check(fresh(3), "NotReady", "", 900_000, 600_000) is None


def test_evaluate_fires_an_agent_state_rule_once_the_agent_has_been_in_it_long_enough():
    spec = RuleSpec(9, "long break", "warning", "agent", 600_000,
                    (Board(1, "floor", "Floor", (Watch("k1", "Ann", 0, "", 0),)),), (), "NotReady", "Break")
    values = {"k1": agent("NotReady", "Break", 1_000)}
    assert evaluate([spec], {}, observation(values, now=600_999)) == []
    changes = evaluate([spec], {}, observation(values, now=601_000))
    assert [(c["event"], c["text"]) for c in changes] == [(FIRING, "Ann NotReady (Break) for more than 10 min")]
    tracks = {(9, 1, "k1"): (changes[0]["after"], 4)}
    changes = evaluate([spec], tracks, observation({"k1": agent("Ready", None, 700_000)}, now=700_000))
    assert [(c["event"], c["text"]) for c in changes] == [(RESOLVED, "Ann is no longer NotReady (Break)")]
