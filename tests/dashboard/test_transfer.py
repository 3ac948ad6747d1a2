"""Import/export of dashboards as JSON: round trip, validation, nothing half-saved."""

import copy
import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.db.models.signals import post_save

from dashboard.models import Dashboard, DisplayItem, Widget
from dashboard.transfer import DashboardImportError, export_dashboards, import_dashboards
from statsbridge.models import Statistic


def shape(document):
    """What must survive a round trip (everything in the document)."""
    return json.loads(json.dumps(document, sort_keys=True))


def test_round_trip_into_an_empty_database(demo):
    document = export_dashboards(Dashboard.objects.order_by("slug"))
    assert document["format"] == "ccdash-dashboards/1" and len(document["dashboards"]) == len(demo.dashboards)
    Dashboard.objects.all().delete()
    Statistic.objects.all().delete()
    created = import_dashboards(copy.deepcopy(document))
    assert sorted(d.slug for d in created) == sorted(d.slug for d in demo.dashboards)
    assert shape(export_dashboards(Dashboard.objects.order_by("slug"))) == shape(document)


def test_a_wall_layout_travels_and_a_bad_one_is_refused_where_it_is(demo):
    widget = Widget.objects.filter(dashboard__slug="overview").order_by("pk").first()
    Widget.objects.filter(pk=widget.pk).update(wall_layout={"x": 6, "y": 0, "w": 6, "h": 3})
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    entry = next(w for w in document["dashboards"][0]["widgets"] if w["wall_layout"])
    assert entry["wall_layout"] == {"x": 6, "y": 0, "w": 6, "h": 3}
    document["dashboards"][0]["slug"] = "overview-copy"
    import_dashboards(copy.deepcopy(document))
    copied = Widget.objects.filter(dashboard__slug="overview-copy").exclude(wall_layout=None).get()
    assert copied.wall_layout == {"x": 6, "y": 0, "w": 6, "h": 3}

    document["dashboards"][0]["slug"] = "overview-bad"
    entry["wall_layout"] = {"x": -1, "y": 0, "w": 6, "h": "3"}
    with pytest.raises(DashboardImportError) as caught:
        import_dashboards(document)
    assert any(p.startswith("dashboards[0].widgets[") and "wall_layout" in p and "wall place" in p
               for p in caught.value.problems), caught.value.problems
    assert not Dashboard.objects.filter(slug="overview-bad").exists()


def test_import_reuses_statistics_by_key(demo):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    document["dashboards"][0]["slug"] = "overview-copy"
    before = Statistic.objects.count()
    import_dashboards(document)
    assert Statistic.objects.count() == before
    copied = Widget.objects.filter(dashboard__slug="overview-copy").count()
    assert copied == Widget.objects.filter(dashboard__slug="overview").count()


def test_a_bad_file_is_refused_whole_with_every_problem_located(demo):
    document = export_dashboards(Dashboard.objects.filter(slug__in=["overview", "queues"]).order_by("slug"))
    document["dashboards"][0]["slug"] = "fine-one"
    document["dashboards"][1]["slug"] = "broken-one"
    document["dashboards"][1]["time_zone"] = "Mars/Olympus"
    document["dashboards"][1]["widgets"][0]["warning"] = 10
    document["dashboards"][1]["widgets"][0]["critical"] = 1
    document["dashboards"][1]["widgets"][1]["statistics"][0]["name"] = ""
    document["dashboards"][1]["widgets"][1]["colour"] = "red"
    with pytest.raises(DashboardImportError) as caught:
        import_dashboards(document)
    problems = caught.value.problems
    assert any(p.startswith("dashboards[1]: time_zone:") and "Mars/Olympus" in p for p in problems)
    assert any(p.startswith("dashboards[1].widgets[0]:") and "warning level must be below" in p for p in problems)
    assert any(p.startswith("dashboards[1].widgets[1].statistics[0]:") and "not both" in p for p in problems)
    assert "dashboards[1].widgets[1]: unknown field(s) colour" in problems
    assert not Dashboard.objects.filter(slug__in=["fine-one", "broken-one"]).exists()


def test_existing_slugs_need_replace(demo):
    document = export_dashboards(Dashboard.objects.filter(slug="agents"))
    with pytest.raises(DashboardImportError, match="exists"):
        import_dashboards(document)
    old_widgets = set(Widget.objects.filter(dashboard__slug="agents").values_list("pk", flat=True))
    document["dashboards"][0]["title"] = "Agents, replaced"
    import_dashboards(document, replace=True)
    replaced = Dashboard.objects.get(slug="agents")
    assert replaced.title == "Agents, replaced"
    new_widgets = set(replaced.widgets.values_list("pk", flat=True))
    assert len(new_widgets) == len(old_widgets) and not new_widgets & old_widgets


