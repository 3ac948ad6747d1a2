"""The editor's pages: who may edit, saving, conflicts, refusals at the field, copies and deletion."""

import json
import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache

from dashboard.editing import version_of
from dashboard.models import Dashboard, Widget, WidgetStatistic
from dashboard.validation import REFUSED, UNCHECKED
from statsbridge.models import Statistic
from statsbridge.probe import KNOWN, Verdict


@pytest.fixture(autouse=True)
def quiet_catalogue(monkeypatch):
    """No simulator here: the catalogue is what the database knows; the upstream is faked per test."""
    cache.clear()
    monkeypatch.setattr("dashboard.catalogue.fetch_catalog", lambda *a, **k: {})
    yield
    cache.clear()


@pytest.fixture
def upstream(monkeypatch):
    """A fake upstream: knows every statistic except the names in ``refuse`` (or none when ``down``)."""
    state = {"refuse": {"CallsAnswerd": "unknown statistic name 'CallsAnswerd'"}, "down": False, "asked": []}

    def check(items, **kwargs):
        state["asked"].extend(items)
        if state["down"]:
            return [Verdict(*i, UNCHECKED, "the upstream did not answer within 6 s") for i in items]
        return [Verdict(*i, REFUSED, state["refuse"][i[2]]) if i[2] in state["refuse"] else Verdict(*i, KNOWN, value={"value": 4})
                for i in items]

    monkeypatch.setattr("dashboard.validation.check_statistics", check)
    monkeypatch.setattr("dashboard.editing.check_statistics", check)
    return state


@pytest.fixture
def editor(db):
    user = User.objects.create_user("sup", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="edit_dashboards"))
    return user


@pytest.fixture
def board(editor):
    return Dashboard.objects.create(title="Sales floor", slug="sales-floor", owner=editor)


def widget(label="Waiting", x=0, y=0, w=3, h=2, name="CallsWaiting", object_id="VQ_Sales@SIP_Switch", **extra):
    return {"id": None, "type": "kpi", "label": label, "x": x, "y": y, "w": w, "h": h,
            "statistics": [{"object_type": "Queue", "object_id": object_id, "name": name}], **extra}


def save(client, board, widgets, version=None, **extra):
    body = {"title": board.title, "groups": [], "version": version or version_of(board), "widgets": widgets,
            **extra}
    return client.post(f"/edit/{board.slug}/save/", json.dumps(body), content_type="application/json")


def test_without_the_permission_the_editor_is_refused(client, db):
    client.force_login(User.objects.create_user("agent", password="pw"))
    assert client.get("/edit/").status_code == 403


