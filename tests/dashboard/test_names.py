"""Display names: aliases instead of ids on every page, one state table, CSV import that names bad lines."""

import html as html_lib
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from dashboard import figures, names
from dashboard.models import DisplayName, Widget, WidgetStatistic
from statsbridge import formatting, frames, store
from statsbridge.models import OBJECT_TYPES, Statistic
from tests.dashboard.pages import attribute, live_status, tile_tag

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def number(n: float, kind: str = "number") -> dict:
    return frames.value(kind=kind, value=n, text="", state="fresh", timestamp=frames.now_ms(), received=frames.now_ms())


def page_of(client, demo, slug: str) -> str:
    client.force_login(User.objects.get(username=demo.username))
    response = client.get(f"/d/{slug}/")
    assert response.status_code == 200
    return response.content.decode()


# ---- pure ----

def test_labels_come_from_display_names_with_the_id_as_the_fallback():
    shown = names.Names({("Queue", "VQ_Sales@SIP_Switch"): "Sales", (names.STATISTIC, "CallsWaiting"): "Waiting",
                         (names.STATISTIC, "ASA"): "ASA"})
    assert shown.label("", "Queue", "VQ_Sales@SIP_Switch", "CallsWaiting") == "Sales waiting"
    assert shown.label("", "Queue", "VQ_Billing@SIP_Switch", "CallsWaiting") == "VQ_Billing@SIP_Switch waiting"
    assert shown.label("", "Queue", "VQ_Sales@SIP_Switch", "ServiceLevel") == "Sales ServiceLevel"
    assert shown.label("", "Queue", "VQ_Sales@SIP_Switch", "ASA") == "Sales ASA", "an acronym was lower-cased"
    assert shown.label("Our own label", "Queue", "VQ_Sales@SIP_Switch", "CallsWaiting") == "Our own label"
    assert shown.statistic_name("") == "custom"


def test_one_table_words_every_agent_state():
    assert [names.agent_state_label(s) for s in ("Ready", "Talking", "AfterCallWork", "NotReady", "LoggedOut")] == [
        "Ready", "Talking", "After-call work", "Not ready", "Logged out"]
    assert names.agent_state_label("Dialing") == "Dialing" and names.agent_state_label(None) == "Unknown"
    value = {"kind": "agent_state", "value": None, "state": "fresh", "agent": {"state": "AfterCallWork"}}
    assert formatting.display_text(value, "auto", names.AGENT_STATES) == "After-call work"
    spec = {"statistics": [{"name": "CurrentAgentState"}] * 2}
    tiles = [figures.tile({"warning": None, "critical": None, "direction": "above", "hysteresis": 0, "format": "auto",
                           "unit": ""}, {"key": k, "label": k}, {**value, "agent": {"state": s}})
             for k, s in (("a", "AfterCallWork"), ("b", "NotReady"))]
    labels, counts, _ = figures.donut_slices(spec["statistics"], tiles)
    assert labels == ["After-call work", "Not ready"] and counts == [1, 1]


def test_the_browser_module_words_states_from_the_same_table():
    cases = ["AfterCallWork", "NotReady", "Dialing", None]
    script = f"""
      const m = await import({json.dumps((ROOT / "static/dashboard/dashboard.js").as_uri())});
      const table = {json.dumps(names.AGENT_STATES)};
      const texts = {json.dumps(cases)}.map((s) => m.displayText(
        {{kind: "agent_state", value: null, state: "fresh", agent: {{state: s}}}}, "auto", table));
      const labels = {json.dumps(cases)}.map((s) => m.stateLabel(s, table));
      console.log(JSON.stringify({{texts, labels}}));
    """
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    expected = [formatting.display_text({"kind": "agent_state", "agent": {"state": s}}, "auto", names.AGENT_STATES)
                for s in cases]
    assert got["texts"] == expected == ["After-call work", "Not ready", "Dialing", "?"]
    assert got["labels"] == [names.agent_state_label(s) for s in cases]


GOOD_CSV = """object_type,object_id,display_name
Queue,VQ_Sales@SIP_Switch,Sales desk
Agent, agent001 ,Anna B.

Statistic,CallsWaiting,In queue
"""


def test_a_csv_is_parsed_trimmed_and_blank_lines_skipped():
    rows = names.parse_display_names("\ufeff" + GOOD_CSV, OBJECT_TYPES)
    assert rows == [names.NameRow("Queue", "VQ_Sales@SIP_Switch", "Sales desk"), names.NameRow("Agent", "agent001", "Anna B."),
                    names.NameRow("Statistic", "CallsWaiting", "In queue")]


