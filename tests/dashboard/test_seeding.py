"""The demo seed: three dashboards and a wall from the simulator's catalogue, repeatable."""

import re

import pytest

from dashboard.models import Dashboard, Display, DisplayName, Widget
from dashboard.seeding import CatalogError, group_board_slug, seed_demo
from statsbridge.models import Statistic


def test_seed_builds_three_dashboards_group_boards_and_a_wall(demo, catalog):
    assert [d.slug for d in demo.dashboards] == [
        "overview", "agents", "queues", "agents-sales", "agents-support", "agents-billing", "agents-retention"]
    assert set(Widget.objects.values_list("type", flat=True)) == {
        "kpi", "gauge", "bar", "line", "donut", "agent_grid", "queue_table"}
    playlist = demo.display.dashboards.order_by("displayitem__position").values_list("slug", flat=True)
    assert list(playlist) == ["overview", "queues"]
    assert Display.for_token(demo.wall_token) == demo.display


def test_seeding_again_keeps_the_demo_its_edits_and_its_wall_link(demo, catalog):
    widget_ids = sorted(Widget.objects.values_list("pk", flat=True))
    overview = Dashboard.objects.get(slug="overview")
    overview.title = "Our floor"
    overview.save()
    DisplayName.objects.filter(object_type="Queue", object_id="VQ_Sales@SIP_Switch").update(display_name="Sales EMEA")
    DisplayName.objects.filter(object_type="Agent", object_id="agent001").delete()
    again = seed_demo(catalog)
    assert again.created == [] and again.wall_token == demo.wall_token
    assert Display.for_token(demo.wall_token) == demo.display and Display.objects.count() == 1
    assert sorted(Widget.objects.values_list("pk", flat=True)) == widget_ids, "widgets were re-created"
    assert Dashboard.objects.get(slug="overview").title == "Our floor", "an admin's edit was overwritten"
    assert DisplayName.objects.get(object_type="Queue", object_id="VQ_Sales@SIP_Switch").display_name == "Sales EMEA"
    assert DisplayName.objects.get(object_type="Agent", object_id="agent001").display_name == "Anna Berg", \
        "a missing name was not added"


def test_seeding_restores_a_revoked_demo_wall_link_and_makes_missing_dashboards(demo, catalog):
    demo.display.revoked = True
    demo.display.save()
    Dashboard.objects.filter(slug="queues").delete()
    again = seed_demo(catalog)
    assert again.created == ["queues"]
    assert Display.for_token(demo.wall_token) == demo.display


def test_reset_re_creates_the_dashboards_under_the_same_wall_link(demo, catalog):
    first_ids = set(Widget.objects.values_list("pk", flat=True))
    again = seed_demo(catalog, reset=True)
    assert len(again.created) == 3 + len(catalog["groups"])
    assert not first_ids & set(Widget.objects.values_list("pk", flat=True))
    assert Display.for_token(demo.wall_token) == again.display != demo.display


def test_the_demo_wall_link_follows_the_secret_key(db, catalog, settings):
    first = seed_demo(catalog).wall_token
    settings.SECRET_KEY = "another-secret-key-for-another-checkout-0123456789abcdef"
    assert seed_demo(catalog).wall_token != first
    assert Display.for_token(first) is None, "the other checkout's link still opens this wall"


def test_the_seed_names_queues_groups_agents_and_statistics(demo, catalog):
    assert DisplayName.objects.get(object_type="Queue", object_id="VQ_Sales@SIP_Switch").display_name == "Sales"
    assert DisplayName.objects.get(object_type="GroupAgents", object_id="Sales").display_name == "Sales team"
    names = set(DisplayName.objects.filter(object_type="Agent").values_list("display_name", flat=True))
    assert len(names) == len(catalog["objects"]["Agent"]), "two agents share a name"
    assert DisplayName.objects.get(object_type="Statistic", object_id="AgentsAfterCallWork").display_name == "After-call work"
    # The statistics carry no label of their own: the display names word them.
    assert not Statistic.objects.exclude(label="").exists()


def test_a_catalogue_without_what_the_demo_needs_is_refused_by_name(db, catalog):
    catalog["statistics"] = [s for s in catalog["statistics"] if s["name"] != "ServiceLevel"]
    catalog["objects"]["Queue"] = []
    with pytest.raises(CatalogError, match="lacks statistic ServiceLevel for Queue, objects of type Queue"):
        seed_demo(catalog)
    assert not Dashboard.objects.exists()


def test_each_group_board_is_an_agent_grid_of_exactly_that_groups_members(demo, catalog):
    for group, members in catalog["groups"].items():
        board = Dashboard.objects.get(slug=group_board_slug(group))
        assert board.title == f"{group} agents"
        (grid,) = board.widgets.all()
        assert grid.type == "agent_grid"
        shown = list(grid.statistics.order_by("widgetstatistic__position").values_list("object_id", "name"))
        assert shown == [(agent, "CurrentAgentState") for agent in members]


def test_the_widgets_showing_one_group_drill_down_to_its_board(demo, catalog):
    drilling = Widget.objects.exclude(drilldown=None).select_related("drilldown")
    assert drilling.exists()
    for widget in drilling:
        groups = set(widget.statistics.values_list("object_id", flat=True))
        assert set(widget.statistics.values_list("object_type", flat=True)) == {"GroupAgents"} and len(groups) == 1
        assert widget.drilldown.slug == group_board_slug(groups.pop())
    # Every group's logged-in number on the overview leads to its agents.
    logged_in = Widget.objects.filter(dashboard__slug="overview", statistics__name="AgentsLoggedIn")
    assert sorted(w.drilldown.slug for w in logged_in) == sorted(group_board_slug(g) for g in catalog["groups"])
    # A widget over several groups has no single board to open.
    assert Widget.objects.get(dashboard__slug="agents", label="Logged in per group").drilldown is None


@pytest.mark.parametrize("damage, named", [
    (lambda c: c.pop("groups"), 'group membership ("groups")'),
    (lambda c: c["groups"].pop("Sales"), "members of group Sales"),
    (lambda c: c["groups"]["Billing"].append("agent999"), "members of group Billing"),
])
def test_a_catalogue_without_group_membership_is_refused_by_name(db, catalog, damage, named):
    damage(catalog)
    with pytest.raises(CatalogError, match=re.escape(named)):
        seed_demo(catalog)
    assert not Dashboard.objects.exists()


def test_labels_an_older_seed_wrote_give_way_to_display_names_and_typed_ones_stay(demo, catalog):
    def stat(object_type, object_id, name):
        return Statistic.objects.get(object_type=object_type, object_id=object_id, name=name)
    Statistic.objects.filter(pk=stat("Agent", "agent001", "CurrentAgentState").pk).update(label="agent001")
    Statistic.objects.filter(pk=stat("Queue", "VQ_Sales@SIP_Switch", "CallsWaiting").pk).update(label="Sales waiting")
    Statistic.objects.filter(pk=stat("GroupAgents", "Sales", "AgentsLoggedIn").pk).update(label="Sales: on shift")
    seed_demo(catalog)
    assert stat("Agent", "agent001", "CurrentAgentState").label == ""
    assert stat("Queue", "VQ_Sales@SIP_Switch", "CallsWaiting").label == ""
    assert stat("GroupAgents", "Sales", "AgentsLoggedIn").label == "Sales: on shift", "a typed label was cleared"
