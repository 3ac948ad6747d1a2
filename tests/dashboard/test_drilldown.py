"""Drill-down: a widget's tiles link to the dashboard behind its number (desk link, wall QR)."""

import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.exceptions import ValidationError

from dashboard import qr
from dashboard.models import Dashboard, Widget
from dashboard.seeding import group_board_slug
from statsbridge import frames, store
from statsbridge.models import Statistic
from tests.dashboard.pages import attribute, live_status, tile_tag


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def logged_in_widget(group: str = "Sales") -> Widget:
    return Widget.objects.get(dashboard__slug="overview", statistics__name="AgentsLoggedIn",
                              statistics__object_id=group)


def test_a_widget_cannot_drill_down_to_its_own_dashboard(demo):
    widget = logged_in_widget()
    widget.drilldown = widget.dashboard
    with pytest.raises(ValidationError) as caught:
        widget.full_clean()
    assert caught.value.message_dict == {"drilldown": ["A widget cannot drill down to its own dashboard; pick another one."]}
    widget.drilldown = Dashboard.objects.get(slug="queues")
    widget.full_clean()


def test_deleting_the_drill_down_dashboard_keeps_the_widget_without_a_link(demo):
    widget = logged_in_widget()
    Dashboard.objects.filter(slug=group_board_slug("Sales")).delete()
    widget.refresh_from_db()
    assert widget.drilldown is None and widget.dashboard.slug == "overview"


def test_drill_down_tiles_are_links_saying_where_they_go_and_others_are_not(client, demo):
    key = Statistic.objects.get(object_type="GroupAgents", object_id="Sales", name="AgentsLoggedIn").key
    store.write(values={key: frames.value(kind="number", value=5, text="5", state="fresh",
                                           timestamp=frames.now_ms(), received=frames.now_ms())}, status=live_status())
    client.force_login(User.objects.get(username=demo.username))
    page = client.get("/d/overview/").content.decode()
    link = tile_tag(page, key)
    assert link.startswith("<a ") and attribute(link, "href") == "/d/agents-sales/"
    assert attribute(link, "aria-label") == "Sales team logged in (opens Sales agents): 5 agents"
    assert 'role="group"' not in link
    waiting = Statistic.objects.get(object_type="Queue", name="CallsWaiting", object_id__startswith="VQ_Sales").key
    plain = tile_tag(page, waiting)
    assert plain.startswith("<div ") and "href" not in plain and "opens" not in attribute(plain, "aria-label")
    # The JS keeps the wording: it reads the target from the widget spec.
    config = re.search(r'<script id="dash-config" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert '"drilldown": {"slug": "agents-sales", "title": "Sales agents", "url": "/d/agents-sales/"}' in config


def test_the_drill_down_page_lists_that_groups_agents(client, demo, catalog):
    client.force_login(User.objects.get(username=demo.username))
    page = client.get("/d/agents-billing/").content.decode()
    agents = re.findall(r'<div class="tile[^"]*"[^>]*data-statistic="([^"]+)"', page)
    shown = [Statistic.objects.get(key=k).object_id for k in agents]
    assert shown == catalog["groups"]["Billing"]


def test_the_drill_down_dashboards_own_viewers_rule(client, demo):
    user = User.objects.create_user("ann", password="pw-ann-123")
    floor = Group.objects.create(name="floor")
    user.groups.add(floor)
    Dashboard.objects.get(slug="overview").groups.add(floor)
    client.force_login(user)
    assert client.get("/d/overview/").status_code == 200
    assert client.get("/d/agents-sales/").status_code == 403
    Dashboard.objects.get(slug="agents-sales").groups.add(floor)
    assert client.get("/d/agents-sales/").status_code == 200


def test_on_a_wall_the_widget_link_opens_the_drill_down_desk_view_and_one_qr_code_per_board(client, demo):
    page = client.get(f"/wall/{demo.wall_token}/").content.decode()
    widget = logged_in_widget("Support")
    section = re.search(rf'<section class="widget kpi" id="w-{widget.pk}".*?</section>', page, re.S).group(0)
    link = re.search(r'<a class="drill"[^>]*>', section).group(0)
    target = "http://testserver/d/agents-support/"
    assert attribute(link, "href") == target
    assert attribute(link, "aria-label") == "Open Support agents on a desk"
    # A QR code per tile was more than anyone reads at 5 m: the board's title has the one.
    assert qr.svg(target) not in section and "<svg" not in section
    assert page.count("<svg") == page.count('class="board-title"') == 2
    # Widgets without a drill-down keep the link to the same view on a desk.
    plain = Widget.objects.get(dashboard__slug="overview", type="bar")
    section = re.search(rf'<section class="widget bar" id="w-{plain.pk}".*?</section>', page, re.S).group(0)
    assert attribute(re.search(r'<a class="drill"[^>]*>', section).group(0), "href") == \
        f"http://testserver/d/overview/#w-{plain.pk}"
