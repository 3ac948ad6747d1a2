"""The demo's alert rules: data stale for more than 10 s on the demo dashboards, and the
overview's "Calls waiting" tile above its warning level for 5 s (the simulated floor
gets there now and then). With a webhook URL both post to it, signed with
``ALERT_WEBHOOK_SECRET`` (or a random secret, never shown); without one they alert on
screen only. Seeding again updates them in place.
"""

import os
import secrets

from alerts.models import Rule, Target
from dashboard.models import Dashboard, Widget

DEMO_SLUGS = ("overview", "agents", "queues")
STALE_RULE = "Demo: data stale for more than 10 s"
BUSY_RULE = "Demo: calls waiting above the warning level for 5 s"
WEBHOOK_TARGET = "Demo webhook"


def seed_demo_alerts(webhook_url: str = "") -> list[Rule]:
    """Create or update the demo's rules (and its webhook target when ``webhook_url`` is given)."""
    boards = list(Dashboard.objects.filter(slug__in=DEMO_SLUGS))
    targets = []
    if webhook_url:
        target, _ = Target.objects.get_or_create(name=WEBHOOK_TARGET, defaults={"kind": Target.WEBHOOK})
        target.kind, target.url = Target.WEBHOOK, webhook_url
        target.secret = os.environ.get("ALERT_WEBHOOK_SECRET") or target.secret or secrets.token_urlsafe(32)
        target.full_clean()
        target.save()
        targets.append(target)
    stale, _ = Rule.objects.update_or_create(name=STALE_RULE, defaults={
        "kind": Rule.STALE, "severity": "critical", "stale_seconds": 10, "enabled": True})
    stale.dashboards.set(boards)
    stale.targets.set(targets)
    rules = [stale]
    busy_widget = Widget.objects.filter(dashboard__slug="overview", label__startswith="Calls waiting",
                                        warning__isnull=False).first()
    if busy_widget is not None:
        busy, _ = Rule.objects.update_or_create(name=BUSY_RULE, defaults={
            "kind": Rule.THRESHOLD, "severity": "warning", "widget": busy_widget, "for_seconds": 5, "enabled": True})
        busy.dashboards.set([busy_widget.dashboard])
        busy.targets.set(targets)
        rules.append(busy)
    return rules
