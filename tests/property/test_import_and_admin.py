"""Dashboard imports and admin forms under broken input: every document or form is
either accepted whole or refused with located problems; a refusal saves nothing."""

import copy
import io
import json

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.models import Dashboard, Display, Widget, WidgetStatistic
from dashboard.transfer import DashboardImportError, export_dashboards, import_dashboards
from statsbridge.models import Statistic
from tests.dashboard.conftest import catalog, demo  # noqa: F401  (reused fixtures)
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
        found += paths(value, prefix + (key,))
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


# The exceptions of IMPORT_BUG (below): tolerated by the property test only as far as
# nothing is saved, until the deterministic xfail tests pass.
KNOWN_UNCLEAR = (TypeError, OverflowError, IntegrityError)


def attempt(document, *, tolerate: tuple = ()) -> None:
    """Import inside a savepoint: accepted, or refused with problems and nothing saved."""
    before = database_state()
    with pytest.raises(RolledBack), transaction.atomic():
        try:
            with transaction.atomic():
                import_dashboards(document, replace=True)
        except DashboardImportError as error:
            assert error.problems and all(isinstance(p, str) and p for p in error.problems)
            assert database_state() == before, "a refused import saved something"
        except tolerate:
            assert database_state() == before, "a failed import saved something"
        raise RolledBack
    assert database_state() == before


IMPORT_BUG = ("BUG: dashboard/transfer.py _plan/_check pass imported values to full_clean unchecked: None in a "
              "non-null field (unit) passes full_clean and fails at save with IntegrityError; a huge integer in a "
              "float field raises OverflowError in clean_fields; a list in warning reaches Widget.clean "
              "(dashboard/models.py:111) and raises TypeError. Each is an unhandled exception (HTTP 500 in the admin "
              "import) instead of a located problem; the transaction does roll back. Check types per field, catch "
              "TypeError/ValueError/OverflowError as problems, and skip Widget.clean when fields already failed")


@given(data=st.data())
@SLOW
def test_a_mutated_export_is_imported_whole_or_refused_whole(demo, data):
    document = export_dashboards(Dashboard.objects.order_by("slug"))
    attempt(mutated(document, data), tolerate=KNOWN_UNCLEAR)


@pytest.mark.xfail(strict=True, reason=IMPORT_BUG)
@pytest.mark.parametrize("where, value", [("unit", None), ("warning", [1]), ("hysteresis", 10**400)])
def test_a_wrong_type_in_a_widget_is_a_located_problem(demo, where, value):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    document["dashboards"][0]["widgets"][0][where] = value
    attempt(document)


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


@pytest.mark.xfail(strict=True, reason="BUG: dashboard/admin.py import_view catches only UnicodeDecodeError and "
                                       "JSONDecodeError around json.load; a deeply nested file raises RecursionError "
                                       "-> HTTP 500 instead of a clear error (catch RecursionError too)")
def test_the_admin_import_view_refuses_a_deeply_nested_file(staff_client):
    before = database_state()
    response = staff_client.post("/admin/dashboard/dashboard/import/",
                                 {"file": io.BytesIO(b"[" * 100_000 + b"]" * 100_000)})
    assert response.status_code == 400
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
