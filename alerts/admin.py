"""Admin for alert rules, targets, alerts (history) and the delivery log.

A target's secret is write-only: the form never renders it, and leaving it empty keeps
the one stored.
"""

from django import forms
from django.contrib import admin

from alerts.models import Alert, Delivery, Rule, Silence, Target


class TargetForm(forms.ModelForm):
    """The target form, with a secret that is never sent back to the browser."""

    url = forms.URLField(required=False, assume_scheme="https", max_length=500, help_text="Webhook: where the JSON is POSTed.")
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="HMAC-SHA256 key of the X-Signature header. Leave empty to keep the stored one.")

    class Meta:
        model = Target
        fields = ["name", "kind", "url", "secret", "emails", "timeout_seconds", "attempts"]

    def clean_secret(self):
        """An empty entry keeps the stored secret."""
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    """Targets; the secret is write-only."""

    form = TargetForm
    list_display = ["name", "kind", "url", "emails"]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    """Alert rules."""

    list_display = ["name", "enabled", "severity", "kind", "for_seconds", "stale_seconds"]
    list_filter = ["enabled", "severity", "kind"]
    filter_horizontal = ["dashboards", "targets", "escalation_targets"]
    raw_id_fields = ["widget", "statistic"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Every alert that fired, open or resolved (the history)."""

    list_display = ["rule", "dashboard", "label", "state", "text", "acknowledged_by"]
    list_filter = ["state", "rule"]
    readonly_fields = ["rule", "dashboard", "subject", "label", "pending_since", "fired_at", "resolved_at",
                       "value", "text", "acknowledged_by", "acknowledged_at"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: every notification sent, retried or failed, and why."""

    list_display = ["created", "target", "event", "status", "attempts", "last_error"]
    list_filter = ["status", "target", "event"]
    readonly_fields = ["alert", "target", "event", "payload", "status", "attempts", "last_error", "created", "sent_at"]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    """Maintenance windows: no notifications for what they cover."""

    list_display = ["reason", "rule", "dashboard", "starts", "ends"]
