"""Server-side figures: pure functions of a widget spec and values, valid for Plotly."""

import plotly.graph_objects as go
import pytest

from dashboard import figures


def value(number, kind="number", state="fresh", text="", **extra):
    return {"kind": kind, "value": number, "text": text, "state": state, "timestamp": 1_700_000_000_000,
            "received": 1_700_000_000_100, **extra}


def agent(state, reason=None, wire_state="fresh"):
    return {"kind": "agent_state", "value": None, "text": state, "state": wire_state, "timestamp": None,
            "received": 1_700_000_000_100, "agent": {"state": state, "reason": reason, "since": 1_699_999_990_000}}


def spec(kind, stats, **overrides):
    base = {"id": 7, "type": kind, "label": "L", "unit": "", "format": "auto", "warning": None, "critical": None,
            "direction": "above", "hysteresis": 0.0, "history_minutes": 30, "interval": "", "x": 0, "y": 0, "w": 3,
            "h": 2, "statistics": [{"key": k, "label": k.upper(), "object_type": "Queue", "object_id": o, "name": n}
                                   for k, o, n in stats]}
    base.update(overrides)
    return base


QUEUES = [("a", "Q1", "CallsWaiting"), ("b", "Q2", "CallsWaiting"), ("c", "Q3", "CallsWaiting")]


@pytest.mark.parametrize("kind", ["kpi", "gauge", "bar", "line", "donut"])
def test_every_chart_type_is_a_valid_plotly_figure(kind):
    rendered = figures.render(spec(kind, QUEUES, warning=2, critical=4), {"a": value(1), "b": value(3), "c": value(5)},
                              {"a": [[1_700_000_000_000, 1.0], [1_700_000_060_000, 2.0]]}, "Europe/London")
    go.Figure(rendered["figure"])  # raises on any property Plotly does not know
    assert [t["key"] for t in rendered["tiles"]] == ["a", "b", "c"]


def test_tiles_carry_value_state_threshold_and_an_aria_label_with_the_word():
    rendered = figures.render(spec("bar", QUEUES, warning=2, critical=4, unit="calls"),
                              {"a": value(1), "b": value(3), "c": value(5, state="stale")}, {}, "UTC")
    a, b, c = rendered["tiles"]
    assert (a["value"], a["state"], a["level"], a["cue"]["text"]) == (1.0, "fresh", "ok", "")
    assert (b["level"], b["cue"]["text"], b["color"]) == ("warning", "HIGH", "#E69F00")
    assert (c["level"], c["state"], c["cue"]["text"]) == ("critical", "stale", "CRITICAL HIGH")
    assert c["aria"] == "C: 5 calls, CRITICAL HIGH, stale"
    assert rendered["figure"]["data"][0]["y"] == [1.0, 3.0, 5.0]
    # One stale value makes the widget stale: its bars lose their threshold colours.
    assert rendered["state"] == "stale"
    assert rendered["figure"]["data"][0]["marker"]["color"] == ["#56657a"] * 3
    live = figures.render(spec("bar", QUEUES, warning=2, critical=4), {"a": value(1), "b": value(3), "c": value(5)}, {}, "UTC")
    assert live["state"] == "fresh"
    assert live["figure"]["data"][0]["marker"]["color"] == ["#0072B2", "#E69F00", "#D55E00"]


def test_zero_unknown_and_missing_look_different():
    rendered = figures.render(spec("bar", QUEUES), {"a": value(0), "b": value(None, kind="unknown", state="unknown")}, {}, "UTC")
    zero, unknown, missing = rendered["tiles"]
    assert (zero["text"], zero["value"], zero["state"]) == ("0", 0.0, "fresh")
    assert (unknown["text"], unknown["value"], unknown["state"]) == ("?", "", "unknown")
    assert (missing["text"], missing["state"]) == ("?", "unknown")
    assert rendered["figure"]["data"][0]["y"] == [0.0, None, None]


def test_formats_apply_to_numbers():
    rendered = figures.render(spec("kpi", [("a", "Q1", "LongestWaitTime")], format="duration"), {"a": value(125)}, {}, "UTC")
    assert rendered["tiles"][0]["text"] == "2:05"
    rendered = figures.render(spec("kpi", [("a", "Q1", "ServiceLevel")], format="percent"), {"a": value(87.25)}, {}, "UTC")
    assert rendered["tiles"][0]["text"] == "87.3%"


