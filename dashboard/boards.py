"""Everything a page needs to draw dashboards: specs, rendered widgets, the JS config."""

import hashlib
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from dashboard import figures
from dashboard.models import Dashboard, DisplayName, Widget, WidgetStatistic

_PAGE_CODE = Path(settings.BASE_DIR) / "static" / "dashboard"


def page_modules() -> list[str]:
    """The file names of the page's JavaScript modules."""
    return sorted(path.name for path in _PAGE_CODE.glob("*.js"))


def page_version() -> str:
    """A short fingerprint of the page code; walls report it in their telemetry.

    Every module and style sheet counts: a change to any one of them is a new version.
    """
    digest = hashlib.sha256()
    for path in sorted([*_PAGE_CODE.glob("*.js"), *_PAGE_CODE.glob("*.css")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def drilldown_link(target: Dashboard | None) -> dict | None:
    """Where a widget's tiles lead: the drill-down dashboard's slug, title and desk path."""
    if target is None:
        return None
    return {"slug": target.slug, "title": target.title, "url": reverse("dashboard", args=[target.slug])}


def wall_place(widget: Widget) -> dict | None:
    """A widget's own place on walls ({x, y, w, h}), or None when walls use its desk place."""
    place = widget.wall_layout
    if not isinstance(place, dict) or not all(isinstance(place.get(k), int) for k in ("x", "y", "w", "h")):
        return None
    return {k: place[k] for k in ("x", "y", "w", "h")}


def widget_specs(dashboard: Dashboard, layout: str = "desk") -> list[dict]:
    """The specs of a dashboard's widgets, statistics in their display order and names (three queries).

    ``layout="wall"`` places widgets where the editor put them for walls (where set)."""
    widgets = list(Widget.objects.filter(dashboard=dashboard).select_related("drilldown").order_by("y", "x", "pk"))
    links = list(WidgetStatistic.objects.filter(widget__in=widgets).select_related("statistic").order_by("position", "pk"))
    display_names = DisplayName.names_for(link.statistic for link in links)
    by_widget: dict[int, list] = {}
    for link in links:
        by_widget.setdefault(link.widget_id, []).append(link)
    specs = []
    for w in widgets:
        own = by_widget.get(w.pk, [])
        spec = figures.widget_spec(w, [link.statistic for link in own], display_names, [link.limits(w) for link in own])
        place = wall_place(w) if layout == "wall" else None
        specs.append({**spec, **(place or {}), "drilldown": drilldown_link(w.drilldown)})
    return specs


def statistic_keys(specs: list[dict]) -> list[str]:
    """Every statistic key the specs use, once, in first-use order."""
    return list(dict.fromkeys(s["key"] for spec in specs for s in spec["statistics"]))


def history_window_ms(specs: list[dict]) -> int:
    """How far back the widgets' line charts and sparklines look."""
    wanted = [spec["history_minutes"] for spec in specs if spec["type"] in ("line", "kpi")]
    return max(wanted, default=0) * 60_000


def render_board(dashboard: Dashboard, specs: list[dict], values: dict, history: dict, at_ms: int | None = None) -> dict:
    """Render every widget of a dashboard with the given values and history, as of ``at_ms`` (default now)."""
    widgets = []
    for spec in specs:
        keys = [s["key"] for s in spec["statistics"]]
        own_history = {k: history.get(k, []) for k in keys} if spec["type"] in ("line", "kpi") else {}
        widgets.append(figures.render(spec, values, own_history, dashboard.time_zone, at_ms))
    rows = max((spec["y"] + spec["h"] for spec in specs), default=1)
    return {"dashboard": dashboard, "widgets": widgets, "rows": rows}


def mark_refused(board: dict, refused: dict | None) -> dict:
    """Give each widget the statistics the upstream refused (key → reason, as the bridge
    publishes them), so the widget itself says why it has no data."""
    refused = refused or {}
    for widget in board["widgets"]:
        widget["refused"] = [{"label": s["label"], "reason": refused[s["key"]]}
                             for s in widget["spec"]["statistics"] if s["key"] in refused]
    return board


def js_config(boards: list[dict], values: dict, ws_path: str, wall: dict | None = None) -> dict:
    """The JSON the page's module boots from (#dash-config); the history it needs is
    already in the figures, thinned (``figures.thin``), so it is not sent again raw."""
    specs = [w["spec"] for board in boards for w in board["widgets"]]
    used = set(statistic_keys(specs))
    return {
        "wsPath": ws_path,
        "timeZone": boards[0]["dashboard"].time_zone if boards else "UTC",
        "widgets": specs,
        "figures": {str(w["spec"]["id"]): w["figure"] for board in boards for w in board["widgets"] if w["figure"]},
        "values": {k: v for k, v in values.items() if k in used},
        "agentStates": figures.AGENT_STATES,
        "backoffBaseMs": 500,
        "backoffCapMs": 8000,
        "wall": wall,
    }
