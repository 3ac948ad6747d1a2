"""Pages: who may see what, and that they show the bridge's current and recorded store."""

import datetime as dt
import json
import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from dashboard.figures import MAX_SERIES_POINTS
from dashboard.models import Dashboard, Display
from dashboard.views import ops_summary
from statsbridge import frames, history, store
from statsbridge.models import Statistic
from tests.dashboard.pages import live_status


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def number(n, state="fresh"):
    return frames.value(kind="number", value=n, text=str(n), state=state, timestamp=frames.now_ms(), received=frames.now_ms())


def tile_attrs(html, key):
    match = re.search(rf'<(?:div|td) class="tile[^"]*"[^>]*data-statistic="{key}"[^>]*>', html)
    assert match, f"no tile for {key}"
    return dict(re.findall(r'(data-[a-z-]+|aria-label)="([^"]*)"', match.group(0)))


def waiting_key(slug="overview"):
    return Statistic.objects.get(object_type="Queue", name="CallsWaiting", object_id__startswith="VQ_Sales").key


def test_dashboards_need_a_login(client, demo):
    for url in ("/", "/d/overview/", "/d/overview/history/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_a_user_sees_only_dashboards_shared_with_their_group(client, demo):
    user = User.objects.create_user("ann", password="pw-ann-123")
    client.force_login(user)
    assert client.get("/d/overview/").status_code == 403
    assert b"overview" not in client.get("/").content
    group = Group.objects.create(name="floor")
    user.groups.add(group)
    Dashboard.objects.get(slug="overview").groups.add(group)
    assert client.get("/d/overview/").status_code == 200
    assert client.get("/d/agents/").status_code == 403
    listing = client.get("/").content.decode()
    assert "/d/overview/" in listing and "/d/agents/" not in listing


def test_the_page_is_rendered_with_the_current_values(client, demo):
    key = waiting_key()
    store.write(values={key: number(7)}, status=live_status())
    client.force_login(User.objects.get(username=demo.username))
    html = client.get("/d/overview/").content.decode()
    attrs = tile_attrs(html, key)
    assert (attrs["data-value"], attrs["data-state"], attrs["data-threshold"]) == ("7.0", "fresh", "critical")
    assert attrs["aria-label"].startswith("Sales waiting: 7 calls, CRITICAL HIGH")
    assert 'id="dash-config"' in html and "/ws/dashboards/overview/" in html
    assert "/vendor/plotly.min.js" in html and "cdn" not in html.lower()


def test_values_are_stale_when_the_bridge_is_gone(client, demo):
    key = waiting_key()
    status = live_status()
    status["heartbeat"] -= 60_000  # silent for a minute: the bridge is down
    store.write(values={key: number(2)}, status=status)
    client.force_login(User.objects.get(username=demo.username))
    attrs = tile_attrs(client.get("/d/overview/").content.decode(), key)
    assert (attrs["data-value"], attrs["data-state"]) == ("2.0", "stale")


def test_a_wall_opens_with_its_token_and_is_refused_once_revoked(client, demo):
    response = client.get(f"/wall/{demo.wall_token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="board-wrap"') == 2 and "<svg" in html and "/ws/wall/" in html
    assert client.get("/wall/not-a-token/").status_code == 403
    Display.objects.filter(pk=demo.display.pk).update(revoked=True)
    refused = client.get(f"/wall/{demo.wall_token}/")
    assert refused.status_code == 403 and b"not valid" in refused.content


def test_history_shows_what_was_recorded_at_that_time(client, demo):
    key = waiting_key()
    ten = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)
    history.record({key: number(3)}, int(ten.timestamp() * 1000))
    history.record({key: number(9)}, int((ten + dt.timedelta(minutes=5)).timestamp() * 1000))
    client.force_login(User.objects.get(username=demo.username))
    at_ten_past_two = client.get("/d/overview/history/?at=2026-11-29T10:02").content.decode()
    assert tile_attrs(at_ten_past_two, key)["data-value"] == "3.0"
    at_six_past = client.get("/d/overview/history/?at=2026-11-29T10:06").content.decode()
    assert tile_attrs(at_six_past, key)["data-value"] == "9.0"
    before = client.get("/d/overview/history/?at=2026-11-29T09:00").content.decode()
    assert tile_attrs(before, key)["data-state"] == "unknown"
    bad = client.get("/d/overview/history/?at=yesterday")
    assert bad.status_code == 400 and "is not a date and time" in bad.content.decode()


def test_ops_is_for_staff_only(client, demo):
    store.write(status=live_status())
    client.force_login(User.objects.create_user("bob", password="pw-bob-123"))
    assert client.get("/ops/").status_code == 302
    client.force_login(User.objects.get(username=demo.username))
    html = client.get("/ops/").content.decode()
    assert 'data-field="service">AVAILABLE' in html and "unknown object" in html


def test_ops_summary_ages():
    status = live_status()
    status.update(heartbeat=10_000, started=4_000, token_expires_at=70.0,
                  last_resubscribe={"reason": "service AVAILABLE", "statistics": 3, "seconds": 0.2, "at": 8_000})
    status["subscription_details"] = [{"id": "sub-1", "statistics": 3, "last_update": 11_000},
                                      {"id": "sub-2", "statistics": 1, "last_update": None}]
    summary = ops_summary(status, status["connection"], 12.0)
    assert [(d["id"], d["statistics"], d["age"]) for d in summary["subscription_details"]] == [
        ("sub-1", 3, 1), ("sub-2", 1, None)]
    assert (summary["heartbeat_age"], summary["uptime"], summary["token_expires_in"]) == (2.0, 8, 58)
    assert summary["last_resubscribe"]["ago"] == 4
    assert summary["refused"] == [("sbad", "unknown object")]


def test_the_ops_page_shows_polling_and_what_is_retried(client, demo):
    status = live_status()
    status.update(connection=frames.connection(upstream="polling", service="AVAILABLE", bridge="up", poll_seconds=5.0),
                  mode="polling", poll_seconds=5.0, polling_since=frames.now_ms() - 12_000,
                  retrying={"sfail": "Internal Server Error"}, lost=2)
    store.write(status=status)
    client.force_login(User.objects.get(username=demo.username))
    html = client.get("/ops/").content.decode()
    assert 'data-field="upstream">polling' in html
    assert re.search(r'data-field="mode">POLLING every 5 s for 1[234] s', html)
    assert 'data-field="lost">2' in html and "sfail" in html and "Internal Server Error" in html
    summary = ops_summary(status, status["connection"], frames.now_ms() / 1000)
    assert (summary["mode"], summary["poll_seconds"], summary["retrying"]) == (
        "polling", 5.0, [("sfail", "Internal Server Error")])


def test_plotly_is_served_locally(client):
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200 and response["Content-Type"] == "text/javascript"
    assert b"plotly" in b"".join(response.streaming_content)[:2000].lower()


def test_ops_buttons_reach_the_bridge_control_group(client, demo):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from statsbridge.fanout import CONTROL_GROUP

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(CONTROL_GROUP, channel)
    client.force_login(User.objects.get(username=demo.username))
    response = client.post("/ops/", {"action": "resubscribe"}, follow=True)
    assert "re-create every subscription" in response.content.decode()
    assert async_to_sync(layer.receive)(channel)["type"] == "bridge.resubscribe"
    client.post("/ops/", {"action": "peek_all"})
    assert async_to_sync(layer.receive)(channel)["type"] == "bridge.peek"
    assert "Unknown action" in client.post("/ops/", {"action": "explode"}, follow=True).content.decode()


def test_ops_peek_now_reads_one_statistic_from_the_service(client, demo, simulator_thread, settings):
    settings.GENESYS = {**settings.GENESYS, "API_URL": simulator_thread.url.rstrip("/")}
    client.force_login(User.objects.get(username=demo.username))
    stat = Statistic.objects.get(object_type="Queue", name="CallsWaiting", object_id__startswith="VQ_Sales")
    page = client.post("/ops/", {"action": "peek", "statistic": stat.pk}, follow=True).content.decode()
    assert re.search(r"Peek of “Sales waiting”: \d+ \(number, \d\d:\d\d:\d\d UTC\)", page), page
    ghost = Statistic.objects.create(object_type="Queue", object_id="VQ_Nowhere@SIP_Switch", name="CallsWaiting", label="ghost")
    page = client.post("/ops/", {"action": "peek", "statistic": ghost.pk}, follow=True).content.decode()
    assert "Peek of “ghost” failed:" in page
    assert f'data-key="{stat.key}"' in page and "Peek now" in page


def test_the_page_sends_recorded_history_only_thinned_inside_its_figures(client, demo):
    """A busy statistic records a point a second; the page must not ship every one of them
    (the raw history once made a desk page grow with the recorded rate, unused by the JS)."""
    key = waiting_key()
    now = frames.now_ms()
    for second in range(1, 2001):  # 2,000 points over the last 33 minutes
        history.record({key: number(second % 17)}, now - second * 1000)
    client.force_login(User.objects.get(username=demo.username))
    html = client.get("/d/overview/").content.decode()
    config = json.loads(re.search(r'<script id="dash-config" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert "history" not in config
    traces = [trace for figure in config["figures"].values() for trace in figure.get("data", [])]
    series = [trace for trace in traces if key in json.dumps(trace.get("meta", "")) or len(trace.get("x") or []) > 2]
    assert series, "no figure carries the statistic's recorded history"
    # one point per slot, as dashboard.js keeps live series: at most MAX_SERIES_POINTS + 1
    assert MAX_SERIES_POINTS - 10 <= max(len(trace["x"]) for trace in series) <= MAX_SERIES_POINTS + 1
