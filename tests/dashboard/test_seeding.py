"""The demo seed: three dashboards and a wall from the simulator's catalogue, repeatable."""

import re

import pytest

from dashboard.models import Dashboard, Display, Widget
from dashboard.seeding import CatalogError, group_board_slug, seed_demo


def test_seed_builds_three_dashboards_group_boards_and_a_wall(demo, catalog):
    assert [d.slug for d in demo.dashboards] == [
        "overview", "agents", "queues", "agents-sales", "agents-support", "agents-billing", "agents-retention"]
    assert set(Widget.objects.values_list("type", flat=True)) == {
        "kpi", "gauge", "bar", "line", "donut", "agent_grid", "queue_table"}
    assert list(demo.display.dashboards.order_by("displayitem__position").values_list("slug", flat=True)) == ["overview", "queues"]
    assert Display.for_token(demo.wall_token) == demo.display


def test_seeding_again_replaces_the_demo_and_its_wall_link(demo, catalog):
    again = seed_demo(catalog)
    assert Dashboard.objects.count() == 3 + len(catalog["groups"]) and Display.objects.count() == 1
    assert Display.for_token(demo.wall_token) is None and Display.for_token(again.wall_token) is not None


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