def test_line_history_is_plotted_in_the_dashboard_time_zone():
    history = {"a": [[1_767_225_600_000, 1.0], [1_767_225_660_000, 4.0]]}
    rendered = figures.render(spec("line", QUEUES[:1]), {"a": value(4)}, history, "America/New_York", 1_767_225_660_000)
    trace = rendered["figure"]["data"][0]
    # 19:00 and 19:01 New York time, as UTC epoch-ms (Plotly shows numbers on a date axis as UTC).
    assert trace["x"] == [1_767_207_600_000, 1_767_207_660_000]
    assert trace["y"] == [1.0, 4.0]
    assert rendered["figure"]["layout"]["xaxis"]["type"] == "date"


def test_lines_and_sparklines_show_their_whole_window_up_to_now():
    now = 1_767_225_660_000  # 00:01 UTC = 19:01 New York
    for kind in ("line", "kpi"):
        rendered = figures.render(spec(kind, QUEUES[:1]), {"a": value(4)}, {"a": [[now - 1000, 4.0]]}, "America/New_York", now)
        minutes = rendered["spec"]["history_minutes"]
        # One point is not stretched over a sub-second axis: the axis spans the window, in local time.
        assert rendered["figure"]["layout"]["xaxis"]["range"] == [now - 5 * 3_600_000 - minutes * 60_000, now - 5 * 3_600_000]


def test_a_series_keeps_one_point_per_slot_of_its_window_so_its_length_is_bounded():
    start = 1_767_225_600_000
    slot = 30 * 60_000 // figures.MAX_SERIES_POINTS  # 6 s in a 30-minute window
    history = {"a": [[start + 250 * i, float(i)] for i in range(7200)]}  # 4 updates/s for 30 min
    trace = figures.render(spec("line", QUEUES[:1]), {"a": value(4)}, history, "UTC", start + 250 * 7199)["figure"]["data"][0]
    assert len(trace["x"]) <= figures.MAX_SERIES_POINTS + 1
    assert (trace["x"][0], trace["y"][0]) == (start, 0.0)  # the value showing when the window opened
    assert (trace["x"][-1], trace["y"][-1]) == (start + 250 * 7199, 7199.0)  # and the latest
    assert all(later - earlier >= slot for earlier, later in zip(trace["x"][1:-1], trace["x"][2:], strict=True))


def test_trends_are_steps_that_hold_a_live_value_up_to_now_and_a_stale_one_not():
    now = 1_767_225_900_000
    history = {"a": [[now - 300_000, 0.0], [now - 120_000, 1.0]]}  # 0 until it jumped to 1, 2 min ago
    for kind in ("line", "kpi"):
        trace = figures.render(spec(kind, QUEUES[:1]), {"a": value(1)}, history, "UTC", now)["figure"]["data"][0]
        assert trace["line"]["shape"] == "hv", f"a {kind} ramps between changes"
        assert trace["x"] == [now - 300_000, now - 120_000, now] and trace["y"] == [0.0, 1.0, 1.0]
        assert trace["meta"] == {"tail": True}  # dashboard.js moves the last point to each new now
        stale = figures.render(spec(kind, QUEUES[:1]), {"a": value(1, state="stale")}, history, "UTC", now)
        trace = stale["figure"]["data"][0]
        assert (trace["x"], trace["meta"], stale["state"]) == ([now - 300_000, now - 120_000], {"tail": False}, "stale")
    kpi = figures.render(spec("kpi", QUEUES[:1], warning=0.5), {"a": value(1, state="stale")}, history, "UTC", now)
    assert kpi["figure"]["data"][0]["line"]["color"] == "#56657a"  # no threshold colour on a stale trend
    assert figures.hold_to_now([], now) == [] and figures.hold_to_now([(now, 1.0)], now) == [(now, 1.0)]


def test_a_widget_is_as_bad_as_its_worst_value():
    assert figures.widget_state(["fresh", "fresh"]) == "fresh"
    assert figures.widget_state(["fresh", "unknown"]) == "unknown"
    assert figures.widget_state(["unknown", "stale", "fresh"]) == "stale"
    assert figures.widget_state([]) == "unknown"


