"""Dashboard pages: the list, a dashboard, its history, walls, the ops page, Plotly.js."""

import datetime as dt
import time
import zoneinfo
from pathlib import Path

import plotly
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from dashboard import boards, livedata, qr, security
from dashboard.models import Dashboard, Display, DisplayName
from statsbridge import control
from statsbridge.models import Statistic
from statsbridge.upstream.errors import UpstreamError

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
WALL_TELEMETRY_SECONDS = 15
WALL_RETRY_SECONDS = 60  # a wall refused for guessing from its address loads itself again this often


def dashboard_ws_path(slug: str) -> str:
    """The WebSocket path of a desk dashboard page."""
    return f"/ws/dashboards/{slug}/"


def wall_ws_path(token: str) -> str:
    """The WebSocket path of a wall."""
    return f"/ws/wall/{token}/"


def visible_dashboards(user):
    """Dashboards a user may view: all for staff, else owned or shared with a group."""
    if user.is_staff:
        return Dashboard.objects.all()
    return Dashboard.objects.filter(owner=user) | Dashboard.objects.filter(groups__in=user.groups.all())


def _viewable(request, slug: str) -> Dashboard:
    dashboard = get_object_or_404(Dashboard, slug=slug)
    if not dashboard.can_view(request.user):
        raise PermissionDenied("You may not view this dashboard.")
    return dashboard


@login_required
@require_safe
def dashboard_list(request):
    """The dashboards this user may open."""
    dashboards = visible_dashboards(request.user).distinct().order_by("title")
    return render(request, "dashboard/list.html", {"dashboards": dashboards})


@login_required
@require_safe
def dashboard_page(request, slug: str):
    """One dashboard on a desk, rendered with current values, then kept live."""
    dashboard = _viewable(request, slug)
    specs = boards.widget_specs(dashboard)
    keys = boards.statistic_keys(specs)
    values = livedata.current_values(keys)
    history = livedata.history(keys, boards.history_window_ms(specs))
    board = boards.render_board(dashboard, specs, values, history)
    boards.mark_refused(board, (livedata.bridge_status() or {}).get("refused"))
    config = boards.js_config([board], values, dashboard_ws_path(slug))
    return render(request, "dashboard/page.html", {"board": board, "config": config, "dashboard": dashboard})


def parse_local_time(text: str, time_zone: str) -> dt.datetime | None:
    """Parse ``YYYY-MM-DDTHH:MM[:SS]`` as a time in the dashboard's zone; None if malformed."""
    try:
        naive = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(time_zone))


@login_required
@require_safe
def history_page(request, slug: str):
    """What a dashboard showed at a past time, from the recorded history."""
    dashboard = _viewable(request, slug)
    zone = zoneinfo.ZoneInfo(dashboard.time_zone)
    now_local = dt.datetime.now(zone).replace(second=0, microsecond=0, tzinfo=None)
    error = ""
    at_text = request.GET.get("at", "")
    at = parse_local_time(at_text, dashboard.time_zone) if at_text else None
    if at_text and at is None:
        error = f"“{at_text}” is not a date and time (use the picker, e.g. {now_local.isoformat(timespec='minutes')})."
    board = None
    if at is not None:
        specs = boards.widget_specs(dashboard)
        keys = boards.statistic_keys(specs)
        at_ms = int(at.timestamp() * 1000)
        values = livedata.values_at(keys, at_ms)
        history = livedata.history(keys, boards.history_window_ms(specs), until_ms=at_ms)
        board = boards.render_board(dashboard, specs, values, history, at_ms)
    context = {
        "dashboard": dashboard,
        "board": board,
        "at": (at.astimezone(zone).replace(tzinfo=None) if at else now_local).isoformat(timespec="minutes"),
        "error": error,
        "figures": {str(w["spec"]["id"]): w["figure"] for w in board["widgets"] if w["figure"]} if board else {},
    }
    return render(request, "dashboard/history.html", context, status=400 if error else 200)


def admin_contact() -> str:
    """Whom people without access should ask, as the ADMIN_CONTACT setting names them (or "")."""
    return getattr(settings, "ADMIN_CONTACT", "")


