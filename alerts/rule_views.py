"""Rule editing in the product's own pages, for supervisors with the "add rule" / "change
rule" permissions: only on dashboards (and their widgets) they may view. Targets are
picked by name; their secrets never reach these pages."""

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from alerts.models import Rule
from dashboard.models import Widget
from dashboard.views import visible_dashboards
from statsbridge.models import Statistic


class RuleForm(forms.ModelForm):
    """A rule, limited to what the user may view."""

    class Meta:
        model = Rule
        fields = ("name", "enabled", "severity", "kind", "dashboards", "widget", "statistic", "direction", "value",
                  "hysteresis", "for_seconds", "stale_seconds", "agent_state", "agent_reason", "targets",
                  "quiet_from", "quiet_until", "escalate_after_minutes", "escalation_targets")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("quiet_from", "quiet_until"):
            self.fields[name].widget = forms.TimeInput(attrs={"type": "time"})
        boards = visible_dashboards(user).distinct()
        self.fields["dashboards"].queryset = boards
        self.fields["widget"].queryset = Widget.objects.filter(dashboard__in=boards.values("pk"))
        self.fields["statistic"].queryset = Statistic.objects.filter(
            widgets__dashboard__in=boards.values("pk")).distinct()


@login_required
@permission_required("alerts.view_rule", raise_exception=True)
def rule_list(request):
    """The rules, with links to edit them."""
    return render(request, "alerts/rules.html", {"rules": Rule.objects.prefetch_related("dashboards")})


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, rule_id: int | None = None):
    """Create (``add_rule``) or change (``change_rule``) a rule."""
    rule = get_object_or_404(Rule, pk=rule_id) if rule_id else None
    if not request.user.has_perm("alerts.change_rule" if rule else "alerts.add_rule"):
        return render(request, "403.html", status=403)
    form = RuleForm(request.POST or None, instance=rule, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("alert-rules")
    return render(request, "alerts/rule_form.html", {"form": form, "rule": rule})
