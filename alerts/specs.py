"""The enabled rules as the evaluator needs them, read from the database in one go.

A rule the bridge cannot use (a widget without thresholds, no dashboard) is left out
with one log line, and every other rule keeps working.
"""

import logging
from dataclasses import dataclass

from alerts.models import Rule
from dashboard.models import WidgetStatistic

log = logging.getLogger(__name__)

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


def _watches_of_widget(rule: Rule) -> tuple[Watch, ...]:
    watches = []
    rows = WidgetStatistic.objects.filter(widget=rule.widget).select_related("statistic", "widget")
    for row in rows:
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
    if rule.kind == Rule.THRESHOLD:
        if rule.widget_id is not None:
            watches = _watches_of_widget(rule)
            if not dashboards:
                dashboards = [rule.widget.dashboard]
        elif rule.statistic_id is not None and rule.value is not None:
            watches = (Watch(rule.statistic.key, str(rule.statistic), float(rule.value),
                             rule.direction or Rule.ABOVE, float(rule.hysteresis or 0.0)),)
        if not watches:
            log.warning("alert rule %r watches no statistic with a threshold; it is ignored", rule.name)
            return None
        for_ms = int(rule.for_seconds * 1000)
    else:
        for_ms = int(rule.stale_seconds * 1000)
    if not dashboards:
        log.warning("alert rule %r belongs to no dashboard; it is ignored", rule.name)
        return None
    boards = tuple(Board(d.pk, d.slug, d.title, watches) for d in sorted(dashboards, key=lambda d: d.pk))
    return RuleSpec(rule.pk, rule.name, rule.severity, rule.kind, for_ms, boards,
                    tuple(sorted(rule.targets.values_list("pk", flat=True))))


def load_specs() -> list[RuleSpec]:
    """Every enabled rule that watches something."""
    rules = Rule.objects.filter(enabled=True).select_related("widget__dashboard", "statistic").order_by("pk")
    return [spec for spec in map(spec_of, rules) if spec is not None]