def test_gauge_bands_follow_the_direction():
    above = figures.render(spec("gauge", QUEUES[:1], warning=30, critical=60), {"a": value(10)}, {}, "UTC")
    steps = above["figure"]["data"][0]["gauge"]["steps"]
    assert [s["range"] for s in steps] == [[30, 60], [60, 75.0]]
    below = figures.render(spec("gauge", QUEUES[:1], warning=80, critical=60, direction="below"), {"a": value(90)}, {}, "UTC")
    assert [s["range"] for s in below["figure"]["data"][0]["gauge"]["steps"]] == [[60, 80], [0, 60]]
    assert below["figure"]["data"][0]["gauge"]["axis"]["range"] == [0, 112.5]


def test_donut_of_agent_states_counts_agents_by_state():
    stats = [("x", "A1", "CurrentAgentState"), ("y", "A2", "CurrentAgentState"), ("z", "A3", "CurrentAgentState")]
    rendered = figures.render(spec("donut", stats), {"x": agent("Ready"), "y": agent("Talking"), "z": agent("Ready")}, {}, "UTC")
    trace = rendered["figure"]["data"][0]
    assert dict(zip(trace["labels"], trace["values"], strict=True)) == {"Ready": 2, "Talking": 1}


def test_a_donut_of_agent_state_counts_uses_the_agent_state_colours():
    stats = [("r", "G1", "AgentsReady"), ("t", "G1", "AgentsTalking"), ("n", "G1", "AgentsNotReady"),
             ("w", "G1", "AgentsAfterCallWork")]
    rendered = figures.render(spec("donut", stats), {k: value(i + 1) for i, (k, _, _) in enumerate(stats)}, {}, "UTC")
    colours = rendered["figure"]["data"][0]["marker"]["colors"]
    assert colours == [figures.AGENT_STATES[s]["color"] for s in ("Ready", "Talking", "NotReady", "AfterCallWork")]
    assert [t["swatch"] for t in rendered["tiles"]] == colours  # each tile keys its slice in its colour


def test_a_donut_of_other_counts_keeps_the_series_palette():
    mixed = [("r", "G1", "AgentsReady"), ("l", "G1", "AgentsLoggedIn")]
    twice = [("a", "G1", "AgentsReady"), ("b", "G2", "AgentsReady")]
    for stats in (mixed, twice):
        rendered = figures.render(spec("donut", stats), {"r": value(1), "l": value(2), "a": value(3), "b": value(4)}, {}, "UTC")
        assert rendered["figure"]["data"][0]["marker"]["colors"] == figures.SERIES_COLORS[:2]


def test_agent_grid_tiles_carry_state_reason_colour_and_icon():
    stats = [("x", "A1", "CurrentAgentState")]
    rendered = figures.render(spec("agent_grid", stats), {"x": agent("NotReady", "Lunch")}, {}, "UTC")
    tile = rendered["tiles"][0]
    assert rendered["figure"] is None
    assert tile["text"] == "Not ready", "the state is worded as the one state table says"
    assert tile["agent"] == {"state": "NotReady", "label": "Not ready", "reason": "Lunch", "since": 1_699_999_990_000,
                             "color": "#D55E00", "icon": "☕"}
    assert tile["short"] == "A1", "an agent without a display name is shown by its id"


def test_queue_table_has_a_row_per_queue_and_a_column_per_statistic():
    stats = [("a", "Q1", "CallsWaiting"), ("b", "Q1", "ServiceLevel"), ("c", "Q2", "CallsWaiting")]
    rendered = figures.render(spec("queue_table", stats), {"a": value(2), "b": value(90, kind="percentage"), "c": value(0)},
                              {}, "UTC")
    table = rendered["table"]
    assert table["columns"] == ["CallsWaiting", "ServiceLevel"]
    assert [row["label"] for row in table["rows"]] == ["Q1", "Q2"]
    assert [cell and cell["text"] for cell in table["rows"][0]["cells"]] == ["2", "90%"], \
        "a percentage shows at most one decimal, as the bridge words it"
    assert table["rows"][1]["cells"][1] is None


def test_bar_axis_labels_drop_the_words_all_bars_share():
    assert figures.axis_labels(["Sales waiting", "Billing waiting"]) == ["Sales", "Billing"]
    assert figures.axis_labels(["agent001 in state", "agent002 in state"]) == ["agent001", "agent002"]
    assert figures.axis_labels(["Queue Sales now", "Queue Billing now"]) == ["Sales", "Billing"]
    assert figures.axis_labels(["same", "same"]) == ["same", "same"]
    assert figures.axis_labels(["only one"]) == ["only one"]