def test_an_editor_creates_a_board_and_saves_widgets(client, editor, upstream):
    client.force_login(editor)
    reply = client.post("/edit/", {"title": "Sales floor"})
    assert reply.status_code == 302 and reply["Location"] == "/edit/sales-floor/"
    board = Dashboard.objects.get(slug="sales-floor")
    assert board.owner == editor
    page = client.get("/edit/sales-floor/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<script src="/static/vendor/gridstack/gridstack-all.js"></script>' in html  # served here, no CDN
    assert re.search(r'<script type="module" nonce="[^"]+">import \{ boot \} from "/static/dashboard/editor.js"', html)
    assert 'id="editor-config"' in html and "cdn" not in html.lower()
    reply = save(client, board, [widget(), widget("Abandoned", x=3, name="CallsAbandoned", warning=5, critical=10)])
    assert reply.status_code == 200, reply.json()
    saved = list(board.widgets.order_by("x").values_list("label", "x", "y", "w", "h", "warning"))
    assert saved == [("Waiting", 0, 0, 3, 2, None), ("Abandoned", 3, 0, 3, 2, 5.0)]
    names = list(WidgetStatistic.objects.filter(widget__dashboard=board).order_by("widget__x")
                 .values_list("statistic__name", flat=True))
    assert names == ["CallsWaiting", "CallsAbandoned"]
    assert reply.json()["version"] == version_of(board)


def test_a_typo_is_refused_with_the_upstream_message_and_nothing_is_saved(client, editor, board, upstream):
    client.force_login(editor)
    reply = save(client, board, [widget(name="CallsAnswerd")])
    assert reply.status_code == 400
    [problem] = reply.json()["problems"]
    assert problem["widget"] == 0 and problem["field"] == "statistic"
    assert "unknown statistic name 'CallsAnswerd'" in problem["message"]
    assert not board.widgets.exists() and not Statistic.objects.exists()


def test_the_field_check_gives_the_refusal_or_the_value(client, editor, upstream):
    client.force_login(editor)
    ask = {"object_type": "Queue", "object_id": "VQ_Sales@SIP_Switch", "name": "CallsAnswerd"}
    assert client.post("/edit/check/", ask, content_type="application/json").json() == {
        "status": REFUSED, "message": "unknown statistic name 'CallsAnswerd'", "value": None}
    ask["name"] = "CallsWaiting"
    assert client.post("/edit/check/", ask, content_type="application/json").json()["value"] == {"value": 4}


def test_overlapping_widgets_are_refused(client, editor, board, upstream):
    client.force_login(editor)
    reply = save(client, board, [widget(), widget("Abandoned", x=2, y=1, name="CallsAbandoned")])
    assert reply.status_code == 400
    assert [p["message"] for p in reply.json()["problems"]] == ["“Waiting” overlaps “Abandoned”: move one of them."]
    assert not board.widgets.exists()


def test_a_second_editor_saving_an_old_version_gets_a_conflict(client, editor, board, upstream):
    client.force_login(editor)
    opened = version_of(board)
    assert save(client, board, [widget()], version=opened).status_code == 200
    reply = save(client, board, [widget("Mine", x=6)], version=opened)
    assert reply.status_code == 409
    assert "Someone else changed “Sales floor” after you opened it" in reply.json()["conflict"]
    assert list(board.widgets.values_list("label", flat=True)) == ["Waiting"]
    # Saving over theirs, knowingly, with the version the conflict named.
    assert save(client, board, [widget("Mine", x=6)], version=reply.json()["version"]).status_code == 200
    assert list(board.widgets.values_list("label", flat=True)) == ["Mine"]


def test_an_unreachable_upstream_stops_an_editor_but_not_an_admin(client, editor, board, upstream):
    upstream["down"] = True
    client.force_login(editor)
    reply = save(client, board, [widget()])
    assert reply.status_code == 400
    assert "Could not check CallsWaiting" in reply.json()["problems"][0]["message"]
    admin = User.objects.create_user("boss", password="pw", is_staff=True)
    client.force_login(admin)
    assert save(client, board, [widget()]).status_code == 200


def test_moving_a_widget_keeps_it_and_sharing_sets_groups(client, editor, board, upstream):
    client.force_login(editor)
    first = save(client, board, [widget()]).json()
    moved = {**first["board"]["widgets"][0], "x": 6, "w": 4}
    team = Group.objects.create(name="Sales supervisors")
    editor.groups.add(team)
    reply = save(client, board, [moved], version=first["version"], groups=[team.pk])
    assert reply.status_code == 200
    assert list(board.widgets.values_list("pk", "x", "w")) == [(moved["id"], 6, 4)]
    assert list(board.groups.all()) == [team]


def test_an_editor_shares_only_with_their_own_groups_and_keeps_the_others(client, editor, board, upstream):
    mine, theirs, admins = (Group.objects.create(name=name) for name in ("Sales", "Claims", "Set by an admin"))
    editor.groups.add(mine)
    board.groups.add(admins)
    client.force_login(editor)
    page = client.get("/edit/sales-floor/").content.decode()
    assert "Sales" in page and "Claims" not in page  # only the editor's own groups are offered
    reply = save(client, board, [widget()], groups=[mine.pk, theirs.pk])
    assert reply.status_code == 200
    # Claims was not the editor's to give; the admin's group stays though the editor did not send it.
    assert set(board.groups.all()) == {mine, admins}
    save(client, board, [widget()], version=reply.json()["version"], groups=[])
    assert set(board.groups.all()) == {admins}


def test_staff_share_with_any_group(client, board, upstream):
    staff = User.objects.create_user("admin2", password="pw", is_staff=True)
    anyone = Group.objects.create(name="Claims")
    client.force_login(staff)
    assert save(client, board, [widget()], groups=[anyone.pk]).status_code == 200
    assert list(board.groups.all()) == [anyone]


def test_duplicate_copies_widgets_and_delete_is_the_owners(client, editor, board, upstream):
    client.force_login(editor)
    save(client, board, [widget()])
    reply = client.post("/edit/sales-floor/duplicate/")
    copy = Dashboard.objects.exclude(pk=board.pk).get()
    assert reply["Location"] == f"/edit/{copy.slug}/"
    assert copy.title == "Copy of Sales floor" and copy.owner == editor
    assert list(WidgetStatistic.objects.filter(widget__dashboard=copy).values_list("statistic__name", flat=True)) == [
        "CallsWaiting"]
    other = User.objects.create_user("other", password="pw")
    other.user_permissions.add(Permission.objects.get(codename="edit_dashboards"))
    team = Group.objects.create(name="floor")
    other.groups.add(team)
    board.groups.add(team)
    client.force_login(other)
    assert client.post("/edit/sales-floor/delete/").status_code == 403
    client.force_login(editor)
    assert client.post("/edit/sales-floor/delete/").status_code == 302
    assert not Dashboard.objects.filter(pk=board.pk).exists()
    assert Widget.objects.filter(dashboard=copy).count() == 1


def test_someone_elses_unshared_board_is_not_editable(client, editor, db):
    stranger = Dashboard.objects.create(title="Private", slug="private")
    client.force_login(editor)
    assert client.get(f"/edit/{stranger.slug}/").status_code == 403


def test_the_cost_preview_counts_what_saving_adds_upstream(client, editor, board, upstream):
    client.force_login(editor)
    save(client, board, [widget()])
    body = {"title": "Sales floor", "groups": [], "widgets": [widget(), widget("Abandoned", x=3, name="CallsAbandoned")]}
    reply = client.post(f"/edit/{board.slug}/cost/", json.dumps(body), content_type="application/json")
    assert reply.json()["summary"] == "Adds 1 upstream statistic (1 statistic × 1 object); reuses 1 already subscribed."


def test_a_statistic_the_upstream_refuses_later_is_named_on_its_widget(client, editor, board, upstream):
    from statsbridge import frames, store

    client.force_login(editor)
    save(client, board, [widget(), widget("Abandoned", x=3, name="CallsAbandoned")])
    refused_key = Statistic.objects.get(name="CallsAbandoned").key
    status = {"connection": frames.connection(upstream="connected", service="AVAILABLE", bridge="up"),
              "heartbeat": frames.now_ms(), "refused": {refused_key: "unknown objectId 'VQ_Sales@SIP_Switch'"}}
    store.write(values={}, status=status)
    html = client.get(f"/d/{board.slug}/").content.decode()
    assert html.count('class="widget-refused"') == 1
    notice = html[html.index('class="widget-refused"'):]
    assert "Refused by the upstream:" in notice and "unknown objectId &#x27;VQ_Sales@SIP_Switch&#x27;" in notice[:300]
    assert html.index('id="w-') < html.index('class="widget-refused"')


def test_walls_get_their_own_layout_checked_like_the_desks(client, editor, board, upstream):
    from dashboard.boards import widget_specs

    client.force_login(editor)
    wide = widget(wall={"x": 0, "y": 0, "w": 12, "h": 3})
    beside = widget("Abandoned", x=3, name="CallsAbandoned", wall={"x": 0, "y": 2, "w": 6, "h": 2})
    reply = save(client, board, [wide, beside])
    assert reply.status_code == 400
    assert [p["message"] for p in reply.json()["problems"]] == [
        "On walls: “Waiting” overlaps “Abandoned”: move one of them."]
    beside["wall"]["y"] = 3
    reply = save(client, board, [wide, beside])
    assert reply.status_code == 200, reply.json()
    desk = {s["label"]: (s["x"], s["y"], s["w"], s["h"]) for s in widget_specs(board)}
    wall = {s["label"]: (s["x"], s["y"], s["w"], s["h"]) for s in widget_specs(board, layout="wall")}
    assert desk == {"Waiting": (0, 0, 3, 2), "Abandoned": (3, 0, 3, 2)}
    assert wall == {"Waiting": (0, 0, 12, 3), "Abandoned": (0, 3, 6, 2)}


def test_a_change_made_in_the_admin_meanwhile_is_a_conflict_too(client, editor, board, upstream):
    client.force_login(editor)
    opened = save(client, board, [widget()]).json()["version"]
    Widget.objects.filter(dashboard=board).update(critical=9)  # e.g. an admin sets a level
    reply = save(client, board, [widget("Mine", x=6)], version=opened)
    assert reply.status_code == 409
    assert list(board.widgets.values_list("label", "critical")) == [("Waiting", 9.0)]


def test_the_grid_preview_reads_the_saved_widgets_current_values(client, editor, board, upstream):
    from statsbridge import frames, store

    client.force_login(editor)
    save(client, board, [widget(), widget("Abandoned", x=3, name="CallsAbandoned")])
    waiting = Statistic.objects.get(name="CallsWaiting").key
    now = frames.now_ms()
    store.write(values={waiting: frames.value(kind="number", value=7, text="7", state="fresh", timestamp=now,
                                              received=now)}, status={})
    values = client.get(f"/edit/{board.slug}/values/").json()["values"]
    ids = dict(board.widgets.values_list("label", "pk"))
    assert values == {str(ids["Waiting"]): "7", str(ids["Abandoned"]): ""}


def test_a_large_catalogue_is_searched_on_the_server(client, editor, db, monkeypatch):
    from dashboard import catalogue
    from dashboard.models import DisplayName

    DisplayName.objects.bulk_create(
        [DisplayName(object_type="Agent", object_id=f"agent{i:04}", display_name=f"Agent {i:04}") for i in range(120)]
        + [DisplayName(object_type="RegDN", object_id="7001", display_name="Reception desk")])
    sent = catalogue.build_catalogue(embed_limit=100)
    assert sent["remote"] is True and sent["objects"] == {"Agent": [], "RegDN": []}
    assert sent["counts"] == {"Agent": 120, "RegDN": 1}
    assert catalogue.build_catalogue()["remote"] is False
    client.force_login(editor)
    found = client.get("/edit/objects/", {"type": "Agent", "q": "AGENT 01"}).json()
    assert found == {"objects": [{"id": f"agent01{i:02}", "name": f"Agent 01{i:02}"} for i in range(20)], "more": False}
    some = client.get("/edit/objects/", {"type": "Agent", "q": ""}).json()
    assert len(some["objects"]) == catalogue.SEARCH_LIMIT and some["more"] is True
    assert client.get("/edit/objects/", {"type": "RegDN", "q": "recep"}).json()["objects"] == [
        {"id": "7001", "name": "Reception desk"}]