def permission_denied(request, exception=None):
    """403 in the product's look: a way back, and whom to ask for access."""
    return render(request, "403.html", {"contact": admin_contact()}, status=403)


def page_not_found(request, exception=None):
    """404 in the product's look, with a way back to the dashboards."""
    return render(request, "404.html", {"contact": admin_contact()}, status=404)


@require_safe
def wall_page(request, token: str):
    """A wall TV: no login, its secret token opens its playlist (guessing is rate-limited per address)."""
    address = security.client_address(request)
    if security.wall_guessing_blocked(address):
        response = render(request, "dashboard/wall_refused.html",
                          {"throttled": True, "retry": WALL_RETRY_SECONDS, "contact": admin_contact()},
                          status=429)
        response["Retry-After"] = str(WALL_RETRY_SECONDS)
        return response
    display = Display.for_token(token)
    if display is None:
        security.note_wall_refusal(address)
        return render(request, "dashboard/wall_refused.html", {"contact": admin_contact()}, status=403)
    dashboards = list(display.dashboards.order_by("displayitem__position", "displayitem__pk"))
    rendered = []
    all_values: dict = {}
    for dashboard in dashboards:
        specs = boards.widget_specs(dashboard, layout="wall")
        keys = boards.statistic_keys(specs)
        values = livedata.current_values(keys)
        history = livedata.history(keys, boards.history_window_ms(specs))
        all_values.update(values)
        board = boards.render_board(dashboard, specs, values, history)
        desk_url = request.build_absolute_uri(reverse("dashboard", args=[dashboard.slug]))
        board["desk_url"] = desk_url
        board["qr_svg"] = qr.svg(desk_url)
        for widget in board["widgets"]:
            drilldown = widget["spec"].get("drilldown")
            if drilldown:
                # The widget's link hands its drill-down to a desk; one QR code per board (its
                # title's) is all a wall shows: one per tile was more than anyone reads at 5 m.
                widget["drill_url"] = request.build_absolute_uri(drilldown["url"])
        rendered.append(board)
    wall = {
        "seconds": display.seconds_per_dashboard,
        "nightStart": _minutes(display.night_start),
        "nightEnd": _minutes(display.night_end),
        "nightMode": display.night_mode,
        "reloadHour": display.reload_hour,
        "version": boards.page_version(),
        "memoryLimitMb": settings.WALL_MEMORY_LIMIT_MB,
        "telemetrySeconds": WALL_TELEMETRY_SECONDS,
        "textScale": display.text_scale,
    }
    config = boards.js_config(rendered, all_values, wall_ws_path(token), wall=wall)
    response = render(request, "dashboard/wall.html", {"display": display, "boards": rendered, "config": config})
    patch_cache_control(response, no_store=True)
    return response


def _minutes(value: dt.time | None) -> int | None:
    return None if value is None else value.hour * 60 + value.minute


def _staff(user) -> bool:
    return user.is_active and user.is_staff


# The ops page shows the bridge's statistics: viewing it needs the permission to view
# statistics, its buttons (resubscribe, peek) the permission to change them.
OPS_VIEW_PERMISSION = "statsbridge.view_statistic"
OPS_ACTION_PERMISSION = "statsbridge.change_statistic"


@user_passes_test(_staff)
def ops_page(request):
    """Upstream and service state, subscriptions, errors and rates; resubscribe and peek."""
    if not request.user.has_perm(OPS_VIEW_PERMISSION):
        raise PermissionDenied("You may not view the bridge's statistics.")
    if request.method == "POST":
        if not request.user.has_perm(OPS_ACTION_PERMISSION):
            raise PermissionDenied("You may not act on the bridge's statistics.")
        ops_action(request)
        return redirect("ops")
    return render(request, "dashboard/ops.html", ops_context())


