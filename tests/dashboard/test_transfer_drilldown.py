"""Drill-downs survive export and import by slug."""

import copy

from dashboard.models import Dashboard, Widget
from dashboard.transfer import DRILLDOWN as FIELD
from dashboard.transfer import drilldown_problems, export_dashboards, import_dashboards, link_drilldowns
from statsbridge.models import Statistic


def drilldowns_by_label(document):
    return {(d["slug"], w["label"]): w[FIELD] for d in document["dashboards"] for w in d["widgets"]}


def test_round_trip_keeps_every_drill_down(demo, catalog):
    document = export_dashboards(Dashboard.objects.order_by("slug"))
    exported = drilldowns_by_label(document)
    assert exported[("overview", "Sales logged in")] == "agents-sales"
    assert exported[("overview", "Calls waiting per queue")] is None
    assert sum(1 for slug in exported.values() if slug) == len(catalog["groups"]) + 1  # + the group donut
    assert drilldown_problems(document) == []
    Dashboard.objects.all().delete()
    Statistic.objects.all().delete()
    # A file without drill-downs imports unlinked; linking afterwards restores them all.
    plain = copy.deepcopy(document)
    for item in plain["dashboards"]:
        for widget in item["widgets"]:
            del widget[FIELD]
    created = import_dashboards(plain)
    assert not Widget.objects.exclude(drilldown=None).exists()
    link_drilldowns(document, created)
    again = export_dashboards(Dashboard.objects.order_by("slug"))
    assert drilldowns_by_label(again) == exported


def test_a_drill_down_may_point_at_a_dashboard_already_in_the_database(demo):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    assert drilldown_problems(document) == []


def test_bad_drill_downs_are_located(demo):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    widgets = document["dashboards"][0]["widgets"]
    widgets[0][FIELD] = "nowhere"
    widgets[1][FIELD] = "overview"
    widgets[2][FIELD] = 7
    assert drilldown_problems(document) == [
        "dashboards[0].widgets[0].drilldown: no dashboard with slug 'nowhere' in the file or the database",
        "dashboards[0].widgets[1].drilldown: a widget cannot drill down to its own dashboard ('overview')",
        "dashboards[0].widgets[2].drilldown: expected a dashboard slug or null",
    ]