def test_every_bad_line_of_a_csv_is_named_with_its_line_number():
    text = ("object_type,object_id,display_name\n"
            "Queu,VQ_Sales@SIP_Switch,Sales\n"          # line 2: unknown type
            "Agent,,Nobody\n"                            # line 3: no id
            "Agent,agent002,\n"                          # line 4: no name
            "Agent,agent003\n"                           # line 5: two cells
            "Agent,agent004,Bo\x07b\n"                   # line 6: control character
            "Queue,VQ_Billing@SIP_Switch,Billing\n"      # line 7: good
            "Queue,VQ_Billing@SIP_Switch,Accounts\n"     # line 8: listed twice
            f"Agent,agent005,{'x' * 201}\n")             # line 9: too long
    with pytest.raises(names.CsvProblems) as caught:
        names.parse_display_names(text, OBJECT_TYPES)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in (2, 3, 4, 5, 6, 8, 9)]
    assert "unknown object type 'Queu'" in problems[0]
    assert "the object id is empty" in problems[1] and "the display name is empty" in problems[2]
    assert "2 cells, expected 3" in problems[3] and "control characters" in problems[4]
    assert "already named on line 7" in problems[5] and "longer than 200" in problems[6]


@pytest.mark.parametrize("text, says", [
    ("", "the first line must be the header"),
    ("type,id,name\nQueue,Q,Name\n", "the first line must be the header"),
    ('object_type,object_id,display_name\nQueue,"Q\n', "line"),
])
def test_a_file_that_is_not_a_display_name_csv_is_refused(text, says):
    with pytest.raises(names.CsvProblems) as caught:
        names.parse_display_names(text, OBJECT_TYPES)
    assert says in caught.value.problems[0]


