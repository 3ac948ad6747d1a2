"""Admin: validation that explains itself, cost preview, wall tokens, fleet console."""

import html as htmllib
import re

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from dashboard.models import Display, DisplayName, Widget, hash_token
from statsbridge.fanout import display_group
from statsbridge.models import Statistic


@pytest.fixture
def admin_client(client, demo):
    client.force_login(User.objects.get(username=demo.username))
    return client


def errors(response) -> str:
    html = response.content.decode()
    lists = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    return htmllib.unescape(" ".join(re.sub(r"<[^>]+>", " ", m) for m in lists))


STAT = {"label": "x", "object_type": "Queue", "object_id": "VQ_New@SIP_Switch", "name": "CallsWaiting", "definition": ""}


def test_statistic_form_explains_an_unknown_object_type(admin_client):
    response = admin_client.post("/admin/statsbridge/statistic/add/", {**STAT, "object_type": "Quuee"})
    assert response.status_code == 200
    assert "Unknown object type 'Quuee'" in errors(response)
    assert not Statistic.objects.filter(object_id="VQ_New@SIP_Switch").exists()


def test_statistic_form_explains_name_and_definition_together(admin_client):
    response = admin_client.post("/admin/statsbridge/statistic/add/", {**STAT, "definition": '{"category": "CurrentNumber"}'})
    assert "not both" in errors(response)


def test_statistic_form_explains_a_bad_definition(admin_client):
    bad = '{"category": "NoSuchCategory", "subject": "DNAction", "mainMask": "CallWait", "notificationMode": "Changes"}'
    response = admin_client.post("/admin/statsbridge/statistic/add/", {**STAT, "name": "", "definition": bad})
    assert "NoSuchCategory" in errors(response) or "category" in errors(response)
    assert not Statistic.objects.filter(object_id="VQ_New@SIP_Switch").exists()


def test_statistic_form_points_at_an_existing_twin(admin_client):
    twin = Statistic.objects.filter(name="CallsWaiting").first()
    response = admin_client.post("/admin/statsbridge/statistic/add/", {
        **STAT, "object_type": twin.object_type, "object_id": twin.object_id})
    assert "already exists" in errors(response)


def test_statistic_form_saves_a_good_one(admin_client):
    response = admin_client.post("/admin/statsbridge/statistic/add/", STAT)
    assert response.status_code == 302
    assert Statistic.objects.get(object_id="VQ_New@SIP_Switch").key.startswith("s")


def widget_form(dashboard_id, **fields):
    data = {"dashboard": dashboard_id, "type": "kpi", "label": "W", "unit": "", "format": "auto", "interval": "",
            "x": 0, "y": 0, "w": 3, "h": 2, "direction": "above", "warning": "", "critical": "", "hysteresis": 0,
            "history_minutes": 30, "widgetstatistic_set-TOTAL_FORMS": 0, "widgetstatistic_set-INITIAL_FORMS": 0}
    data.update(fields)
    return data


def test_widget_form_explains_threshold_order(admin_client, demo):
    board = demo.dashboards[0]
    response = admin_client.post("/admin/dashboard/widget/add/", widget_form(board.pk, warning=10, critical=5))
    assert "warning level must be below the critical level" in errors(response)
    response = admin_client.post("/admin/dashboard/widget/add/", widget_form(board.pk, warning=5, critical=10, direction="below"))
    assert "warning level must be above the critical level" in errors(response)
    assert not Widget.objects.filter(label="W").exists()


def test_cost_preview_counts_new_and_reused_statistics(admin_client, demo):
    used = Statistic.objects.filter(widgets__isnull=False).distinct()[:2]
    fresh = [Statistic.objects.create(object_type="Queue", object_id=f"VQ_X{i}@SIP_Switch", name=n, label=f"x{i}{n}")
             for i in (1, 2) for n in ("CallsWaiting", "CallsAbandoned")]
    ids = ",".join(str(s.pk) for s in [*used, *fresh])
    cost = admin_client.get(f"/admin/dashboard/widget/cost-preview/?statistics={ids}&widget=").json()
    assert cost["adds"] == 4
    assert cost["statistic_names"] == ["CallsAbandoned", "CallsWaiting"]
    assert cost["objects"] == ["Queue VQ_X1@SIP_Switch", "Queue VQ_X2@SIP_Switch"]
    assert sorted(cost["reused"]) == sorted(DisplayName.label_of(s) for s in used)  # as the pages name them
    assert "Anna Berg state" in cost["reused"]
    assert cost["summary"] == "Adds 4 upstream statistics (2 statistics × 2 objects); reuses 2 already subscribed."
    # The widget's own statistics are not "reused" by itself.
    widget = Widget.objects.filter(dashboard=demo.dashboards[0], type="kpi").first()
    own = widget.statistics.first()
    alone = admin_client.get(f"/admin/dashboard/widget/cost-preview/?statistics={own.pk}&widget={widget.pk}").json()
    shared_elsewhere = own.widgets.exclude(pk=widget.pk).exists()
    assert alone["adds"] == (0 if shared_elsewhere else 1)
    assert admin_client.get("/admin/dashboard/widget/cost-preview/?statistics=x").status_code == 400


def test_adding_a_display_shows_its_link_once_and_stores_only_a_hash(admin_client):
    response = admin_client.post("/admin/dashboard/display/add/", {
        "name": "Lobby", "seconds_per_dashboard": 30, "text_scale": 1, "night_mode": "dim", "reload_hour": 4,
        "displayitem_set-TOTAL_FORMS": 0, "displayitem_set-INITIAL_FORMS": 0}, follow=True)
    html = response.content.decode()
    token = re.search(r"/wall/([A-Za-z0-9_-]{20,})/", html).group(1)
    display = Display.objects.get(name="Lobby")
    assert display.token_hash == hash_token(token) and token not in display.token_hash
    assert Display.for_token(token) == display
    again = admin_client.get(f"/admin/dashboard/display/{display.pk}/change/").content.decode()
    assert token not in again


def test_display_form_explains_half_a_night_schedule(admin_client):
    response = admin_client.post("/admin/dashboard/display/add/", {
        "name": "Half", "seconds_per_dashboard": 30, "night_start": "22:00", "night_mode": "dim",
        "displayitem_set-TOTAL_FORMS": 0, "displayitem_set-INITIAL_FORMS": 0})
    assert "both the start and the end" in errors(response)


def test_revoke_and_reissue_actions(admin_client, demo):
    url = "/admin/dashboard/display/"
    admin_client.post(url, {"action": "revoke", "_selected_action": [demo.display.pk]})
    assert Display.for_token(demo.wall_token) is None
    response = admin_client.post(url, {"action": "issue_new_token", "_selected_action": [demo.display.pk]}, follow=True)
    token = re.search(r"/wall/([A-Za-z0-9_-]{20,})/", response.content.decode()).group(1)
    assert token != demo.wall_token
    assert Display.for_token(token).pk == demo.display.pk
    assert Display.for_token(demo.wall_token) is None


def test_fleet_console_lists_displays_and_reload_reaches_the_display_group(admin_client, demo):
    Display.objects.filter(pk=demo.display.pk).update(latency_ms=42, page_version="abc", memory_mb=120)
    html = admin_client.get("/admin/dashboard/display/fleet/").content.decode()
    assert demo.display.name in html and "42 ms" in html and "120 MB" in html and "(outdated)" in html
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(display_group(demo.display.pk), channel)
    response = admin_client.post(f"/admin/dashboard/display/{demo.display.pk}/reload/")
    assert response.status_code == 302
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "display.reload" and demo.username in message["reason"]
