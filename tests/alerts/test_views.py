"""The alert pages: who may see and acknowledge an alert, and what acknowledging queues."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from alerts.models import Alert, Delivery, Rule, Target
from dashboard.models import Dashboard

pytestmark = pytest.mark.django_db


@pytest.fixture
def firing():
    board = Dashboard.objects.create(title="Floor", slug="floor")
    target = Target.objects.create(name="hook", kind=Target.WEBHOOK, url="http://127.0.0.1:9/", secret="s3cret-value")
    rule = Rule.objects.create(name="stale floor", kind=Rule.STALE, severity="critical")
    rule.dashboards.add(board)
    rule.targets.add(target)
    return Alert.objects.create(rule=rule, dashboard=board, subject="data", label="data", state=Alert.FIRING,
                                pending_since=1_000, fired_at=2_000, text="Data on Floor stale")


def test_a_viewer_acknowledges_with_a_note_once(client, firing):
    boss = User.objects.create_user("boss", password="x", is_staff=True)
    client.force_login(boss)
    page = client.get(f"/alerts/{firing.pk}/")
    assert page.status_code == 200 and b"Acknowledge" in page.content
    assert b"s3cret-value" not in page.content
    client.post(f"/alerts/{firing.pk}/", {"note": " on it "})
    firing.refresh_from_db()
    assert (firing.state, firing.acknowledged_by, firing.note) == (Alert.ACKNOWLEDGED, boss, "on it")
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.payload["state"], delivery.status) == ("acknowledged", "acknowledged", "pending")
    client.post(f"/alerts/{firing.pk}/", {"note": "again"})
    assert Delivery.objects.count() == 1
    history = client.get("/alerts/")
    assert b"stale floor" in history.content and b"boss" in history.content


def test_someone_who_may_not_view_the_dashboard_sees_nothing(client, firing):
    client.force_login(User.objects.create_user("outsider", password="x"))
    assert client.get(f"/alerts/{firing.pk}/").status_code == 404
    assert client.post(f"/alerts/{firing.pk}/", {"note": "x"}).status_code == 404
    assert b"stale floor" not in client.get("/alerts/").content
    firing.refresh_from_db()
    assert firing.state == Alert.FIRING


def test_anonymous_users_are_sent_to_the_login(client, firing):
    assert client.get(f"/alerts/{firing.pk}/").status_code == 302


def test_quiet_hours_may_span_midnight():
    rule = Rule(quiet_from=dt.time(22, 0), quiet_until=dt.time(6, 0))
    assert [rule.quiet_at(dt.time(h)) for h in (21, 22, 23, 0, 5, 6, 12)] == [False, True, True, True, True, False, False]
    day = Rule(quiet_from=dt.time(9, 0), quiet_until=dt.time(17, 0))
    assert [day.quiet_at(dt.time(h)) for h in (8, 9, 16, 17)] == [False, True, True, False]
    assert Rule().quiet_at(dt.time(3)) is False


def test_no_notification_leaves_in_a_rules_quiet_hours(client, firing):
    now = timezone.localtime()
    firing.rule.quiet_from = (now - dt.timedelta(hours=1)).time()
    firing.rule.quiet_until = (now + dt.timedelta(hours=1)).time()
    firing.rule.save()
    client.force_login(User.objects.create_user("boss", password="x", is_staff=True))
    client.post(f"/alerts/{firing.pk}/", {"note": "seen"})
    firing.refresh_from_db()
    assert firing.state == Alert.ACKNOWLEDGED
    assert Delivery.objects.count() == 0


def test_a_supervisor_with_the_permission_edits_rules_on_the_dashboards_they_see(client):
    mine = Dashboard.objects.create(title="Mine", slug="mine")
    Dashboard.objects.create(title="Other", slug="other")
    supervisor = User.objects.create_user("sup", password="x")
    mine.owner = supervisor
    mine.save()
    client.force_login(supervisor)
    assert client.get("/alerts/rules/new/").status_code == 403
    supervisor.user_permissions.add(*Permission.objects.filter(codename__in=["add_rule", "change_rule", "view_rule"]))
    page = client.get("/alerts/rules/new/")
    assert page.status_code == 200 and b"Mine" in page.content and b"Other" not in page.content
    other = Dashboard.objects.get(slug="other")
    refused = client.post("/alerts/rules/new/", {"name": "x", "severity": "warning", "kind": "stale",
                                                 "dashboards": [other.pk], "for_seconds": 0, "stale_seconds": 30})
    assert refused.status_code == 200 and not Rule.objects.exists()
    client.post("/alerts/rules/new/", {"name": "stale mine", "enabled": "on", "severity": "critical", "kind": "stale",
                                       "dashboards": [mine.pk], "for_seconds": 0, "stale_seconds": 30})
    rule = Rule.objects.get()
    assert (rule.name, rule.kind, rule.stale_seconds, list(rule.dashboards.all())) == ("stale mine", "stale", 30, [mine])
    assert b"stale mine" in client.get("/alerts/rules/").content
