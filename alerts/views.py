"""The alert pages: the history of a user's dashboards' alerts, and one alert with its
acknowledge form (the link every notification carries)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from alerts import state
from alerts.models import Alert
from dashboard.views import visible_dashboards

HISTORY_LENGTH = 200


def _visible(user):
    return Alert.objects.filter(dashboard__in=visible_dashboards(user).values("pk")).exclude(state=Alert.PENDING)


@login_required
def alert_history(request):
    """Every alert of the dashboards the user may view, open ones first, newest first."""
    alerts = list(_visible(request.user).select_related("rule", "dashboard", "acknowledged_by")
                  .order_by("resolved_at", "-fired_at")[:HISTORY_LENGTH])
    alerts.sort(key=lambda a: (a.state == Alert.RESOLVED, -(a.fired_at or 0)))
    return render(request, "alerts/history.html", {"alerts": alerts})


@login_required
@require_http_methods(["GET", "POST"])
def alert_detail(request, alert_id: int):
    """One alert; POST acknowledges it (with an optional note) when it is firing."""
    alert = get_object_or_404(Alert.objects.select_related("rule", "dashboard", "acknowledged_by"), pk=alert_id)
    if not alert.dashboard.can_view(request.user) or alert.state == Alert.PENDING:
        raise Http404
    if request.method == "POST":
        note = request.POST.get("note", "").strip()[:1000]
        if state.acknowledge(alert, request.user, note):
            messages.success(request, f"Acknowledged: {alert.rule.name}.")
        else:
            messages.info(request, f"{alert.rule.name} is {alert.get_state_display().lower()}: nothing to acknowledge.")
        return redirect("alert", alert_id=alert.pk)
    return render(request, "alerts/detail.html", {"alert": alert, "since": state.iso(alert.pending_since),
                                                  "fired": state.iso(alert.fired_at),
                                                  "resolved": state.iso(alert.resolved_at)})
