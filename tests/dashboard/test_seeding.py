"""The demo seed: three dashboards and a wall from the simulator's catalogue, repeatable."""

import pytest

from dashboard.models import Dashboard, Display, Widget
from dashboard.seeding import CatalogError, seed_demo


def test_seed_builds_three_dashboards_and_a_wall(demo, catalog):
    assert [d.slug for d in demo.dashboards] == ["overview", "agents", "queues"]
    assert set(Widget.objects.values_list("type", flat=True)) == {
        "kpi", "gauge", "bar", "line", "donut", "agent_grid", "queue_table"}
    assert list(demo.display.dashboards.order_by("displayitem__position").values_list("slug", flat=True)) == ["overview", "queues"]
    assert Display.for_token(demo.wall_token) == demo.display


def test_seeding_again_replaces_the_demo_and_its_wall_link(demo, catalog):
    again = seed_demo(catalog)
    assert Dashboard.objects.count() == 3 and Display.objects.count() == 1
    assert Display.for_token(demo.wall_token) is None and Display.for_token(again.wall_token) is not None


def test_a_catalogue_without_what_the_demo_needs_is_refused_by_name(db, catalog):
    catalog["statistics"] = [s for s in catalog["statistics"] if s["name"] != "ServiceLevel"]
    catalog["objects"]["Queue"] = []
    with pytest.raises(CatalogError, match="lacks statistic ServiceLevel for Queue, objects of type Queue"):
        seed_demo(catalog)
    assert not Dashboard.objects.exists()
