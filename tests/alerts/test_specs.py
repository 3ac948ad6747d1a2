"""Rules as the engine reads them: what each watches, with the widgets' thresholds where
the rule leaves them out; a rule that watches nothing is ignored, logged once."""

import logging

import pytest

from alerts.models import Rule
from alerts.specs import Watch, load_specs
from dashboard.models import Dashboard, Widget, WidgetStatistic
from statsbridge.models import Statistic

pytestmark = pytest.mark.django_db


def test_rules_take_the_widgets_thresholds_and_agent_rules_their_states(caplog):
    board = Dashboard.objects.create(title="Floor", slug="floor")
    waiting = Statistic.objects.create(object_type="Queue", object_id="q", name="CallsWaiting", label="Waiting")
    level = Statistic.objects.create(object_type="Queue", object_id="q", name="ServiceLevel", label="Level")
    ann = Statistic.objects.create(object_type="Agent", object_id="ann", name="CurrentAgentState", label="Ann")
    table = Widget.objects.create(dashboard=board, type="queue_table", label="Queues", warning=3, critical=6, hysteresis=1)
    WidgetStatistic.objects.create(widget=table, statistic=waiting, position=0)
    WidgetStatistic.objects.create(widget=table, statistic=level, position=1, warning=80, critical=60, direction="below")
    bare = Widget.objects.create(dashboard=board, type="kpi", label="Bare")
    WidgetStatistic.objects.create(widget=bare, statistic=waiting)
    Rule.objects.create(name="a table", widget=table)
    Rule.objects.create(name="b break", kind=Rule.AGENT_STATE, statistic=ann, agent_state="NotReady",
                        agent_reason="Break", for_seconds=600).dashboards.add(board)
    Rule.objects.create(name="c bare", widget=bare)
    Rule.objects.create(name="d off", widget=table, enabled=False)
    with caplog.at_level(logging.WARNING, logger="alerts"):
        specs = load_specs()
        assert load_specs() == specs
    assert [s.name for s in specs] == ["a table", "b break"]
    table_spec, break_spec = specs
    assert [(b.slug, b.watches) for b in table_spec.boards] == [("floor", (
        Watch(waiting.key, "Queues: Waiting", 3.0, "above", 1.0), Watch(level.key, "Queues: Level", 80.0, "below", 1.0)))]
    assert (break_spec.kind, break_spec.for_ms, break_spec.agent_state, break_spec.agent_reason) == (
        "agent", 600_000, "NotReady", "Break")
    ignored = "alert rule 'c bare' watches no statistic with a threshold; it is ignored"
    assert [r.getMessage() for r in caplog.records] == [ignored]  # once, though read twice
