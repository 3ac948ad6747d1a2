"""Threshold levels with hysteresis, and the JS mirror giving the same answers."""

import json
import subprocess
from pathlib import Path

import pytest

from dashboard import figures, thresholds
from statsbridge import formatting

ROOT = Path(__file__).resolve().parents[2]


def walk(values, **kwargs):
    """Levels of a value sequence, each computed from the previous level."""
    level = thresholds.NONE
    seen = []
    for value in values:
        level = thresholds.level(value, previous=level, **kwargs)
        seen.append(level)
    return seen


def test_higher_is_worse_enters_at_the_line_and_leaves_past_the_hysteresis():
    levels = walk([5, 10, 9.5, 9, 8.9, 20, 19.5, 18.9, 25], warning=10, critical=20, direction="above", hysteresis=1)
    assert levels == ["ok", "warning", "warning", "warning", "ok", "critical", "critical", "warning", "critical"]


def test_lower_is_worse_mirrors_it():
    levels = walk([95, 80, 80.5, 81, 81.1, 60, 61, 61.5], warning=80, critical=60, direction="below", hysteresis=1)
    assert levels == ["ok", "warning", "warning", "warning", "ok", "critical", "critical", "warning"]


def test_no_flicker_for_a_value_wobbling_on_the_line():
    levels = walk([10, 9.8, 10.1, 9.7, 10, 9.9], warning=10, critical=None, direction="above", hysteresis=0.5)
    assert set(levels) == {"warning"}


def test_without_hysteresis_it_follows_the_line_exactly():
    assert walk([10, 9.99, 10], warning=10, critical=None, hysteresis=0) == ["warning", "ok", "warning"]


def test_no_number_or_no_thresholds_is_none():
    assert thresholds.level(None, 1, 2) == "none"
    assert thresholds.level(5, None, None) == "none"


def test_cues_name_the_level_in_words():
    assert thresholds.cue("warning", "above") == {"icon": "▲", "text": "HIGH"}
    assert thresholds.cue("critical", "below") == {"icon": "▼▼", "text": "CRITICAL LOW"}
    assert thresholds.cue("ok") == {"icon": "", "text": ""}


LEVEL_CASES = [
    [v, 10, 20, d, h, p]
    for v in (None, 0, 9, 9.5, 10, 19, 19.5, 20, 25)
    for d in ("above", "below")
    for h in (0, 1)
    for p in ("none", "ok", "warning", "critical")
]
TEXT_CASES = [
    [{"kind": "number", "value": 3, "text": "", "state": "fresh"}, "auto"],
    [{"kind": "number", "value": 3.25, "text": "", "state": "fresh"}, "number"],
    [{"kind": "duration", "value": 75, "text": "", "state": "fresh"}, "auto"],
    [{"kind": "duration", "value": 3725, "text": "", "state": "fresh"}, "duration"],
    [{"kind": "percentage", "value": 87.26, "text": "", "state": "fresh"}, "auto"],
    [{"kind": "number", "value": 0, "text": "0 calls", "state": "fresh"}, "auto"],
    [{"kind": "unknown", "value": None, "text": "…", "state": "unknown"}, "auto"],
    [{"kind": "agent_state", "value": None, "text": "", "state": "fresh", "agent": {"state": "Ready"}}, "auto"],
    [None, "auto"],
]


def test_the_browser_module_computes_the_same_levels_and_texts():
    script = f"""
      const m = await import({json.dumps((ROOT / "static/dashboard/dashboard.js").as_uri())});
      const levels = {json.dumps(LEVEL_CASES)}.map(([v, w, c, d, h, p]) => m.levelFor(v, w, c, d, h, p));
      const texts = {json.dumps(TEXT_CASES)}.map(([v, f]) => m.displayText(v, f));
      const stamp = m.localMs(1767225600000, "Europe/Berlin");
      console.log(JSON.stringify({{levels, texts, stamp}}));
    """
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["levels"] == [thresholds.level(v, w, c, d, h, p) for v, w, c, d, h, p in LEVEL_CASES]
    assert got["texts"] == [formatting.display_text(v, f) for v, f in TEXT_CASES]
    assert got["stamp"] == figures.local_ms(1767225600000, "Europe/Berlin") == 1767225600000 + 3600_000


