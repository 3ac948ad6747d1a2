"""The dashboard editor: supervisors with "Can edit dashboards" build boards in the product's pages.

Pages: the list of boards one may edit (create, duplicate, delete), and one board's
editor (a grid, the catalogue, sharing). Saving sends the whole board as JSON; it is
checked by ``dashboard.validation`` (the same checks as the admin) and refused with a
409 when someone else saved the board since it was loaded, so no one's work is
overwritten unseen.
"""

import hashlib
import json

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST, require_safe

from dashboard import livedata
from dashboard.boards import wall_place
from dashboard.catalogue import build_catalogue, search_objects
from dashboard.cost import cost_preview
from dashboard.models import Dashboard, Widget, WidgetStatistic
from dashboard.validation import REFUSED, UNCHECKED, Box, layout_problems, new_statistic_verdicts
from statsbridge.models import OBJECT_TYPES, Statistic, statistic_key
from statsbridge.probe import check_statistics

PERMISSION = "dashboard.edit_dashboards"
MAX_WIDGETS = 200
PREVIEW_VALUES = 4  # values a widget's preview shows in the editor
MAX_STATISTICS_PER_WIDGET = 400
WIDGET_TYPES = {code for code, _ in Widget.TYPES}
FORMATS = {code for code, _ in Widget.FORMATS}
DIRECTIONS = {code for code, _ in Widget.DIRECTIONS}


class BadBoard(ValueError):
    """A saved board that is not even well formed; the message says what."""


def can_edit(user) -> bool:
    """Editors hold the permission; staff edit through the admin and here alike."""
    return user.is_authenticated and user.is_active and (user.is_staff or user.has_perm(PERMISSION))


def editable_dashboards(user):
    """The boards a user may edit: every board for staff, else the ones they own or that are shared with them."""
    if user.is_staff:
        return Dashboard.objects.all()
    return (Dashboard.objects.filter(owner=user) | Dashboard.objects.filter(groups__in=user.groups.all())).distinct()


def shareable_groups(user):
    """The groups an editor may share a board with: any for staff, else the editor's own.

    Sharing grants viewing: an editor who could share with any group could show the
    tenant's statistics to people no administrator gave them to.
    """
    return Group.objects.all() if user.is_staff else user.groups.all()


def shared_groups(current, requested, shareable) -> set:
    """The board's groups after a save: what was asked among the shareable groups, plus the
    groups already on the board that this editor may not share (kept: someone else set them)."""
    shareable = set(shareable)
    return (set(requested) & shareable) | (set(current) - shareable)


def _editor(request):
    if not can_edit(request.user):
        raise PermissionDenied("You may not edit dashboards: ask an administrator for “Can edit dashboards”.")


def _editable(request, slug: str) -> Dashboard:
    _editor(request)
    dashboard = get_object_or_404(Dashboard, slug=slug)
    if not editable_dashboards(request.user).filter(pk=dashboard.pk).exists():
        raise PermissionDenied("This dashboard is not yours and not shared with you.")
    return dashboard


def unique_slug(title: str) -> str:
    """A free slug made from a title ("Sales floor" → sales-floor, sales-floor-2, ...)."""
    base = slugify(title)[:40] or "dashboard"
    slug, number = base, 2
    while Dashboard.objects.filter(slug=slug).exists():
        slug, number = f"{base}-{number}", number + 1
    return slug


def version_of(dashboard: Dashboard) -> str:
    """What a page saves against: a fingerprint of everything stored about the board.

    Made from the rows themselves, not a save time, so a change made anywhere (another
    editor, the admin, an import) is caught, and a save that changed nothing is not a conflict.
    """
    content = [
        [dashboard.title, dashboard.description, dashboard.columns, dashboard.time_zone, dashboard.owner_id],
        sorted(dashboard.groups.values_list("pk", flat=True)),
        list(Widget.objects.filter(dashboard=dashboard).order_by("pk").values()),
        list(WidgetStatistic.objects.filter(widget__dashboard=dashboard).order_by("pk").values()),
    ]
    return hashlib.sha256(json.dumps(content, default=str, sort_keys=True).encode()).hexdigest()[:20]


