"""One set of display rules: statsbridge/formatting.py and the page script give the same strings.

Every case runs through the Python rules and through dashboard.js in node; each case also
states the string a person must see, so a rule changed on both sides still fails here.
"""

import json
import subprocess
from pathlib import Path

import pytest

from dashboard import names
from statsbridge import formatting
from statsbridge.decoding import Decoding, Hint

ROOT = Path(__file__).resolve().parents[2]
MODULE = (ROOT / "static/dashboard/dashboard.js").as_uri()


def wire(kind, number, text=""):
    return {"kind": kind, "value": number, "text": text, "state": "fresh"}


def agent(details):
    return {"kind": "agent_state", "value": None, "text": "", "state": "fresh", "agent": details}


# (value, widget format, expected text)
DISPLAY_CASES = [
    # The case: 1234.56 reads the same on an auto and a number widget.
    (wire("number", 1234.56), "auto", "1,234.56"),
    (wire("number", 1234.56), "number", "1,234.56"),
    (wire("number", 3), "auto", "3"),
    (wire("number", 3.25), "number", "3.25"),
    (wire("number", 1.005), "number", "1.01"),  # the shortest decimal form is rounded, not the binary one
    (wire("number", 0.125), "number", "0.13"),
    (wire("number", 2.675), "number", "2.68"),
    (wire("number", -1.005), "number", "-1.01"),  # half away from zero
    (wire("number", -0.001), "number", "0"),  # a rounded zero has no sign
    (wire("number", -0.0), "number", "0"),
    (wire("number", -1234567), "number", "-1,234,567"),
    (wire("number", 1e-7), "number", "0"),
    (wire("number", 2**53 + 2), "number", "9,007,199,254,740,994"),
    (wire("number", 1e21), "number", "1,000,000,000,000,000,000,000"),
    (wire("number", 1e23), "number", "100,000,000,000,000,000,000,000"),
    (wire("number", 123456789.125), "number", "123,456,789.13"),
    # Durations: truncated to whole seconds.
    (wire("duration", 2.5), "auto", "0:02"),
    (wire("duration", 2.5), "duration", "0:02"),
    (wire("duration", 59.5), "duration", "0:59"),
    (wire("duration", 3599.5), "duration", "59:59"),
    (wire("duration", 3600), "duration", "1:00:00"),
    (wire("duration", 3725), "duration", "1:02:05"),
    (wire("duration", 0), "duration", "0:00"),
    (wire("duration", -5), "duration", "-0:05"),
    (wire("duration", -2.5), "duration", "-0:02"),
    (wire("duration", -0.5), "duration", "0:00"),
    (wire("duration", 360000 * 24), "duration", "2400:00:00"),
    (wire("duration", 1e17), "duration", "27777777777777:46:40"),  # exact past 2^53 (BigInt in JS)
    (wire("number", 75), "duration", "1:15"),
    # Percentages: at most one decimal.
    (wire("percentage", 0.999), "auto", "1%"),
    (wire("percentage", 99.95), "auto", "100%"),
    (wire("percentage", 99.95), "percent", "100%"),
    (wire("percentage", 99.94), "percent", "99.9%"),
    (wire("percentage", 87.26), "auto", "87.3%"),
    (wire("percentage", 93.25), "percent", "93.3%"),
    (wire("percentage", 90), "percent", "90%"),
    (wire("percentage", -12.34), "percent", "-12.3%"),
    (wire("percentage", 12345.67), "percent", "12,345.7%"),
    (wire("number", 50), "percent", "50%"),
    # The bridge's own text wins on auto, not on a chosen format.
    (wire("number", 0, "0 calls"), "auto", "0 calls"),
    (wire("number", 0, "0 calls"), "number", "0"),
    # No number: "?", never 0.
    (wire("number", None), "auto", "?"),
    (wire("number", None), "number", "?"),
    (wire("duration", None), "duration", "?"),
    (wire("number", "12"), "number", "?"),
    (wire("number", True), "number", "?"),
    ({"kind": "unknown", "value": None, "text": "…", "state": "unknown"}, "auto", "?"),
    (None, "auto", "?"),
    ({}, "number", "?"),
    # Agent states: the one table's words; an unlisted state as it came; none: "?".
    (agent({"state": "AfterCallWork"}), "auto", "After-call work"),
    (agent({"state": "NotReady"}), "number", "Not ready"),
    (agent({"state": "Dialing"}), "auto", "Dialing"),
    (agent({}), "auto", "?"),
    ({"kind": "agent_state", "value": None, "text": ""}, "auto", "?"),
]
STATE_CASES = ["Ready", "AfterCallWork", "Dialing", "", None]


def run_node(script: str):
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def browser_texts():
    """What dashboard.js shows for every case (one node run for the whole table)."""
    cases = [[value, fmt] for value, fmt, _ in DISPLAY_CASES]
    return run_node(f"""
      const m = await import({json.dumps(MODULE)});
      const table = {json.dumps(names.AGENT_STATES)};
      const texts = {json.dumps(cases)}.map(([v, f]) => m.displayText(v, f, table));
      const labels = {json.dumps(STATE_CASES)}.map((s) => m.stateLabel(s, table));
      console.log(JSON.stringify({{texts, labels}}));
    """)


CASE_IDS = [f"{case[0] and case[0].get('value')!r}-{case[1]}" for case in DISPLAY_CASES]


@pytest.mark.parametrize("index", range(len(DISPLAY_CASES)), ids=CASE_IDS)
def test_python_and_the_page_script_show_the_same_text(index, browser_texts):
    value, fmt, expected = DISPLAY_CASES[index]
    python = formatting.display_text(value, fmt, names.AGENT_STATES)
    assert python == expected
    assert browser_texts["texts"][index] == expected


def test_agent_state_labels_agree(browser_texts):
    expected = [names.agent_state_label(s) for s in STATE_CASES]
    assert expected == ["Ready", "After-call work", "Dialing", "Unknown", "Unknown"]
    assert browser_texts["labels"] == expected == [formatting.state_label(s, names.AGENT_STATES) for s in STATE_CASES]


@pytest.mark.parametrize(
    "name, number, kind, fmt",
    [
        ("CallsWaiting", 1234.56, "number", "number"),
        ("AverageHandlingTime", 2.5, "duration", "duration"),
        ("LongestWaitTime", 3599.5, "duration", "duration"),
        ("ServiceLevel", 99.95, "percentage", "percent"),
    ],
)
def test_the_bridge_words_a_value_as_a_chosen_format_does(name, number, kind, fmt):
    """An auto widget (the bridge's text) and a widget set to the value's own format show one string."""
    value = Decoding().decode({"value": number}, Hint("k", name), timestamp=None, received=1)
    assert value["kind"] == kind
    assert formatting.display_text(value, "auto") == formatting.display_text(value, fmt) == value["text"]


def test_the_agent_clock_truncates_as_durations_do():
    got = run_node(f"""
      const m = await import({json.dumps(MODULE)});
      console.log(JSON.stringify([2500, 59999, 3599999, -1000].map((ms) => m.clockText(ms))));
    """)
    assert got == ["0:02", "0:59", "59:59", "0:00"]
    assert got[:3] == [formatting.duration_text(s) for s in (2.5, 59.999, 3599.999)]