def test_a_file_that_is_not_utf8_or_too_big_is_refused():
    with pytest.raises(names.CsvProblems, match="not UTF-8"):
        names.decode_csv("object_type,object_id,display_name\nAgent,a1,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(names.CsvProblems, match="larger than"):
        names.decode_csv(b"x" * (names.MAX_CSV_BYTES + 1))


# ---- the database, admin and command ----

def test_importing_adds_renames_and_keeps_and_saves_nothing_from_a_bad_file(db):
    DisplayName.objects.create(object_type="Queue", object_id="VQ_Sales@SIP_Switch", display_name="Sales")
    DisplayName.objects.create(object_type="Statistic", object_id="CallsWaiting", display_name="In queue")
    assert DisplayName.import_csv(GOOD_CSV) == {"added": 1, "renamed": 1, "unchanged": 1}
    assert DisplayName.objects.get(object_id="VQ_Sales@SIP_Switch").display_name == "Sales desk"
    before = list(DisplayName.objects.values_list("object_type", "object_id", "display_name"))
    with pytest.raises(names.CsvProblems):
        DisplayName.import_csv(GOOD_CSV + "Queue,,Empty\n")
    assert list(DisplayName.objects.values_list("object_type", "object_id", "display_name")) == before


def test_a_display_name_is_validated_like_a_csv_line_and_unique(db):
    with pytest.raises(ValidationError, match="Unknown object type 'Queu'"):
        DisplayName(object_type="Queu", object_id="Q", display_name="Q").full_clean()
    DisplayName.objects.create(object_type="Queue", object_id="Q", display_name="Q")
    with pytest.raises(ValidationError, match="already exists"):
        DisplayName(object_type="Queue", object_id="Q", display_name="Other").full_clean()


def test_the_admin_imports_a_csv_and_lists_each_bad_line(admin_client):
    page = admin_client.get("/admin/dashboard/displayname/")
    assert page.status_code == 200 and "/admin/dashboard/displayname/import/" in page.content.decode()
    bad = io.BytesIO(b"object_type,object_id,display_name\nQueue,Q1,One\nQueu,Q2,Two\nAgent,a1,\n")
    bad.name = "names.csv"
    response = admin_client.post("/admin/dashboard/displayname/import/", {"file": bad})
    assert response.status_code == 400
    text = html_lib.unescape(response.content.decode())
    assert ("line 3: unknown object type &#x27;Queu&#x27;" in response.content.decode()
            or "line 3: unknown object type 'Queu'" in text)
    assert "line 4: the display name is empty" in text and "Nothing was imported." in text
    assert not DisplayName.objects.exists()
    good = io.BytesIO(GOOD_CSV.encode())
    good.name = "names.csv"
    response = admin_client.post("/admin/dashboard/displayname/import/", {"file": good}, follow=True)
    assert "3 added, 0 renamed, 0 unchanged" in response.content.decode()
    assert DisplayName.objects.count() == 3


def test_the_admin_exports_display_names_as_a_csv_that_imports_again(admin_client):
    DisplayName.import_csv(GOOD_CSV)
    ids = list(DisplayName.objects.values_list("pk", flat=True))
    response = admin_client.post("/admin/dashboard/displayname/", {"action": "export_csv", "_selected_action": ids})
    exported = response.content.decode()
    assert exported.splitlines()[0] == "object_type,object_id,display_name"
    assert DisplayName.import_csv(exported) == {"added": 0, "renamed": 0, "unchanged": 3}


def test_the_command_imports_a_file_and_refuses_a_bad_one_saying_why(db, tmp_path):
    good = tmp_path / "names.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    out = io.StringIO()
    call_command("import_display_names", str(good), stdout=out)
    assert "3 added" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text("object_type,object_id,display_name\nQueue,Q9,\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 2: the display name is empty"):
        call_command("import_display_names", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_display_names", str(tmp_path / "missing.csv"))


# ---- pages ----

def test_the_pages_show_display_names_not_ids(client, demo):
    overview, queues, agents = (page_of(client, demo, slug) for slug in ("overview", "queues", "agents"))
    headers = re.findall(r'<th scope="col">([^<]*)</th>', queues)
    assert headers == ["Queue", "Waiting", "Longest wait", "Service level", "Abandoned"]
    rows = re.findall(r'<th scope="row">([^<]*)</th>', queues)
    assert rows == ["Sales", "Support", "Billing", "Retention"]
    on_sight = [page.split('id="dash-config"')[0] for page in (overview, queues)]  # the config has ids for machines
    assert "VQ_Sales@SIP_Switch" not in "".join(on_sight), "a raw queue id is on a page"
    assert "CallsWaiting" not in "".join(on_sight), "a raw statistic name is on a page"
    shown_agents = re.findall(r'<span class="tile-label">([^<]*)</span>', agents)
    assert shown_agents[:2] == ["Anna Berg", "Ben Costa"] and not [a for a in shown_agents if re.fullmatch(r"agent\d+", a)]
    config = json.loads(html_lib.unescape(re.search(r'id="dash-config"[^>]*>(.*?)</script>', agents, re.S).group(1)))
    assert config["agentStates"]["AfterCallWork"]["label"] == "After-call work", "the page's JS gets the one state table"
    figures_ = config["figures"]
    bar = next(w for w in config["widgets"] if w["label"] == "Time in current state")
    assert figures_[str(bar["id"])]["data"][0]["x"][:2] == ["Anna Berg", "Ben Costa"]


def test_a_new_alias_renames_every_page_at_once(client, demo):
    DisplayName.objects.filter(object_type="Queue", object_id="VQ_Sales@SIP_Switch").update(display_name="Sales EMEA")
    key = Statistic.objects.get(object_type="Queue", object_id="VQ_Sales@SIP_Switch", name="CallsWaiting").key
    queues = page_of(client, demo, "queues")
    assert "Sales EMEA" in re.findall(r'<th scope="row">([^<]*)</th>', queues)
    assert attribute(tile_tag(queues, key), "aria-label").startswith("Sales EMEA waiting: ")
    DisplayName.objects.filter(object_type="Queue", object_id="VQ_Sales@SIP_Switch").delete()
    assert "VQ_Sales@SIP_Switch" in re.findall(r'<th scope="row">([^<]*)</th>', page_of(client, demo, "queues"))


def test_queue_table_cells_are_judged_by_their_columns_thresholds(client, demo):
    def key(name):
        return Statistic.objects.get(object_type="Queue", object_id="VQ_Sales@SIP_Switch", name=name).key
    store.write(values={key("CallsWaiting"): number(7), key("ServiceLevel"): number(70, "percentage"),
                         key("LongestWaitTime"): number(10, "duration"), key("CallsAbandoned"): number(5)},
                 status=live_status())
    queues = page_of(client, demo, "queues")
    cells = {name: tile_tag(queues, key(name)) for name in ("CallsWaiting", "ServiceLevel", "LongestWaitTime", "CallsAbandoned")}
    assert {n: attribute(t, "data-threshold") for n, t in cells.items()} == {
        "CallsWaiting": "critical", "ServiceLevel": "warning", "LongestWaitTime": "ok", "CallsAbandoned": "warning"}
    assert attribute(cells["ServiceLevel"], "aria-label").endswith(", LOW"), "lower-is-worse column worded as high"
    assert "--level-color: #D55E00" in attribute(cells["CallsWaiting"], "style")
    table = Widget.objects.get(dashboard__slug="queues", type="queue_table")
    spec = next(w for w in json.loads(html_lib.unescape(re.search(
        r'id="dash-config"[^>]*>(.*?)</script>', queues, re.S).group(1)))["widgets"] if w["id"] == table.pk)
    by_name = {s["name"]: s["thresholds"] for s in spec["statistics"]}
    assert by_name["ServiceLevel"] == {"warning": 80, "critical": 60, "direction": "below", "hysteresis": 2}


def test_a_statistics_own_thresholds_must_be_in_order(demo):
    link = WidgetStatistic.objects.filter(widget__type="queue_table", statistic__name="ServiceLevel").first()
    link.direction = "above"
    with pytest.raises(ValidationError, match="warning level must be below"):
        link.full_clean()


# ---- error pages, signing out ----

def test_403_says_whom_to_ask_and_leads_back(client, demo, settings):
    stranger = User.objects.create_user("stranger", password="stranger-password-1")
    client.force_login(stranger)
    response = client.get("/d/overview/")
    text = response.content.decode()
    assert response.status_code == 403 and 'data-error="403"' in text
    assert "Ask your administrator" in text and 'href="/"' in text and 'href="/accounts/login/?next=/d/overview/"' in text
    assert '<link rel="stylesheet" href="/static/dashboard/dashboard.css?v=' in text, "not in the product's look"
    settings.ADMIN_CONTACT = "the floor manager (ext. 2040)"
    assert "Ask the floor manager (ext. 2040)" in client.get("/d/overview/").content.decode()


def test_404_and_500_pages_lead_back_to_the_dashboards(client, rf, demo):
    client.force_login(User.objects.get(username=demo.username))
    response = client.get("/d/no-such-board/")
    assert response.status_code == 404 and 'data-error="404"' in response.content.decode()
    assert 'href="/"' in response.content.decode()
    from django.views.defaults import server_error
    error = server_error(rf.get("/d/overview/"))
    assert error.status_code == 500 and 'href="/"' in error.content.decode() and "dashboard.css" in error.content.decode()


def test_a_refused_wall_link_is_a_page_with_a_way_back(client, db):
    response = client.get("/wall/not-a-token/")
    text = response.content.decode()
    assert response.status_code == 403 and "This wall link is not valid" in text and 'href="/"' in text
    assert "Ask your administrator" in text


def test_logging_out_lands_on_the_products_page_with_its_own_login(client, demo):
    client.force_login(User.objects.get(username=demo.username))
    response = client.post("/accounts/logout/")
    text = response.content.decode()
    assert response.status_code == 200 and "You are logged out" in text
    assert "quality time" not in text and 'href="/accounts/login/"' in text and "/admin/" not in text


def test_a_columns_own_thresholds_survive_export_and_import(demo):
    from dashboard.models import Dashboard
    from dashboard.transfer import DashboardImportError, export_dashboards, import_dashboards
    document = export_dashboards(Dashboard.objects.filter(slug="queues"))
    table = next(w for w in document["dashboards"][0]["widgets"] if w["type"] == "queue_table")
    assert table["statistics"][2]["thresholds"] == {"warning": 80, "critical": 60, "direction": "below", "hysteresis": 2}
    imported = import_dashboards(document, replace=True)[0]
    link = WidgetStatistic.objects.get(widget__dashboard=imported, widget__type="queue_table",
                                       statistic__object_id="VQ_Sales@SIP_Switch", statistic__name="ServiceLevel")
    assert link.limits() == {"warning": 80, "critical": 60, "direction": "below", "hysteresis": 2}
    table["statistics"][2]["thresholds"] = {"warning": "high", "direction": "above"}
    table["statistics"][3]["thresholds"] = {"warning": 80, "critical": 60, "direction": "above"}
    with pytest.raises(DashboardImportError) as caught:
        import_dashboards(document, replace=True)
    assert caught.value.problems == [
        "dashboards[0].widgets[0].statistics[2].thresholds.warning: must be a number",
        ("dashboards[0].widgets[0].statistics[3].thresholds: When higher is worse, the warning level must be below "
         "the critical level.")]


def test_an_expired_form_is_a_page_with_a_way_back(db):
    from django.test import Client
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x", "password": "y"})
    text = response.content.decode()
    assert response.status_code == 403 and "This form expired" in text
    assert 'href="/"' in text and 'href="/accounts/login/"' in text and "dashboard.css" in text


def test_importing_names_asks_open_walls_to_reload(admin_client, demo, django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from statsbridge.fanout import display_group
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(display_group(demo.display.pk), channel)
    upload = io.BytesIO(b"object_type,object_id,display_name\nQueue,VQ_Sales@SIP_Switch,Sales EMEA\n")
    upload.name = "names.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/dashboard/displayname/import/", {"file": upload})
    assert response.status_code == 302
    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": "display.reload", "reason": "display names imported"}
