"""The banner's ordering (static/dashboard/alerts.js), run in node: worst first, firing
before acknowledged, newest first."""

import json

from tests.dashboard.test_formatting import MODULE, run_node


def test_alerts_are_shown_worst_first_then_firing_then_newest():
    lists = [["floor", [{"id": 1, "severity": "warning", "state": "firing", "since": 1, "rule": "r", "text": "t"}]],
             ["wall", [{"id": 2, "severity": "critical", "state": "acknowledged", "since": 9, "rule": "r", "text": "t"},
                       {"id": 3, "severity": "critical", "state": "firing", "since": 1, "rule": "r", "text": "t"},
                       {"id": 4, "severity": "critical", "state": "firing", "since": 5, "rule": "r", "text": "t"}]]]
    script = (f"import {{ alertsToShow }} from {json.dumps(MODULE)};"
              f"console.log(JSON.stringify(alertsToShow(new Map({json.dumps(lists)})).map(a => [a.id, a.dashboard])));")
    assert run_node(script) == [[4, "wall"], [3, "wall"], [2, "wall"], [1, "floor"]]
