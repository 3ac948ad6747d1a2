"""Dashboards as JSON: export, and import that validates everything before saving anything.

The format (``"format": "ccdash-dashboards/1"``) carries dashboards with their widgets
and each widget's statistics by identity (object type, object id, name or custom
definition), so it moves between installations; statistics are matched by their key
or created. Owners are not exported; groups are matched by name.
"""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from dashboard.models import Dashboard, Widget, WidgetStatistic
from statsbridge.models import Statistic, statistic_key

FORMAT = "ccdash-dashboards/1"
DASHBOARD_FIELDS = ("title", "slug", "description", "columns", "time_zone")
WIDGET_FIELDS = (
    "type", "label", "x", "y", "w", "h", "unit", "format", "warning", "critical",
    "direction", "hysteresis", "history_minutes", "interval",
)
STATISTIC_FIELDS = ("object_type", "object_id", "name", "definition", "label")


class DashboardImportError(ValueError):
    """An import was refused; ``problems`` lists every problem with where it is."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def export_dashboards(dashboards) -> dict:
    """Return the JSON-able document of these dashboards."""
    result = []
    for dashboard in dashboards:
        widgets = []
        for widget in dashboard.widgets.order_by("y", "x", "pk"):
            links = WidgetStatistic.objects.filter(widget=widget).select_related("statistic").order_by("position", "pk")
            entry = {name: getattr(widget, name) for name in WIDGET_FIELDS}
            entry["statistics"] = [{name: getattr(link.statistic, name) for name in STATISTIC_FIELDS} for link in links]
            widgets.append(entry)
        item = {name: getattr(dashboard, name) for name in DASHBOARD_FIELDS}
        item["groups"] = sorted(dashboard.groups.values_list("name", flat=True))
        item["widgets"] = widgets
        result.append(item)
    return {"format": FORMAT, "dashboards": result}


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{field}: {' '.join(m for e in errs for m in e.messages)}" for field, errs in error.error_dict.items()]
    return list(error.messages)


def _fields(data, allowed: tuple, where: str, problems: list) -> dict:
    if not isinstance(data, dict):
        problems.append(f"{where}: expected an object")
        return {}
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    return {k: v for k, v in data.items() if k in allowed}


def _check(instance, where: str, problems: list, exclude=()) -> None:
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False)
    except ValidationError as error:
        problems.extend(f"{where}: {message}" for message in _messages(error))


def _plan(document, replace: bool) -> tuple[list, list[str]]:
    """Validate the document fully and return unsaved objects to create, or the problems."""
    problems: list[str] = []
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return [], [f"not a dashboards export: expected \"format\": \"{FORMAT}\""]
    items = document.get("dashboards")
    if not isinstance(items, list) or not items:
        return [], ["\"dashboards\" must be a non-empty list"]
    plans = []
    slugs = set()
    for d_index, item in enumerate(items):
        where = f"dashboards[{d_index}]"
        fields = _fields(item, DASHBOARD_FIELDS + ("groups", "widgets"), where, problems)
        dashboard = Dashboard(**{k: v for k, v in fields.items() if k in DASHBOARD_FIELDS})
        _check(dashboard, where, problems, exclude=["owner"])
        if dashboard.slug in slugs:
            problems.append(f"{where}: slug {dashboard.slug!r} appears twice in the file")
        slugs.add(dashboard.slug)
        if not replace and Dashboard.objects.filter(slug=dashboard.slug).exists():
            problems.append(f"{where}: a dashboard with slug {dashboard.slug!r} exists (import with replace to overwrite it)")
        group_names = fields.get("groups") or []
        known_groups = set(Group.objects.filter(name__in=group_names).values_list("name", flat=True))
        problems.extend(f"{where}.groups: no group named {g!r}" for g in group_names if g not in known_groups)
        widgets = []
        for w_index, widget_item in enumerate(fields.get("widgets") or []):
            w_where = f"{where}.widgets[{w_index}]"
            w_fields = _fields(widget_item, WIDGET_FIELDS + ("statistics",), w_where, problems)
            widget = Widget(**{k: v for k, v in w_fields.items() if k in WIDGET_FIELDS})
            _check(widget, w_where, problems, exclude=["dashboard"])
            stats = []
            for s_index, stat_item in enumerate(w_fields.get("statistics") or []):
                s_where = f"{w_where}.statistics[{s_index}]"
                s_fields = _fields(stat_item, STATISTIC_FIELDS, s_where, problems)
                stat = Statistic(**s_fields)
                _check(stat, s_where, problems, exclude=["key"])
                stat.key = statistic_key(stat.object_type, stat.object_id, stat.name, stat.definition)
                stats.append(stat)
            if len({s.key for s in stats}) != len(stats):
                problems.append(f"{w_where}: the same statistic is listed twice")
            widgets.append((widget, stats))
        plans.append((dashboard, sorted(known_groups), widgets))
    return plans, problems


def import_dashboards(document, *, replace: bool = False, owner=None) -> list[Dashboard]:
    """Create the document's dashboards; raise DashboardImportError (saving nothing) on any problem."""
    plans, problems = _plan(document, replace)
    if problems:
        raise DashboardImportError(problems)
    created = []
    with transaction.atomic():
        for dashboard, group_names, widgets in plans:
            if replace:
                Dashboard.objects.filter(slug=dashboard.slug).delete()
            dashboard.owner = owner
            dashboard.save()
            dashboard.groups.set(Group.objects.filter(name__in=group_names))
            for widget, stats in widgets:
                widget.dashboard = dashboard
                widget.save()
                for position, stat in enumerate(stats):
                    saved = Statistic.objects.filter(key=stat.key).first()
                    if saved is None:
                        stat.save()
                        saved = stat
                    WidgetStatistic.objects.create(widget=widget, statistic=saved, position=position)
            created.append(dashboard)
    return created
