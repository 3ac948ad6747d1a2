"""Import/export of dashboards as JSON: round trip, validation, nothing half-saved."""

import copy
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from dashboard.models import Dashboard, Widget
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


def test_import_reuses_statistics_by_key(demo):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    document["dashboards"][0]["slug"] = "overview-copy"
    before = Statistic.objects.count()
    import_dashboards(document)
    assert Statistic.objects.count() == before
    assert Widget.objects.filter(dashboard__slug="overview-copy").count() == Widget.objects.filter(dashboard__slug="overview").count()


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
    old_pk = Dashboard.objects.get(slug="agents").pk
    import_dashboards(document, replace=True)
    assert Dashboard.objects.get(slug="agents").pk != old_pk


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
    assert replaced.status_code == 302 and Dashboard.objects.get(slug="queues").pk != pk
