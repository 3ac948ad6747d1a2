"""Dashboards as JSON: export, and import that validates everything before saving anything.

The format (``"format": "ccdash-dashboards/1"``) carries dashboards with their widgets
and each widget's statistics by identity (object type, object id, name or custom
definition), so it moves between installations; statistics are matched by their key
or created. Owners are not exported; groups are matched by name.

Every imported value is checked against its field's JSON type before the model
validation sees it (which assumes well-typed values: a list or a 400-digit integer in
a float field raises instead of failing validation), so each problem is reported with
where it is, e.g. ``dashboards[0].widgets[2].warning: must be a number``.

Drill-downs travel by slug: each exported widget carries ``"drilldown": "<slug>"`` (or
``null``). On import the slug must name a dashboard in the same file or one already in
the database, and not the widget's own dashboard; the links are set once every dashboard
of the file is saved, so a file can carry a board and its drill-down together.

Replacing a dashboard (``replace=True``) deletes it and saves the file's version under
the same slug. What other dashboards and walls point at it (drill-downs, playlist
entries) is moved onto the new one; were its slug ever gone after the import, the import
is refused and rolled back rather than silently losing those links.
"""

import json
import math

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models, transaction

from dashboard.models import Dashboard, DisplayItem, Widget, WidgetStatistic
from statsbridge.models import Statistic, statistic_key

FORMAT = "ccdash-dashboards/1"
DASHBOARD_FIELDS = ("title", "slug", "description", "columns", "time_zone")
WIDGET_FIELDS = (
    "type", "label", "x", "y", "w", "h", "unit", "format", "warning", "critical",
    "direction", "hysteresis", "history_minutes", "interval", "wall_layout",
)
STATISTIC_FIELDS = ("object_type", "object_id", "name", "definition", "label")
# A statistic's own thresholds in its widget (a queue table's column), exported only when set.
THRESHOLDS = "thresholds"
THRESHOLD_FIELDS = ("warning", "critical", "direction", "hysteresis")
DRILLDOWN = "drilldown"