def test_the_browser_module_backs_off_with_a_cap_and_resyncs_on_gaps():
    script = f"""
      const m = await import({json.dumps((ROOT / "static/dashboard/dashboard.js").as_uri())});
      const delays = [0, 1, 2, 3, 4, 5, 10, 50].map((a) => m.backoffDelay(a, 500, 8000, () => 0.5));
      const low = m.backoffDelay(20, 500, 8000, () => 0), high = m.backoffDelay(20, 500, 8000, () => 0.999);
      const seq = [
        m.seqAction(undefined, {{type: "batch", seq: 4}}), m.seqAction(3, {{type: "batch", seq: 4}}),
        m.seqAction(3, {{type: "batch", seq: 6}}), m.seqAction(3, {{type: "batch", seq: 3}}),
        m.seqAction(9, {{type: "snapshot", seq: 2}}), m.seqAction(3, {{type: "status", seq: 4}}),
      ];
      const night = [m.inNight(23 * 60, 22 * 60, 6 * 60), m.inNight(5 * 60, 22 * 60, 6 * 60), m.inNight(12 * 60, 22 * 60, 6 * 60),
                     m.inNight(13 * 60, 12 * 60, 14 * 60), m.inNight(15 * 60, 12 * 60, 14 * 60), m.inNight(1, null, null)];
      const problems = [
        m.upstreamProblem({{upstream: "connected", service: "AVAILABLE", bridge: "up"}}),
        m.upstreamProblem({{upstream: "connected", service: "UNAVAILABLE", bridge: "up"}}),
        m.upstreamProblem({{upstream: "connected", service: "AVAILABLE", bridge: "down"}}),
        m.upstreamProblem({{upstream: "reconnecting", service: "AVAILABLE", bridge: "up"}}),
        m.upstreamProblem({{upstream: "polling", service: "AVAILABLE", bridge: "up", poll_seconds: 5}}),
        m.pollingText([{{upstream: "connected"}}, {{upstream: "polling", poll_seconds: 5}}]),
        m.pollingText([{{upstream: "connected"}}]),
      ];
      console.log(JSON.stringify({{delays, low, high, seq, night, problems}}));
    """
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["delays"] == [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]
    assert 6400 <= got["low"] <= got["high"] <= 9600
    assert got["seq"] == ["ignore", "apply", "resync", "ignore", "apply", "apply"]
    assert got["night"] == [True, True, False, True, False, False]
    assert got["problems"] == ["", "down", "down", "reconnecting", "", "POLLING · every 5 s", ""]


def test_the_browser_module_thins_live_series_into_the_same_slots_as_the_server():
    start = 1_767_225_600_000
    points = [[start + offset, float(i)] for i, offset in enumerate([0, 100, 5900, 6000, 6100, 13000, 17999, 18000])]
    script = f"""
      const m = await import({json.dumps((ROOT / "static/dashboard/dashboard.js").as_uri())});
      const kept = [], times = [];
      for (const [ms, v] of {json.dumps(points)}) {{
        if (m.sameSlot(times, ms, 6000)) {{ times[times.length - 1] = ms; kept[kept.length - 1] = [ms, v]; }}
        else {{ times.push(ms); kept.push([ms, v]); }}
      }}
      console.log(JSON.stringify(kept));
    """
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    expected = [list(p) for p in figures.thin(points, 30 * 60_000)]  # 30 min / 300 points = 6 s slots
    assert json.loads(out.stdout) == expected
    assert [p[1] for p in expected] == [0.0, 2.0, 4.0, 6.0, 7.0]


def test_the_browser_module_words_states_and_ages_and_sizes_wall_text_like_the_server():
    states = [["fresh", "fresh"], ["fresh", "unknown"], ["unknown", "stale", "fresh"], []]
    script = f"""
      const m = await import({json.dumps((ROOT / "static/dashboard/dashboard.js").as_uri())});
      const states = {json.dumps(states)}.map((s) => m.widgetState(s));
      const clock = (ms) => "at " + ms;
      const ages = [m.ageWords("fresh", 1000, 241000, clock), m.ageWords("stale", 1000, 241000, clock),
                    m.ageWords("unknown", 0, 241000, clock)];
      const units = [m.wallUnit(1920, 1080), m.wallUnit(3840, 2160, 1.5), m.wallUnit(1080, 1920)];
      console.log(JSON.stringify({{states, ages, units}}));
    """
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["states"] == [figures.widget_state(s) for s in states] == ["fresh", "unknown", "stale", "unknown"]
    # A live value that has not changed is not "4 min ago"; a stale one says when it was last known.
    assert got["ages"] == ["unchanged for 4 min", "last known at 1000", "no data yet"]
    assert got["units"] == pytest.approx([10.8, 32.4, 6.075])  # a portrait screen is sized as if 16:9 across its width
