"""Alert rules, where they send notifications, the alerts they raised and every delivery.

Secrets (a webhook's signing key) are stored server-side and never rendered: the admin
form takes a new one and keeps the old one when left empty (``alerts.admin``).
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Target(models.Model):
    """Where notifications go: a webhook (signed JSON POST) or email addresses."""

    WEBHOOK = "webhook"
    EMAIL = "email"
    KINDS = [(WEBHOOK, "Webhook"), (EMAIL, "Email")]

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=KINDS)
    url = models.URLField(blank=True, max_length=500, help_text="Webhook: where the JSON is POSTed.")
    secret = models.CharField(max_length=200, blank=True,
                              help_text="Webhook: the HMAC-SHA256 key of the X-Signature header. Never shown again.")
    emails = models.CharField(max_length=500, blank=True, help_text="Email: addresses, separated by commas.")
    timeout_seconds = models.FloatField(default=5.0)
    attempts = models.PositiveSmallIntegerField(default=4, help_text="Tries before a delivery counts as failed.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        """A webhook needs a URL, an email target an address; tries and timeouts are positive."""
        if self.kind == self.WEBHOOK and not self.url:
            raise ValidationError({"url": "A webhook target needs a URL."})
        if self.kind == self.EMAIL and not self.email_list():
            raise ValidationError({"emails": "An email target needs at least one address."})
        if self.timeout_seconds <= 0:
            raise ValidationError({"timeout_seconds": "The timeout must be positive."})
        if self.attempts < 1:
            raise ValidationError({"attempts": "At least one attempt."})

    def email_list(self) -> list[str]:
        """The addresses of an email target."""
        return [each.strip() for each in self.emails.split(",") if each.strip()]


class Rule(models.Model):
    """A condition on a dashboard's data that raises an alert once it has held long enough."""

    THRESHOLD = "threshold"
    STALE = "stale"
    AGENT_STATE = "agent"
    KINDS = [(THRESHOLD, "Statistic above/below a value"), (STALE, "Data stale"),
             (AGENT_STATE, "Agent in a state for too long")]
    SEVERITIES = [("info", "Info"), ("warning", "Warning"), ("critical", "Critical")]
    ABOVE = "above"
    BELOW = "below"
    DIRECTIONS = [(ABOVE, "Above"), (BELOW, "Below")]

    name = models.CharField(max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=10, choices=SEVERITIES, default="warning")
    kind = models.CharField(max_length=10, choices=KINDS, default=THRESHOLD)
    dashboards = models.ManyToManyField("dashboard.Dashboard", related_name="alert_rules")
    widget = models.ForeignKey("dashboard.Widget", null=True, blank=True, on_delete=models.CASCADE,
                               help_text="Threshold: every statistic of this widget.")
    statistic = models.ForeignKey("statsbridge.Statistic", null=True, blank=True, on_delete=models.CASCADE,
                                  help_text="Threshold: this statistic, wherever the rule's dashboards show it.")
    direction = models.CharField(max_length=5, choices=DIRECTIONS, blank=True,
                                 help_text="Empty: the widget's direction.")
    value = models.FloatField(null=True, blank=True, help_text="Empty: the widget's warning level.")
    hysteresis = models.FloatField(null=True, blank=True, help_text="Empty: the widget's hysteresis.")
    for_seconds = models.FloatField(default=0.0, help_text="How long the condition must hold before it fires "
                                    "(agent state: how long the agent has been in the state).")
    agent_state = models.CharField(max_length=64, blank=True, help_text='Agent state: e.g. "NotReady".')
    agent_reason = models.CharField(max_length=200, blank=True, help_text="Agent state: only with this reason (empty: any).")
    stale_seconds = models.FloatField(default=60.0, help_text="Data stale: for more than this long.")
    targets = models.ManyToManyField(Target, blank=True, related_name="rules")
    quiet_from = models.TimeField(null=True, blank=True, help_text="Quiet hours start (the site's time zone): "
                                  "no notification leaves between quiet_from and quiet_until; screens still show.")
    quiet_until = models.TimeField(null=True, blank=True)
    escalate_after_minutes = models.FloatField(
        null=True, blank=True, help_text="Not acknowledged this long after firing: notify the escalation targets too.")
    escalation_targets = models.ManyToManyField(Target, blank=True, related_name="escalating_rules")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def quiet_at(self, moment: dt.time) -> bool:
        """Whether ``moment`` (a local time of day) is in the rule's quiet hours (they may span midnight)."""
        start, end = self.quiet_from, self.quiet_until
        if start is None or end is None or start == end:
            return False
        return start <= moment < end if start < end else (moment >= start or moment < end)

    def clean(self):
        """A threshold rule watches a widget or a statistic; durations are not negative."""
        if self.for_seconds < 0 or self.stale_seconds < 0:
            raise ValidationError("Durations cannot be negative.")
        if self.hysteresis is not None and self.hysteresis < 0:
            raise ValidationError({"hysteresis": "Hysteresis cannot be negative."})
        if self.kind == self.AGENT_STATE:
            if self.widget_id is None and self.statistic_id is None:
                raise ValidationError("An agent-state rule needs a widget or a statistic.")
            if not self.agent_state:
                raise ValidationError({"agent_state": "Which state, e.g. NotReady."})
        if self.kind == self.THRESHOLD:
            if self.widget_id is None and self.statistic_id is None:
                raise ValidationError("A threshold rule needs a widget or a statistic.")
            if self.widget_id is None and self.value is None:
                raise ValidationError({"value": "Without a widget, the rule needs its own value."})