class DashboardImportError(ValueError):
    """An import was refused; ``problems`` lists every problem with where it is."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class UnreadableFile(ValueError):
    """An export file that cannot be decoded; the message completes "The file ..."."""


def read_document(stream):
    """Decode an export file from a text or binary ``stream``; raise ``UnreadableFile`` when it is not JSON."""
    try:
        return json.load(stream)
    except RecursionError:  # what the parser raises past its nesting limit, instead of a ValueError
        raise UnreadableFile("is not JSON that can be read: it is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnreadableFile(f"is not JSON: {error}") from None


def export_dashboards(dashboards) -> dict:
    """Return the JSON-able document of these dashboards."""
    result = []
    for dashboard in dashboards:
        widgets = []
        for widget in dashboard.widgets.select_related("drilldown").order_by("y", "x", "pk"):
            links = WidgetStatistic.objects.filter(widget=widget).select_related("statistic").order_by("position", "pk")
            entry = {name: getattr(widget, name) for name in WIDGET_FIELDS}
            entry["statistics"] = [_statistic_entry(link) for link in links]
            entry[DRILLDOWN] = widget.drilldown.slug if widget.drilldown_id else None
            widgets.append(entry)
        item = {name: getattr(dashboard, name) for name in DASHBOARD_FIELDS}
        item["groups"] = sorted(dashboard.groups.values_list("name", flat=True))
        item["widgets"] = widgets
        result.append(item)
    return {"format": FORMAT, "dashboards": result}


def _statistic_entry(link: WidgetStatistic) -> dict:
    entry = {name: getattr(link.statistic, name) for name in STATISTIC_FIELDS}
    if link.has_own_thresholds():
        entry[THRESHOLDS] = {name: getattr(link, name) for name in THRESHOLD_FIELDS}
    return entry


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{field}: {' '.join(m for e in errs for m in e.messages)}" for field, errs in error.error_dict.items()]
    return list(error.messages)


def value_problem(field: models.Field, value) -> str | None:
    """Why a decoded JSON ``value`` cannot be stored in model ``field``, or None when it can."""
    if isinstance(field, models.JSONField):
        return None
    if isinstance(field, (models.CharField, models.TextField)):
        expected, types = "text", (str,)
    elif isinstance(field, models.IntegerField):
        expected, types = "a whole number", (int,)
    else:
        expected, types = "a number", (int, float)
    if value is None:
        return None if field.null else f"must be {expected}, not null"
    if isinstance(value, bool) or not isinstance(value, types):
        return f"must be {expected}"
    if isinstance(value, str) and "\x00" in value:
        return "must not contain NUL characters"  # PostgreSQL cannot store them
    if isinstance(field, models.FloatField):
        try:
            number = float(value)
        except OverflowError:
            return "is too large"
        if not math.isfinite(number):
            return "must be a finite number"
    return None


def _fields(
    data, model, model_fields: tuple, lists: tuple, where: str, problems: list, elsewhere: tuple = ()
) -> tuple[dict, list]:
    """The well-typed model fields and list fields of ``data``; returns them and the names refused.

    Names in ``elsewhere`` are allowed and checked by their own module (drill-downs).
    """
    if not isinstance(data, dict):
        problems.append(f"{where}: expected an object")
        return {}, []
    unknown = sorted(set(data) - set(model_fields) - set(lists) - set(elsewhere))
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    accepted, refused = {}, []
    for name in model_fields:
        if name in data:
            problem = value_problem(model._meta.get_field(name), data[name])
            if problem:
                problems.append(f"{where}.{name}: {problem}")
                refused.append(name)
            else:
                accepted[name] = data[name]
    for name in lists:
        value = data.get(name)
        if value is not None and not isinstance(value, list):
            problems.append(f"{where}.{name}: must be a list")
        elif value:
            accepted[name] = value
    return accepted, refused


def _own_thresholds(stat_item, widget: Widget, where: str, problems: list) -> dict:
    """The well-typed, well-ordered own thresholds of one statistic entry ({} when it has none)."""
    data = stat_item.get(THRESHOLDS) if isinstance(stat_item, dict) else None
    if data is None:
        return {}
    fields, refused = _fields(data, WidgetStatistic, THRESHOLD_FIELDS, (), where, problems)
    link = WidgetStatistic(**fields)
    link.widget = widget  # unsaved: its thresholds are checked against the widget's in the file
    try:
        link.clean_fields(exclude=["widget", "statistic", *refused])
        if not refused:
            link.clean()
    except ValidationError as error:
        problems.extend(f"{where}: {message}" for message in _messages(error))
    return fields


def _check(instance, where: str, problems: list, exclude: list, refused: list) -> None:
    """Model validation of the accepted fields; cross-field rules only when every field was accepted."""
    try:
        if refused:
            instance.clean_fields(exclude=exclude + refused)
        else:
            instance.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as error:
        problems.extend(f"{where}: {message}" for message in _messages(error))


def admin_form_problems(item: dict, refused: list) -> list[str]:
    """What the admin's statistic form refuses in a statistic entry (its object type and id
    rules), so that an import accepts nothing the admin would not. Its check for an existing
    twin is left out: an import reuses existing statistics."""
    from statsbridge.admin import StatisticForm

    if not isinstance(item, dict):
        return []  # already refused as "expected an object"
    checked = [name for name in ("object_type", "object_id") if name in item and name not in refused]
    if not checked:
        return []
    form = StatisticForm(data={name: item[name] for name in checked})
    form.is_valid()
    return [f"{name}: {' '.join(form.errors[name])}" for name in checked if name in form.errors]


def _group_names(value, where: str, problems: list) -> list[str]:
    names = value or []
    if not all(isinstance(name, str) for name in names):
        problems.append(f"{where}.groups: must be a list of group names")
        return []
    return names


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
        fields, refused = _fields(item, Dashboard, DASHBOARD_FIELDS, ("groups", "widgets"), where, problems)
        dashboard = Dashboard(**{k: v for k, v in fields.items() if k in DASHBOARD_FIELDS})
        _check(dashboard, where, problems, ["owner"], refused)
        if dashboard.slug in slugs:
            problems.append(f"{where}: slug {dashboard.slug!r} appears twice in the file")
        slugs.add(dashboard.slug)
        if not replace and Dashboard.objects.filter(slug=dashboard.slug).exists():
            problems.append(f"{where}: a dashboard with slug {dashboard.slug!r} exists (import with replace to overwrite it)")
        group_names = _group_names(fields.get("groups"), where, problems)
        known_groups = set(Group.objects.filter(name__in=group_names).values_list("name", flat=True))
        problems.extend(f"{where}.groups: no group named {g!r}" for g in group_names if g not in known_groups)
        widgets = []
        for w_index, widget_item in enumerate(fields.get("widgets") or []):
            w_where = f"{where}.widgets[{w_index}]"
            w_fields, refused = _fields(
                widget_item, Widget, WIDGET_FIELDS, ("statistics",), w_where, problems, elsewhere=(DRILLDOWN,)
            )
            widget = Widget(**{k: v for k, v in w_fields.items() if k in WIDGET_FIELDS})
            _check(widget, w_where, problems, ["dashboard"], refused)
            stats = []
            for s_index, stat_item in enumerate(w_fields.get("statistics") or []):
                s_where = f"{w_where}.statistics[{s_index}]"
                s_fields, refused = _fields(stat_item, Statistic, STATISTIC_FIELDS, (), s_where, problems,
                                            elsewhere=(THRESHOLDS,))
                stat = Statistic(**s_fields)
                _check(stat, s_where, problems, ["key"], refused)
                problems.extend(f"{s_where}: {m}" for m in admin_form_problems(stat_item, refused))
                stat.key = statistic_key(stat.object_type, stat.object_id, stat.name, stat.definition)
                stats.append((stat, _own_thresholds(stat_item, widget, f"{s_where}.{THRESHOLDS}", problems)))
            if len({s.key for s, _ in stats}) != len(stats):
                problems.append(f"{w_where}: the same statistic is listed twice")
            widgets.append((widget, stats))
        plans.append((dashboard, sorted(known_groups), widgets))
    problems.extend(drilldown_problems(document))
    return plans, problems


def import_dashboards(document, *, replace: bool = False, owner=None) -> list[Dashboard]:
    """Create the document's dashboards; raise DashboardImportError (saving nothing) on any problem.

    With ``replace``, a dashboard whose slug exists is overwritten in its own row (see
    ``_take_over``), so whatever points at it keeps pointing at it.
    """
    plans, problems = _plan(document, replace)
    if problems:
        raise DashboardImportError(problems)
    created = []
    with transaction.atomic():
        for dashboard, group_names, widgets in plans:
            if replace:
                _take_over(dashboard)
            dashboard.owner = owner
            dashboard.save()
            dashboard.groups.set(Group.objects.filter(name__in=group_names))
            for widget, stats in widgets:
                widget.dashboard = dashboard
                widget.save()
                for position, (stat, thresholds) in enumerate(stats):
                    saved = Statistic.objects.filter(key=stat.key).first()
                    if saved is None:
                        stat.save()
                        saved = stat
                    WidgetStatistic.objects.create(widget=widget, statistic=saved, position=position, **thresholds)
            created.append(dashboard)
        link_drilldowns(document, created)
    return created


def _take_over(dashboard: Dashboard) -> None:
    """Make the unsaved ``dashboard`` overwrite the saved one with its slug, if any, in the same row.

    Deleting and re-creating would cascade: other dashboards' drill-downs to it would be
    nulled and it would drop out of wall playlists. Keeping the row (new fields, groups and
    widgets; the old widgets go) keeps those links, and open pages keep their live updates.
    """
    existing = Dashboard.objects.select_for_update().filter(slug=dashboard.slug).first()
    if existing is None:
        return
    existing.widgets.all().delete()
    dashboard.pk, dashboard.created = existing.pk, existing.created
    dashboard._state.adding = False


def incoming_links(dashboards) -> str:
    """What outside ``dashboards`` points at them (drill-downs, wall playlist entries), as a sentence."""
    ids = [d.pk for d in dashboards]
    drilldowns = Widget.objects.filter(drilldown__in=ids).exclude(dashboard__in=ids).count()
    playlist = DisplayItem.objects.filter(dashboard__in=ids).count()
    entries = "entry" if playlist == 1 else "entries"
    return f"{drilldowns} drill-down(s) from other dashboards and {playlist} wall playlist {entries} point at them."


def _widget_items(document: dict):
    """Yield (dashboard index, dashboard item, widget index, widget item) of a document."""
    for d_index, item in enumerate(document.get("dashboards") or []):
        if not isinstance(item, dict):
            continue
        for w_index, widget_item in enumerate(item.get("widgets") or []):
            if isinstance(widget_item, dict):
                yield d_index, item, w_index, widget_item


def drilldown_problems(document: dict) -> list[str]:
    """Every drill-down in the document that cannot be linked, located like the import's problems."""
    if not isinstance(document, dict):
        return []
    in_file = {
        item.get("slug")
        for item in document.get("dashboards") or []
        if isinstance(item, dict) and isinstance(item.get("slug"), str)
    }
    wanted = {w.get(DRILLDOWN) for _, _, _, w in _widget_items(document) if isinstance(w.get(DRILLDOWN), str)}
    known = in_file | set(Dashboard.objects.filter(slug__in=wanted - in_file).values_list("slug", flat=True))
    problems = []
    for d_index, item, w_index, widget_item in _widget_items(document):
        slug = widget_item.get(DRILLDOWN)
        where = f"dashboards[{d_index}].widgets[{w_index}].{DRILLDOWN}"
        if slug is None:
            continue
        if not isinstance(slug, str):
            problems.append(f"{where}: expected a dashboard slug or null")
        elif slug == item.get("slug"):
            problems.append(f"{where}: a widget cannot drill down to its own dashboard ({slug!r})")
        elif slug not in known:
            problems.append(f"{where}: no dashboard with slug {slug!r} in the file or the database")
    return problems


def link_drilldowns(document: dict, created: list[Dashboard]) -> None:
    """Set the drill-downs of freshly imported dashboards (their widgets saved in file order).

    Call inside the import's transaction, after every dashboard of the file is saved and
    ``drilldown_problems`` found nothing.
    """
    by_slug = {d.slug: d for d in created}
    for item in document["dashboards"]:
        targets = [w.get(DRILLDOWN) for w in item.get("widgets") or []]
        if not any(targets):
            continue
        widgets = list(by_slug[item["slug"]].widgets.order_by("pk"))
        for widget, slug in zip(widgets, targets, strict=True):
            if slug:
                widget.drilldown = by_slug.get(slug) or Dashboard.objects.get(slug=slug)
                widget.save(update_fields=[DRILLDOWN])
