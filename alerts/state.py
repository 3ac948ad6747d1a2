"""Persisting alert changes and queueing their notifications, in one transaction each.

Each change is a conditional update of the alert row (from the state the bridge last
knew), so a notification is queued exactly once even if a bridge that just lost its
lease evaluates the same change as its successor.
"""

import datetime as dt
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts import evaluator
from alerts.models import Alert, Delivery, Silence
from statsbridge import frames


def open_tracks() -> dict:
    """``{(rule id, dashboard id, subject): (Track, alert id)}`` of every alert not resolved."""
    tracks = {}
    for alert in Alert.objects.exclude(state=Alert.RESOLVED):
        track = evaluator.Track(alert.state, alert.pending_since, alert.fired_at)
        tracks[(alert.rule_id, alert.dashboard_id, alert.subject)] = (track, alert.pk)
    return tracks


def iso(ms: int | None) -> str | None:
    """An epoch time in ms as ISO 8601 UTC."""
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def payload(alert: Alert, event: str) -> dict:
    """The notification body of ``event`` of ``alert`` (the webhook JSON; email words it)."""
    return {
        "rule": alert.rule.name,
        "state": event,
        "severity": alert.rule.severity,
        "dashboard": alert.dashboard.slug,
        "statistic": alert.label,
        "value": alert.value,
        "text": alert.text,
        "since": iso(alert.pending_since),
        "url": f"{settings.ALERTS_BASE_URL}/alerts/{alert.pk}/",
    }


def silenced(rule_id: int, dashboard_id: int) -> bool:
    """Whether a silence covers this rule on this dashboard now."""
    now = timezone.now()
    return Silence.objects.filter(Q(rule_id=rule_id) | Q(rule__isnull=True),
                                  Q(dashboard_id=dashboard_id) | Q(dashboard__isnull=True),
                                  starts__lte=now, ends__gt=now).exists()


def _queue(alert: Alert, event: str, target_ids) -> list[int]:
    if silenced(alert.rule_id, alert.dashboard_id) or alert.rule.quiet_at(timezone.localtime().time()):
        return []
    body = payload(alert, event)
    return [Delivery.objects.create(alert=alert, target_id=target_id, event=event, payload=body).pk
            for target_id in target_ids]


def apply(change: dict) -> tuple[int | None, list[int]]:
    """Persist one change; return the alert's id (None once it is gone) and the deliveries queued.

    ``change``: ``rule``, ``dashboard``, ``subject``, ``alert`` (id or None), ``before`` and
    ``after`` (Tracks), ``event``, ``label``, ``value``, ``text``, ``targets``.
    """
    after, before = change["after"], change["before"]
    with transaction.atomic():
        if change["alert"] is None:
            if after.state == evaluator.OK:
                return None, []
            alert = Alert.objects.create(
                rule_id=change["rule"], dashboard_id=change["dashboard"], subject=change["subject"],
                label=change["label"], state=after.state, pending_since=after.pending_since,
                fired_at=after.fired_at, value=change["value"], text=change["text"])
        else:
            rows = Alert.objects.filter(pk=change["alert"], state__in=_states_like(before.state))
            if after.state == evaluator.OK and change["event"] is None:
                rows.delete()  # it never fired: no history to keep
                return None, []
            fields = {"value": change["value"], "text": change["text"]}
            if change["event"] == evaluator.RESOLVED:
                fields.update(state=Alert.RESOLVED, resolved_at=change["now"])
            else:
                fields.update(state=after.state, fired_at=after.fired_at)
            if not rows.update(**fields):
                return change["alert"], []  # someone else moved it already
            alert = Alert.objects.select_related("rule", "dashboard").get(pk=change["alert"])
            if change["event"] == evaluator.RESOLVED:
                return None, _queue(alert, evaluator.RESOLVED, change["targets"])
        if change["event"] == evaluator.FIRING:
            alert = Alert.objects.select_related("rule", "dashboard").get(pk=alert.pk)
            return alert.pk, _queue(alert, evaluator.FIRING, change["targets"])
        return alert.pk, []


def _states_like(state: str) -> list[str]:
    # Someone may have acknowledged a firing alert since the bridge last read it.
    if state in (evaluator.FIRING, evaluator.ACKNOWLEDGED):
        return [Alert.FIRING, Alert.ACKNOWLEDGED]
    return [state]


def acknowledge(alert: Alert, user, note: str) -> list[int]:
    """Mark a firing ``alert`` acknowledged by ``user`` and queue the ``acknowledged`` notifications."""
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, state=Alert.FIRING).update(
                state=Alert.ACKNOWLEDGED, acknowledged_by=user, acknowledged_at=timezone.now(), note=note):
            return []
        alert.refresh_from_db()
        return _queue(alert, evaluator.ACKNOWLEDGED, alert.rule.targets.values_list("pk", flat=True))


def resolve_orphans(rule_ids) -> int:
    """Resolve, without notifying, the open alerts of rules no longer enabled; return how many."""
    return Alert.objects.exclude(state=Alert.RESOLVED).exclude(rule_id__in=list(rule_ids)).update(
        state=Alert.RESOLVED, resolved_at=int(time.time() * 1000))


def on_screen() -> dict[int, list[dict]]:
    """``{dashboard id: [Alert frame items]}`` of every alert that fired and is not resolved, newest first."""
    shown: dict[int, list[dict]] = {}
    fired = Alert.objects.filter(state__in=[Alert.FIRING, Alert.ACKNOWLEDGED]).select_related("rule")
    for alert in fired.order_by("-fired_at", "-pk"):
        shown.setdefault(alert.dashboard_id, []).append(frames.alert(
            id=alert.pk, rule=alert.rule.name, severity=alert.rule.severity, state=alert.state,
            text=alert.text, since=alert.pending_since))
    return shown


def escalate(now_ms: int) -> list[int]:
    """Queue the escalation of every alert still firing (not acknowledged) longer than its
    rule's ``escalate_after_minutes`` after it fired, once; return the deliveries queued."""
    queued = []
    due = Alert.objects.filter(state=Alert.FIRING, escalated=False, rule__escalate_after_minutes__isnull=False,
                               fired_at__lte=now_ms - F("rule__escalate_after_minutes") * 60_000)
    for alert in due.select_related("rule", "dashboard"):
        with transaction.atomic():
            if Alert.objects.filter(pk=alert.pk, state=Alert.FIRING, escalated=False).update(escalated=True):
                queued += _queue(alert, evaluator.FIRING, alert.rule.escalation_targets.values_list("pk", flat=True))
    return queued


def pending_deliveries() -> list[int]:
    """Ids of the deliveries not yet sent nor failed, oldest first."""
    return list(Delivery.objects.filter(status=Delivery.PENDING).order_by("pk").values_list("pk", flat=True))