def ops_action(request) -> None:
    """Carry out one ops button: resubscribe all, peek all, or peek one statistic now."""
    action = request.POST.get("action")
    if action == "resubscribe":
        control.request_resubscribe()
        messages.info(request, "Asked the bridge to re-create every subscription.")
    elif action == "peek_all":
        control.request_peek()
        messages.info(request, "Asked the bridge to re-read every subscribed value.")
    elif action == "peek":
        statistic = Statistic.objects.filter(pk=request.POST.get("statistic") or 0).first()
        if statistic is None:
            messages.error(request, "No such statistic.")
            return
        shown = DisplayName.label_of(statistic)
        try:
            value = control.peek_statistic(statistic)
        except (ValueError, UpstreamError) as error:
            messages.error(request, f"Peek of “{shown}” failed: {error}")
        else:
            stamp = value.get("timestamp")
            when = dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).strftime("%H:%M:%S UTC") if stamp else "no timestamp"
            messages.info(request, f"Peek of “{shown}”: {value['text'] or value['value']} ({value['kind']}, {when}).")
    else:
        messages.error(request, f"Unknown action {action!r}.")


def ops_context() -> dict:
    """What the ops page shows, from the status the bridge publishes and the latest values."""
    summary = ops_summary(livedata.bridge_status(), livedata.connection(), time.time())
    used = list(Statistic.objects.filter(widgets__isnull=False).distinct().order_by("object_type", "object_id", "name"))
    stored = livedata.stored_values(s.key for s in used)
    shown = DisplayName.names_for(used)
    now_ms = time.time() * 1000
    summary["rows"] = [
        {"statistic": s, "value": stored.get(s.key), "label": shown.label(s.label, s.object_type, s.object_id, s.name),
         "object_name": shown.object_name(s.object_type, s.object_id),
         "age": None if not stored.get(s.key) else max(0, int((now_ms - stored[s.key]["received"]) / 1000))}
        for s in used
    ]
    return summary


def ops_summary(status: dict | None, connection: dict, now_s: float) -> dict:
    """Pure: the ops page's facts from the bridge status (ages in seconds, sorted refusals, update rates)."""
    status = status or {}
    expires = status.get("token_expires_at")
    heartbeat = status.get("heartbeat")
    started = status.get("started")
    resubscribe = status.get("last_resubscribe") or None
    updates = status.get("updates") or {}
    if resubscribe and resubscribe.get("at"):
        resubscribe = {**resubscribe, "ago": max(0, int(now_s - resubscribe["at"] / 1000))}
    return {
        "connection": connection,
        "bridge": status.get("bridge"),
        "heartbeat_age": None if heartbeat is None else max(0.0, round(now_s - heartbeat / 1000, 1)),
        "uptime": None if started is None else max(0, int(now_s - started / 1000)),
        "token_expires_in": None if expires is None else int(expires - now_s),
        "subscriptions": status.get("subscriptions"),
        "statistics": status.get("statistics"),
        "wanted": status.get("wanted"),
        "refused": sorted((status.get("refused") or {}).items()),
        "mode": status.get("mode"),
        "poll_seconds": status.get("poll_seconds"),
        "polling_for": None if not status.get("polling_since") else max(0, int(now_s - status["polling_since"] / 1000)),
        "retrying": sorted((status.get("retrying") or {}).items()),
        "lost": status.get("lost"),
        "subscription_details": [
            {**item, "age": None if not item.get("last_update") else max(0, int(now_s - item["last_update"] / 1000))}
            for item in status.get("subscription_details") or []
        ],
        "last_error": status.get("last_error"),
        "config_error": status.get("config_error"),
        "last_resubscribe": resubscribe,
        "updates_total": updates.get("total"),
        "update_rates": [
            {"window": window_label(seconds), "rate": rate}
            for seconds, rate in zip(updates.get("windows") or [], updates.get("rates") or [], strict=True)
        ],
    }


def window_label(seconds: int) -> str:
    """A rate window as people say it: ``10 s``, ``1 min``."""
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


@require_safe
def plotly_js(request):
    """Plotly.js from the installed plotly package: served locally, never from a CDN."""
    if not PLOTLY_JS.is_file():
        raise Http404("plotly.min.js is missing from the plotly package")
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript")
    response["ETag"] = f'"plotly-{plotly.__version__}"'
    patch_cache_control(response, public=True, max_age=86400)
    return response