@login_required
def editor_list(request):
    """The boards this user may edit; POST makes a new empty board and opens it."""
    _editor(request)
    if request.method == "POST":
        title = request.POST.get("title", "").strip()[:200]
        if title:
            board = Dashboard.objects.create(title=title, slug=unique_slug(title), owner=request.user)
            return redirect("editor", slug=board.slug)
    boards = editable_dashboards(request.user).order_by("title")
    return render(request, "dashboard/editor_list.html", {"boards": boards}, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def editor_duplicate(request, slug: str):
    """Copy a board with its widgets and their statistics; the copy is the user's own."""
    source = _editable(request, slug)
    with transaction.atomic():
        copy = Dashboard.objects.create(title=f"Copy of {source.title}"[:200], slug=unique_slug(f"{source.title} copy"),
                                        description=source.description, columns=source.columns,
                                        time_zone=source.time_zone, owner=request.user)
        for widget in source.widgets.all():
            links = list(WidgetStatistic.objects.filter(widget=widget))
            widget.pk, widget.dashboard = None, copy
            widget.save()
            for link in links:
                link.pk, link.widget = None, widget
                link.save()
    return redirect("editor", slug=copy.slug)


@login_required
@require_POST
def editor_delete(request, slug: str):
    """Delete a board: its owner or staff only (a shared board is not the sharer's to lose)."""
    board = _editable(request, slug)
    if not (request.user.is_staff or board.owner_id == request.user.pk):
        raise PermissionDenied("Only the owner of a dashboard may delete it.")
    board.delete()
    return redirect("editor-list")


def widget_values(dashboard: Dashboard) -> dict[int, str]:
    """The live preview: each saved widget's current values as text ("7", "7 · 3 · 12 …"), by widget id."""
    keys: dict[int, list] = {}
    for widget_id, key in (WidgetStatistic.objects.filter(widget__dashboard=dashboard)
                           .order_by("position", "pk").values_list("widget_id", "statistic__key")):
        keys.setdefault(widget_id, []).append(key)
    stored = livedata.stored_values({k for ks in keys.values() for k in ks})
    shown = {}
    for widget_id, own in keys.items():
        texts = [stored[k].get("text") or "" for k in own if k in stored]
        shown[widget_id] = " · ".join(texts[:PREVIEW_VALUES]) + (" …" if len(texts) > PREVIEW_VALUES else "")
    return shown


def board_state(dashboard: Dashboard) -> dict:
    """The board as the editor page edits it (and as a save sends it back), with what the
    upstream refused of each widget's statistics (read only: ``refused``)."""
    refused = (livedata.bridge_status() or {}).get("refused") or {}
    links = WidgetStatistic.objects.filter(widget__dashboard=dashboard).select_related("statistic").order_by("position", "pk")
    by_widget: dict[int, list] = {}
    for link in links:
        s = link.statistic
        by_widget.setdefault(link.widget_id, []).append(
            {"object_type": s.object_type, "object_id": s.object_id, "name": s.name or "", "custom": not s.name,
             "refused": refused.get(s.key)})
    return {
        "slug": dashboard.slug,
        "title": dashboard.title,
        "columns": dashboard.columns,
        "version": version_of(dashboard),
        "groups": sorted(dashboard.groups.values_list("pk", flat=True)),
        "widgets": [
            {"id": w.pk, "type": w.type, "label": w.label, "x": w.x, "y": w.y, "w": w.w, "h": w.h, "unit": w.unit,
             "format": w.format, "warning": w.warning, "critical": w.critical, "direction": w.direction,
             "wall": wall_place(w), "statistics": by_widget.get(w.pk, []),
             "refused": [{"label": f"{s['name']} of {s['object_id']}", "reason": s["refused"]}
                         for s in by_widget.get(w.pk, []) if s["refused"]]}
            for w in dashboard.widgets.order_by("y", "x", "pk")
        ],
    }


@login_required
@require_safe
def editor_page(request, slug: str):
    """One board's editor."""
    dashboard = _editable(request, slug)
    context = {
        "dashboard": dashboard,
        "editor_config": {
            "board": board_state(dashboard),
            "catalogue": build_catalogue(),
            "groups": [{"id": g.pk, "name": g.name} for g in shareable_groups(request.user).order_by("name")],
            "types": Widget.TYPES,
            "save_url": reverse("editor-save", args=[slug]),
            "check_url": reverse("editor-check"),
            "objects_url": reverse("editor-objects"),
            "cost_url": reverse("editor-cost", args=[slug]),
            "values_url": reverse("editor-values", args=[slug]),
            "view_url": reverse("dashboard", args=[slug]),
            "object_types": OBJECT_TYPES,
        },
    }
    return render(request, "dashboard/editor.html", context)


def _number(value, what: str, *, minimum: int = 0, maximum: int = 1000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise BadBoard(f"{what} must be a whole number from {minimum} to {maximum}")
    return value


def _level(value, what: str) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadBoard(f"{what} must be a number")
    return float(value)


def _text(value, what: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str) or len(value.strip()) > limit or (required and not value.strip()):
        raise BadBoard(f"{what} must be text of at most {limit} characters" + (", not empty" if required else ""))
    return value.strip()


def parse_board(body: dict) -> dict:
    """A save request's board, typed and bounded; raises BadBoard naming the first bad field."""
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        raise BadBoard("the body must be a board with a list of widgets")
    if len(body["widgets"]) > MAX_WIDGETS:
        raise BadBoard(f"a board holds at most {MAX_WIDGETS} widgets")
    groups = body.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in groups):
        raise BadBoard("groups must be a list of group ids")
    widgets = []
    for index, raw in enumerate(body["widgets"], 1):
        if not isinstance(raw, dict):
            raise BadBoard(f"widget {index} must be an object")
        kind = raw.get("type")
        if kind not in WIDGET_TYPES:
            raise BadBoard(f"widget {index} has an unknown type")
        stats = raw.get("statistics") or []
        if not isinstance(stats, list) or len(stats) > MAX_STATISTICS_PER_WIDGET:
            raise BadBoard(f"widget {index}'s statistics must be a list of at most {MAX_STATISTICS_PER_WIDGET}")
        items = []
        for stat in stats:
            if not isinstance(stat, dict):
                raise BadBoard(f"widget {index}'s statistics must be objects")
            object_type = _text(stat.get("object_type"), "an object type", 64, required=True)
            if object_type not in OBJECT_TYPES:
                raise BadBoard(f"widget {index}: unknown object type {object_type!r}")
            items.append((object_type, _text(stat.get("object_id"), "an object id", 255, required=True),
                          _text(stat.get("name", ""), "a statistic name", 128)))
        wall = raw.get("wall")
        if wall is not None:
            if not isinstance(wall, dict):
                raise BadBoard(f"widget {index}'s wall place must be an object or null")
            wall = {"x": _number(wall.get("x"), f"widget {index}'s wall column"),
                    "y": _number(wall.get("y"), f"widget {index}'s wall row"),
                    "w": _number(wall.get("w"), f"widget {index}'s wall width", minimum=1),
                    "h": _number(wall.get("h"), f"widget {index}'s wall height", minimum=1)}
        widget_id = raw.get("id")
        widgets.append({
            "id": widget_id if isinstance(widget_id, int) and not isinstance(widget_id, bool) else None,
            "type": kind,
            "label": _text(raw.get("label"), f"widget {index}'s label", 200, required=True),
            "x": _number(raw.get("x"), f"widget {index}'s column"), "y": _number(raw.get("y"), f"widget {index}'s row"),
            "w": _number(raw.get("w"), f"widget {index}'s width", minimum=1),
            "h": _number(raw.get("h"), f"widget {index}'s height", minimum=1),
            "unit": _text(raw.get("unit") or "", f"widget {index}'s unit", 20),
            "format": raw.get("format") if raw.get("format") in FORMATS else "auto",
            "direction": raw.get("direction") if raw.get("direction") in DIRECTIONS else Widget.HIGH_IS_BAD,
            "warning": _level(raw.get("warning"), f"widget {index}'s warning level"),
            "critical": _level(raw.get("critical"), f"widget {index}'s critical level"),
            "wall": wall,
            "statistics": items,
        })
    return {"title": _text(body.get("title"), "the title", 200, required=True), "groups": groups,
            "version": body.get("version"), "widgets": widgets}


def board_problems(board: dict, columns: int, *, may_save_unchecked: bool) -> list[dict]:
    """Every problem of a parsed board, each ``{"widget": index or None, "field", "message"}``."""
    problems = [{"widget": None, "field": "layout", "message": m}
                for m in layout_problems([Box(w["label"], w["x"], w["y"], w["w"], w["h"]) for w in board["widgets"]],
                                         columns)]
    if any(w["wall"] for w in board["widgets"]):
        walls = [Box(w["label"], **(w["wall"] or {k: w[k] for k in ("x", "y", "w", "h")})) for w in board["widgets"]]
        problems += [{"widget": None, "field": "wall layout", "message": f"On walls: {m}"}
                     for m in layout_problems(walls, columns)]
    for index, spec in enumerate(board["widgets"]):
        widget = Widget(**{k: spec[k] for k in ("type", "label", "unit", "format", "direction", "warning", "critical")})
        try:
            widget.clean()
        except ValidationError as error:
            problems += [{"widget": index, "field": "thresholds", "message": m} for m in error.messages]
    named = [item for spec in board["widgets"] for item in spec["statistics"] if item[2]]
    verdicts = new_statistic_verdicts(named)
    for index, spec in enumerate(board["widgets"]):
        for item in spec["statistics"]:
            verdict = verdicts.get(item)
            if verdict is None:
                continue
            what = f"{item[2]} of {item[0]} {item[1]}"
            if verdict.status == REFUSED:
                problems.append({"widget": index, "field": "statistic", "statistic": list(item),
                                 "message": f"The upstream refused {what}: {verdict.message}"})
            elif verdict.status == UNCHECKED and not may_save_unchecked:
                problems.append({"widget": index, "field": "statistic", "statistic": list(item),
                                 "message": f"Could not check {what} ({verdict.message}); an administrator "
                                            "can save it, or try again later."})
    return problems


def _statistic(object_type: str, object_id: str, name: str) -> Statistic:
    found = Statistic.objects.filter(key=statistic_key(object_type, object_id, name, None)).first()
    return found or Statistic.objects.create(object_type=object_type, object_id=object_id, name=name)


def apply_board(dashboard: Dashboard, board: dict, shareable=None) -> None:
    """Make the stored board what the editor sent (inside the caller's transaction)."""
    kept_ids = set(dashboard.widgets.values_list("pk", flat=True))
    seen = set()
    for spec in board["widgets"]:
        fields = {k: spec[k] for k in ("type", "label", "x", "y", "w", "h", "unit", "format", "direction",
                                       "warning", "critical")}
        fields["wall_layout"] = spec["wall"]
        if spec["id"] in kept_ids and spec["id"] not in seen:
            widget = Widget.objects.get(pk=spec["id"])
            for name, value in fields.items():
                setattr(widget, name, value)
            widget.save()
        else:
            widget = Widget.objects.create(dashboard=dashboard, **fields)
        seen.add(widget.pk)
        wanted = [_statistic(*item) for item in dict.fromkeys(spec["statistics"]) if item[2]]
        links = {link.statistic_id: link for link in WidgetStatistic.objects.filter(widget=widget).select_related("statistic")}
        for position, statistic in enumerate(wanted):
            link = links.pop(statistic.pk, None) or WidgetStatistic(widget=widget, statistic=statistic)
            if link.pk is None or link.position != position:
                link.position = position
                link.save()
        # Custom definitions (made in the admin) are not edited here: their links stay.
        WidgetStatistic.objects.filter(pk__in=[link.pk for link in links.values() if link.statistic.name]).delete()
    Widget.objects.filter(dashboard=dashboard).exclude(pk__in=seen).delete()
    dashboard.title = board["title"]
    dashboard.save()
    current = set(dashboard.groups.values_list("pk", flat=True))
    groups = set(board["groups"]) if shareable is None else shared_groups(current, board["groups"], shareable)
    dashboard.groups.set(Group.objects.filter(pk__in=groups))


@login_required
@require_POST
def editor_save(request, slug: str):
    """Save a whole board: 400 with the problems at their fields, 409 when someone saved it meanwhile."""
    dashboard = _editable(request, slug)
    try:
        board = parse_board(json.loads(request.body or b"null"))
    except (ValueError, BadBoard) as error:
        return JsonResponse({"problems": [{"widget": None, "field": "board", "message": str(error)}]}, status=400)
    problems = board_problems(board, dashboard.columns, may_save_unchecked=request.user.is_staff)
    if problems:
        return JsonResponse({"problems": problems}, status=400)
    with transaction.atomic():
        current = Dashboard.objects.select_for_update().get(pk=dashboard.pk)
        if board["version"] != version_of(current):
            return JsonResponse({"conflict": f"Someone else changed “{current.title}” after you opened it (last "
                                             f"saved {current.updated:%H:%M:%S} UTC). Your changes are still "
                                             "here: open the board in a new tab to see theirs, then redo yours or save "
                                             "over theirs.", "version": version_of(current)}, status=409)
        apply_board(current, board, shareable=shareable_groups(request.user).values_list("pk", flat=True))
    current.refresh_from_db()
    return JsonResponse({"version": version_of(current), "board": board_state(current)})


@login_required
@require_safe
def editor_objects(request):
    """Search the catalogue's objects of one type (for catalogues too large to send whole)."""
    _editor(request)
    found, more = search_objects(request.GET.get("type", ""), request.GET.get("q", "")[:200])
    return JsonResponse({"objects": found, "more": more})


@login_required
@require_safe
def editor_values(request, slug: str):
    """The saved widgets' current values (the editor's grid shows them and asks again now and then)."""
    dashboard = _editable(request, slug)
    return JsonResponse({"values": {str(k): v for k, v in widget_values(dashboard).items()}})


@login_required
@require_POST
def editor_cost(request, slug: str):
    """The admin's cost preview for the board as it is on the page: what saving it adds upstream."""
    _editable(request, slug)
    try:
        board = parse_board(json.loads(request.body or b"null"))
    except (ValueError, BadBoard) as error:
        return JsonResponse({"error": str(error)}, status=400)
    selected = [{"key": statistic_key(t, i, n, None), "object_type": t, "object_id": i, "name": n, "label": f"{n} of {i}"}
                for spec in board["widgets"] for t, i, n in spec["statistics"] if n]
    subscribed = set(WidgetStatistic.objects.values_list("statistic__key", flat=True))
    return JsonResponse(cost_preview(selected, subscribed))


@login_required
@require_POST
def editor_check(request):
    """The upstream's verdict on one statistic, with its current value (the field's check and preview)."""
    _editor(request)
    try:
        body = json.loads(request.body or b"null")
        item = (_text(body.get("object_type"), "the object type", 64, required=True),
                _text(body.get("object_id"), "the object id", 255, required=True),
                _text(body.get("name"), "the statistic name", 128, required=True))
    except (ValueError, AttributeError, BadBoard) as error:
        return JsonResponse({"status": REFUSED, "message": str(error)}, status=400)
    if item[0] not in OBJECT_TYPES:
        return JsonResponse({"status": REFUSED, "message": f"unknown object type {item[0]!r}"})
    verdict = new_statistic_verdicts([item])[item]
    if verdict.status != REFUSED and verdict.value is None:
        # Known here already: still read its value for the preview.
        verdict = check_statistics([item])[0]
    return JsonResponse({"status": verdict.status, "message": verdict.message, "value": verdict.value})
