"""The enabled rules as the evaluator needs them, read from the database in one go.

A rule the bridge cannot use (a widget without thresholds, no dashboard) is left out
with one log line, and every other rule keeps working.
"""

import logging
from dataclasses import dataclass

from alerts.models import Rule
from dashboard.models import WidgetStatistic

log = logging.getLogger(__name__)
_warned: set[str] = set()  # rules already said to be ignored: rules are re-read every 2 s


def _ignore(rule: Rule, why: str) -> None:
    message = f"alert rule {rule.name!r} {why}; it is ignored"
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)

DATA = "data"  # the subject of a staleness rule: a dashboard's data as a whole


@dataclass(frozen=True)
class Watch:
    """One statistic a threshold rule watches: key, label, limit, direction, hysteresis."""

    key: str
    label: str
    limit: float
    direction: str
    hysteresis: float


@dataclass(frozen=True)
class Board:
    """A dashboard a rule belongs to, with the statistics it watches there (threshold rules)."""

    id: int
    slug: str
    title: str
    watches: tuple[Watch, ...] = ()


@dataclass(frozen=True)
class RuleSpec:
    """One enabled rule: what it watches where, how long it must hold, and whom it notifies."""

    id: int
    name: str
    severity: str
    kind: str
    for_ms: int
    boards: tuple[Board, ...]
    target_ids: tuple[int, ...]
    agent_state: str = ""
    agent_reason: str = ""


def _watches_of_widget(rule: Rule) -> tuple[Watch, ...]:
    watches = []
    rows = WidgetStatistic.objects.filter(widget=rule.widget).select_related("statistic", "widget")
    for row in rows:
        if rule.kind == Rule.AGENT_STATE:
            watches.append(Watch(row.statistic.key, str(row.statistic), 0.0, "", 0.0))
            continue
        limits = row.limits()
        limit = rule.value if rule.value is not None else (
            limits["warning"] if limits["warning"] is not None else limits["critical"])
        if limit is None:
            continue
        watches.append(Watch(
            row.statistic.key, f"{row.widget.label}: {row.statistic}", float(limit),
            rule.direction or limits["direction"],
            float(rule.hysteresis if rule.hysteresis is not None else limits["hysteresis"] or 0.0)))
    return tuple(watches)


def spec_of(rule: Rule) -> RuleSpec | None:
    """The rule as the evaluator needs it, or None when it watches nothing (logged)."""
    dashboards = list(rule.dashboards.all())
    watches: tuple[Watch, ...] = ()
    if rule.kind == Rule.AGENT_STATE:
        if rule.widget_id is not None:
            watches = _watches_of_widget(rule)
            if not dashboards:
                dashboards = [rule.widget.dashboard]
        elif rule.statistic_id is not None:
            watches = (Watch(rule.statistic.key, str(rule.statistic), 0.0, "", 0.0),)
        if not watches or not rule.agent_state:
            _ignore(rule, "watches no agent state")
            return None
        for_ms = int(rule.for_seconds * 1000)
    elif rule.kind == Rule.THRESHOLD:
        if rule.widget_id is not None:
            watches = _watches_of_widget(rule)
            if not dashboards:
                dashboards = [rule.widget.dashboard]
        elif rule.statistic_id is not None and rule.value is not None:
            watches = (Watch(rule.statistic.key, str(rule.statistic), float(rule.value),
                             rule.direction or Rule.ABOVE, float(rule.hysteresis or 0.0)),)
        if not watches:
            _ignore(rule, "watches no statistic with a threshold")
            return None
        for_ms = int(rule.for_seconds * 1000)
    else:
        for_ms = int(rule.stale_seconds * 1000)
    if not dashboards:
        _ignore(rule, "belongs to no dashboard")
        return None
    boards = tuple(Board(d.pk, d.slug, d.title, watches) for d in sorted(dashboards, key=lambda d: d.pk))
    return RuleSpec(rule.pk, rule.name, rule.severity, rule.kind, for_ms, boards,
                    tuple(sorted(rule.targets.values_list("pk", flat=True))), rule.agent_state, rule.agent_reason)


def load_specs() -> list[RuleSpec]:
    """Every enabled rule that watches something."""
    rules = Rule.objects.filter(enabled=True).select_related("widget__dashboard", "statistic").order_by("pk")
    return [spec for spec in map(spec_of, rules) if spec is not None]
