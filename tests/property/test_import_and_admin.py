"""Dashboard imports and admin forms under broken input: every document or form is
either accepted whole or refused with located problems; a refusal saves nothing."""

import copy
import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.models import Dashboard, Display, Widget, WidgetStatistic
from dashboard.transfer import DashboardImportError, export_dashboards, import_dashboards
from statsbridge.models import Statistic
from tests.property.strategies import json_values

SLOW = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class RolledBack(Exception):
    """Raised to undo one example's changes."""


def database_state() -> tuple:
    return (json.dumps(export_dashboards(Dashboard.objects.order_by("slug")), sort_keys=True, default=str),
            Statistic.objects.count(), Widget.objects.count(), WidgetStatistic.objects.count(), Display.objects.count())


def paths(document, prefix=()):
    """Every (container path, key) in a JSON document."""
    found = []
    if isinstance(document, dict):
        items = document.items()
    elif isinstance(document, list):
        items = enumerate(document)
    else:
        return found
    for key, value in items:
        found.append((prefix, key))
        found += paths(value, (*prefix, key))
    return found


def mutated(document, data):
    """The document with one value replaced by anything, one key dropped or an unknown one added."""
    document = copy.deepcopy(document)
    where, key = data.draw(st.sampled_from(paths(document)))
    container = document
    for step in where:
        container = container[step]
    action = data.draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace":
        container[key] = data.draw(json_values)
    elif action == "drop" and isinstance(container, dict):
        del container[key]
    elif isinstance(container, dict):
        container[data.draw(st.text(min_size=1, max_size=8))] = data.draw(json_values)
    return document


def attempt(document) -> None:
    """Import inside a savepoint: accepted, or refused with problems and nothing saved."""
    before = database_state()
    with pytest.raises(RolledBack), transaction.atomic():
        try:
            with transaction.atomic():
                import_dashboards(document, replace=True)
        except DashboardImportError as error:
            assert error.problems and all(isinstance(p, str) and p for p in error.problems)
            assert database_state() == before, "a refused import saved something"
        raise RolledBack
    assert database_state() == before


@given(data=st.data())
@SLOW
def test_a_mutated_export_is_imported_whole_or_refused_whole(demo, data):
    document = export_dashboards(Dashboard.objects.order_by("slug"))
    attempt(mutated(document, data))


@pytest.mark.parametrize("where, value, problem", [
    ("unit", None, "unit: must be text, not null"),
    ("warning", [1], "warning: must be a number"),
    ("hysteresis", 10**400, "hysteresis: is too large"),
    ("critical", float("nan"), "critical: must be a finite number"),
    ("x", 2.5, "x: must be a whole number"),
    ("label", "a\x00b", "label: must not contain NUL characters"),
    ("statistics", "s1", "statistics: must be a list"),
])
def test_a_wrong_type_in_a_widget_is_a_located_problem(demo, where, value, problem):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    document["dashboards"][0]["widgets"][2][where] = value
    attempt(document)
    with pytest.raises(DashboardImportError) as refused:
        import_dashboards(document, replace=True)
    assert refused.value.problems == [f"dashboards[0].widgets[2].{problem}"]


@pytest.mark.parametrize("groups", ["staff", [["staff"]], [None]])
def test_groups_that_are_not_a_list_of_names_are_a_located_problem(demo, groups):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    document["dashboards"][0]["groups"] = groups
    with pytest.raises(DashboardImportError, match=r"^dashboards\[0\]\.groups: must be a list"):
        import_dashboards(document, replace=True)


@given(document=json_values)
@SLOW
def test_any_json_is_refused_with_a_clear_problem(db, document):
    with pytest.raises(DashboardImportError) as refused:
        import_dashboards(document)
    assert refused.value.problems


@pytest.fixture
def staff_client(client, demo):
    client.force_login(User.objects.get(username=demo.username))
    return client


@pytest.mark.parametrize("content, fragment", [
    (b"\xff\xfe not utf-8", "not JSON"),
    (b'{"format": ', "not JSON"),
    (b"[]", ""),
    (json.dumps({"format": "ccdash-dashboards/1", "dashboards": [{"slug": 5}] * 500}).encode(), "dashboards[0]"),
])
def test_the_admin_import_view_refuses_bad_files_and_saves_nothing(staff_client, content, fragment):
    before = database_state()
    response = staff_client.post("/admin/dashboard/dashboard/import/", {"file": io.BytesIO(content)})
    assert response.status_code == 400
    assert fragment in response.content.decode()
    assert database_state() == before


def test_the_admin_import_view_refuses_a_deeply_nested_file(staff_client):
    before = database_state()
    response = staff_client.post("/admin/dashboard/dashboard/import/",
                                 {"file": io.BytesIO(b"[" * 100_000 + b"]" * 100_000)})
    assert response.status_code == 400
    assert "nested too deeply" in response.content.decode()
    assert database_state() == before


@pytest.mark.parametrize("content, message", [
    (b"[" * 100_000 + b"]" * 100_000, "is not JSON that can be read: it is nested too deeply"),
    (b"\xff\xfe not utf-8", "is not JSON"),
])
def test_the_import_command_refuses_unreadable_files_and_saves_nothing(demo, tmp_path, content, message):
    path = tmp_path / "dashboards.json"
    path.write_bytes(content)
    before = database_state()
    with pytest.raises(CommandError, match=message):
        call_command("import_dashboards", str(path))
    assert database_state() == before


STAT = {"label": "x", "object_type": "Queue", "object_id": "VQ_New@SIP_Switch", "name": "", "definition": ""}


@given(definition=json_values | st.text(max_size=50))
@SLOW
def test_the_statistic_form_explains_any_bad_definition_and_saves_nothing(staff_client, definition):
    text = definition if isinstance(definition, str) else json.dumps(definition)
    before = Statistic.objects.count()
    response = staff_client.post("/admin/statsbridge/statistic/add/", {**STAT, "definition": text})
    if response.status_code == 302:  # a valid definition: saved whole
        Statistic.objects.filter(object_id=STAT["object_id"]).delete()
        return
    assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
    assert Statistic.objects.count() == before


@given(warning=json_values | st.text(max_size=20), critical=json_values | st.text(max_size=20),
       hysteresis=json_values | st.text(max_size=20))
@SLOW
def test_the_widget_form_explains_any_bad_threshold_and_saves_nothing(staff_client, warning, critical, hysteresis):
    dashboard = Dashboard.objects.get(slug="overview")
    before = Widget.objects.count()
    form = {"dashboard": dashboard.pk, "type": "kpi", "label": "W", "unit": "", "format": "auto", "interval": "",
            "x": 0, "y": 0, "w": 3, "h": 2, "direction": "above", "history_minutes": 30,
            "widgetstatistic_set-TOTAL_FORMS": 0, "widgetstatistic_set-INITIAL_FORMS": 0,
            "warning": str(warning), "critical": str(critical), "hysteresis": str(hysteresis)}
    response = staff_client.post("/admin/dashboard/widget/add/", form)
    if response.status_code == 302:
        Widget.objects.filter(label="W", dashboard=dashboard).delete()
        return
    assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
    assert Widget.objects.count() == before