class Silence(models.Model):
    """A maintenance window: no notification leaves for the rules and dashboards it covers
    (alerts are still tracked and shown on screens)."""

    reason = models.CharField(max_length=200)
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every rule.")
    dashboard = models.ForeignKey("dashboard.Dashboard", null=True, blank=True, on_delete=models.CASCADE,
                                  help_text="Empty: every dashboard.")
    starts = models.DateTimeField()
    ends = models.DateTimeField()

    class Meta:
        ordering = ["-starts"]

    def __str__(self) -> str:
        return self.reason

    def clean(self):
        """A window ends after it starts."""
        if self.starts and self.ends and self.ends <= self.starts:
            raise ValidationError({"ends": "A silence must end after it starts."})


class Alert(models.Model):
    """One occurrence of a rule's condition on one dashboard and subject, from pending to resolved.

    At most one is open (not resolved) per rule, dashboard and subject: the active bridge
    persists every change before notifying, so a successor carries on where it stopped.
    """

    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    STATES = [(PENDING, "Pending"), (FIRING, "Firing"), (ACKNOWLEDGED, "Acknowledged"), (RESOLVED, "Resolved")]

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="alerts")
    dashboard = models.ForeignKey("dashboard.Dashboard", on_delete=models.CASCADE, related_name="alerts")
    subject = models.CharField(max_length=64, help_text="A statistic key, or 'upstream'.")
    label = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=12, choices=STATES, default=PENDING)
    pending_since = models.BigIntegerField(help_text="ms since the epoch")
    fired_at = models.BigIntegerField(null=True, blank=True)
    resolved_at = models.BigIntegerField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    text = models.CharField(max_length=300, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    escalated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-pending_since"]
        constraints = [models.UniqueConstraint(fields=["rule", "dashboard", "subject"], condition=~Q(state="resolved"),
                                               name="one_open_alert")]

    def __str__(self) -> str:
        return f"{self.rule} on {self.dashboard_id}/{self.subject}: {self.state}"


class Delivery(models.Model):
    """One notification of one alert event to one target, and how sending it went."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    STATUSES = [(PENDING, "Pending"), (SENT, "Sent"), (FAILED, "Failed")]

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=12)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} to {self.target_id}: {self.status}"