def test_not_an_export_is_refused(db):
    with pytest.raises(DashboardImportError, match="not a dashboards export"):
        import_dashboards({"dashboards": []})


def test_commands_export_and_import(demo, tmp_path):
    path = tmp_path / "out.json"
    call_command("export_dashboards", "overview", "-o", str(path))
    document = json.loads(path.read_text())
    assert [d["slug"] for d in document["dashboards"]] == ["overview"]
    with pytest.raises(CommandError, match="No dashboard with slug nope"):
        call_command("export_dashboards", "nope")
    document["dashboards"][0]["slug"] = "imported"
    path.write_text(json.dumps(document))
    call_command("import_dashboards", str(path), "--owner", demo.username)
    assert Dashboard.objects.get(slug="imported").owner.username == demo.username
    path.write_text("{not json")
    with pytest.raises(CommandError, match="is not JSON"):
        call_command("import_dashboards", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_dashboards", str(tmp_path / "missing.json"))
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError, match=r"Nothing was imported:\n  dashboards\[0\]: a dashboard with slug 'imported' exists"):
        call_command("import_dashboards", str(path))


def test_admin_export_action_and_import_view(client, demo, tmp_path):
    client.force_login(User.objects.get(username=demo.username))
    pk = Dashboard.objects.get(slug="queues").pk
    exported = client.post("/admin/dashboard/dashboard/", {"action": "export_json", "_selected_action": [pk]})
    document = json.loads(exported.content)
    assert [d["slug"] for d in document["dashboards"]] == ["queues"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    with bad.open("rb") as handle:
        refused = client.post("/admin/dashboard/dashboard/import/", {"file": handle})
    assert refused.status_code == 400 and "exists" in refused.content.decode()
    with bad.open("rb") as handle:
        replaced = client.post("/admin/dashboard/dashboard/import/", {"file": handle, "replace": "1"})
    assert replaced.status_code == 302
    shown = client.get(replaced["Location"]).content.decode()
    assert ("Imported 1 dashboard(s): queues. 0 drill-down(s) from other dashboards and 1 wall playlist entry point at them."
            in shown)


def drilldowns_to(slug):
    """(dashboard slug, widget label) of every widget elsewhere that drills down to ``slug``."""
    return sorted(Widget.objects.filter(drilldown__slug=slug).exclude(dashboard__slug=slug)
                  .values_list("dashboard__slug", "label"))


def test_replacing_a_drill_down_target_keeps_the_links_to_it(demo, tmp_path):
    incoming = drilldowns_to("agents-sales")
    assert len(incoming) == 2, incoming  # the overview's donut and "Sales logged in" tile
    playlist = list(DisplayItem.objects.order_by("position").values_list("dashboard__slug", flat=True))
    path = tmp_path / "targets.json"
    call_command("export_dashboards", "agents-sales", "queues", "-o", str(path))
    document = json.loads(path.read_text())
    document["dashboards"][0]["title"] = "Sales agents, replaced"
    path.write_text(json.dumps(document))
    out = io.StringIO()
    call_command("import_dashboards", str(path), "--replace", stdout=out)
    assert out.getvalue().splitlines() == [
        "Imported 2 dashboard(s): agents-sales, queues.",
        "2 drill-down(s) from other dashboards and 1 wall playlist entry point at them.",
    ]
    assert Dashboard.objects.get(slug="agents-sales").title == "Sales agents, replaced"
    assert drilldowns_to("agents-sales") == incoming
    assert list(DisplayItem.objects.order_by("position").values_list("dashboard__slug", flat=True)) == playlist


def test_a_replace_that_fails_half_way_saves_nothing(demo):
    document = export_dashboards(Dashboard.objects.filter(slug__in=["agents-sales", "queues"]).order_by("slug"))
    document["dashboards"][0]["title"] = "Never saved"
    before = shape(export_dashboards(Dashboard.objects.order_by("slug")))
    incoming = drilldowns_to("agents-sales")
    last_label = document["dashboards"][1]["widgets"][-1]["label"]

    def fail_on_the_last_widget(sender, instance, **kwargs):
        # A database error after the first dashboard was overwritten and its old widgets deleted.
        if instance.label == last_label and instance.dashboard.slug == "queues":
            raise IntegrityError("injected failure")

    post_save.connect(fail_on_the_last_widget, sender=Widget)
    try:
        with pytest.raises(IntegrityError, match="injected failure"):
            import_dashboards(document, replace=True)
    finally:
        post_save.disconnect(fail_on_the_last_widget, sender=Widget)
    assert shape(export_dashboards(Dashboard.objects.order_by("slug"))) == before
    assert drilldowns_to("agents-sales") == incoming
