"""The dashboard editor in Debian's Chromium on the real stack (simulator upstream, embedded bridge).

A supervisor who is not staff builds a board from scratch (catalogue search, drag,
resize, save) and sees it live; a typo is refused at the field with the upstream's
message; two editors' conflicting saves are caught.
"""

import re
import time

import pytest

from tests.browser.conftest import CONTROL_KEY, login, manage, new_context, readme_screenshot, wait_for

pytestmark = pytest.mark.browser

PASSWORD = "editor-password-47"
EDITORS = ("sup-anna", "sup-ben")


@pytest.fixture(scope="module")
def stack_env() -> dict:
    """The web server reads the editor's catalogue from the simulator."""
    return {"SIMULATOR_CONTROL_KEY": CONTROL_KEY}


@pytest.fixture(scope="module")
def editors(stack):
    """Two supervisors with "Can edit dashboards", not staff."""
    make = "".join(
        f"u = User.objects.create_user({name!r}, password={PASSWORD!r}); u.user_permissions.add(p); "
        for name in EDITORS)
    manage(stack["server"].env, "shell", "-c",
           "from django.contrib.auth.models import Permission, User; "
           f"p = Permission.objects.get(codename='edit_dashboards'); {make}")
    return EDITORS


def wait_explained(condition, timeout: float, explain) -> None:
    """Like ``wait_for``, but the failure says what the page showed instead (``explain()``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{explain()} (waited {timeout} s)")
        time.sleep(0.05)


def open_editor(tab, stack, user: str, path: str) -> None:
    login(tab, stack["server"].base, user, PASSWORD, path)
    wait_for(lambda: tab.evaluate("() => document.getElementById('editor')?.dataset.ready === 'true'"), 15,
             "the editor never started")


def widgets(tab) -> list[dict]:
    return tab.evaluate("() => window.dashboardEditor.board.widgets.map(({label, x, y, w, h}) => ({label, x, y, w, h}))")


def pick(tab, object_query: str, object_id: str, statistic_query: str, name: str) -> None:
    tab.fill("#object-search", object_query)
    tab.select_option("#object-id", object_id)
    tab.fill("#statistic-search", statistic_query)
    tab.select_option("#statistic-name", name)


def new_board(tab, stack, user: str, title: str) -> str:
    login(tab, stack["server"].base, user, PASSWORD, "/edit/")
    tab.fill("#new-title", title)
    tab.click(".editor-create button[type=submit]")
    tab.wait_for_url(re.compile(r".*/edit/[a-z0-9-]+/$"))
    wait_for(lambda: tab.evaluate("() => document.getElementById('editor')?.dataset.ready === 'true'"), 15,
             "the editor never started")
    return tab.url.rstrip("/").rsplit("/", 1)[-1]


def drag(tab, handle, dx: float, dy: float) -> None:
    tab.evaluate("() => window.scrollTo(0, 0)")  # adding a widget scrolled to the form's button
    box = handle.bounding_box(timeout=5000)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(x, y)
    tab.mouse.down()
    for step in range(1, 11):
        tab.mouse.move(x + dx * step / 10, y + dy * step / 10)
    tab.mouse.up()


def test_a_supervisor_builds_a_board_from_scratch_and_sees_it_live(browser, stack, editors):
    queue = stack["simulator"].catalog()["objects"]["Queue"][0]
    with new_context(browser, 1366, 768) as context:
        tab = context.new_page()
        slug = new_board(tab, stack, editors[0], "Claims desk")
        pick(tab, queue.removeprefix("VQ_")[:4], queue, "waiting", "CallsWaiting")
        wait_for(lambda: re.fullmatch(r"Now: \d+(\.\d+)?", tab.inner_text("#statistic-preview")), 10,
                 "the preview never showed the upstream's value")
        tab.click("#add-widget")
        pick(tab, queue.removeprefix("VQ_")[:4], queue, "answered", "CallsAnswered")
        tab.click("#add-widget")
        wait_for(lambda: len(widgets(tab)) == 2, 10, "the second widget was not added")
        cost = "If saved: Adds 1 upstream statistic (1 statistic × 1 object); reuses 1 already subscribed."
        wait_explained(lambda: tab.inner_text("#cost") == cost, 10,
                       lambda: f"no cost preview: {tab.inner_text('#cost')!r}")
        first, second = widgets(tab)
        assert (first["x"], first["y"], first["w"], first["h"]) == (0, 0, 3, 2)
        assert (second["x"], second["y"]) == (3, 0)

        # Drag the second widget down two rows, then widen the first from its corner.
        cell = tab.locator("#grid").bounding_box()["width"] / 12
        drag(tab, tab.locator(".editor-widget-title").nth(1), 0, 70 * 2 + 10)
        wait_for(lambda: widgets(tab)[1]["y"] >= 2, 10, f"dragging did not move the widget: {widgets(tab)}")
        tab.locator(".grid-stack-item").nth(0).hover()  # its resize handles show on hover
        drag(tab, tab.locator(".grid-stack-item").nth(0).locator(".ui-resizable-se"), cell * 2, 0)
        wait_for(lambda: widgets(tab)[0]["w"] >= 5, 10, f"resizing did not widen the widget: {widgets(tab)}")

        # Edit the first widget: its label and thresholds, its statistic kept.
        tab.click(".grid-stack-item >> nth=0 >> button.edit")
        assert tab.input_value("#widget-label") == first["label"]
        tab.fill("#widget-label", "Sales queue waiting")
        tab.fill("#widget-warning", "3")
        tab.fill("#widget-critical", "6")
        tab.click("#add-widget")
        wait_for(lambda: widgets(tab)[0]["label"] == "Sales queue waiting", 10, "the widget was not updated")
        assert tab.evaluate("() => window.dashboardEditor.board.widgets[0].statistics.map((s) => s.name)") == ["CallsWaiting"]

        # Walls get their own layout: the second widget moves right there, not on desks.
        desk = widgets(tab)[1]
        on_wall = {"x": desk["x"] + 4, "y": desk["y"], "w": 3, "h": 2}
        tab.check("input[name=layout][value=wall]")
        drag(tab, tab.locator(".editor-widget-title").nth(1), cell * 4, 0)
        wall = "() => window.dashboardEditor.board.widgets.map((w) => w.wall)"
        wait_explained(lambda: tab.evaluate(wall)[1] == on_wall, 10, lambda: f"the wall layout is {tab.evaluate(wall)}")
        assert tab.evaluate(wall)[0] is None
        tab.check("input[name=layout][value=desk]")
        moved = widgets(tab)
        assert moved[1] == desk, "moving a widget on the wall layout moved it on desks"
        tab.evaluate("() => window.scrollTo(0, 0)")
        readme_screenshot(tab, "editor-grid.png")

        tab.click("#save")
        wait_explained(lambda: tab.inner_text("#save-status") == "Saved.", 15,
                       lambda: f"not saved: {tab.inner_text('#save-status')} {tab.inner_text('#board-problems')}")
        # The grid's preview shows the saved widgets' live values.
        wait_explained(lambda: all(re.fullmatch(r"Now: \d+(\.\d+)?", t)
                                   for t in tab.locator(".widget-now").all_inner_texts() or ["none"]), 30,
                       lambda: f"no live values on the grid: {tab.locator('.widget-now').all_inner_texts()}")
        tab.reload()
        wait_for(lambda: tab.evaluate("() => document.getElementById('editor')?.dataset.ready === 'true'"), 15,
                 "the editor never restarted")
        assert widgets(tab) == moved, "the saved layout is not what was on the grid"
        assert tab.evaluate("() => window.dashboardEditor.board.widgets.map((w) => [w.warning, w.critical])") == [
            [3, 6], [None, None]]
        assert tab.evaluate(wall) == [None, on_wall]

        tab.goto(f"{stack['server'].base}/d/{slug}/")
        wait_for(lambda: tab.evaluate(
            "() => [...document.querySelectorAll('.tile')].length === 2 && "
            "[...document.querySelectorAll('.tile')].every((t) => t.dataset.state === 'fresh' && "
            "/^\\d/.test(t.querySelector('.tile-value').textContent.trim()))"), 30,
            "the new board never showed live values")


def test_a_typo_is_refused_at_the_field_with_the_upstreams_message(browser, stack, editors):
    queue = stack["simulator"].catalog()["objects"]["Queue"][0]
    with new_context(browser, 1920, 1080) as context:
        tab = context.new_page()
        new_board(tab, stack, editors[0], "Typo test")
        tab.fill("#object-search", queue)
        tab.select_option("#object-id", queue)
        tab.fill("#statistic-search", "CallsAnswerd")
        assert tab.locator("#statistic-name option").count() == 0
        tab.click("#add-widget")
        wait_explained(lambda: "unknown statistic name 'CallsAnswerd'" in tab.inner_text("#statistic-error"), 10,
                       lambda: f"no refusal at the field: {tab.inner_text('#statistic-error')!r}")
        assert widgets(tab) == []
        readme_screenshot(tab, "editor-typo.png")

        tab.fill("#object-search", "VQ_Claims@SIP_Switch")
        tab.fill("#statistic-search", "")
        tab.select_option("#statistic-name", "CallsWaiting")
        tab.click("#add-widget")
        wait_explained(lambda: "VQ_Claims@SIP_Switch" in tab.inner_text("#statistic-error"), 10,
                       lambda: f"unknown object not refused: {tab.inner_text('#statistic-error')!r}")
        assert widgets(tab) == []

        # A bar chart of two queues: add it with one, then add the other to it while editing it.
        other = stack["simulator"].catalog()["objects"]["Queue"][1]
        stats = "() => window.dashboardEditor.board.widgets.map((w) => w.statistics.map((s) => s.object_id))"
        pick(tab, queue, queue, "CallsWaiting", "CallsWaiting")
        tab.select_option("#widget-type", "bar")
        tab.click("#add-widget")
        wait_for(lambda: tab.evaluate(stats) == [[queue]], 10, "the bar chart was not added")
        tab.click(".grid-stack-item >> nth=0 >> button.edit")
        pick(tab, other, other, "CallsWaiting", "CallsWaiting")
        tab.click("#add-statistic")
        wait_for(lambda: tab.evaluate(stats) == [[queue, other]], 10, "the second queue was not added to the chart")
        assert tab.locator("#widget-statistics li").count() == 2
        tab.click(f'#widget-statistics button[aria-label="Remove CallsWaiting of {queue} from the widget"]')
        wait_for(lambda: tab.evaluate(stats) == [[other]], 10, "the statistic was not removed from the chart")


def test_templates_fill_a_board_without_overlaps(browser, stack, editors):
    catalog = stack["simulator"].catalog()
    queues, groups = catalog["objects"]["Queue"], catalog["groups"]
    group = sorted(groups)[0]
    with new_context(browser, 1920, 1080) as context:
        tab = context.new_page()
        new_board(tab, stack, editors[0], "From templates")
        assert tab.locator("#empty-hint").is_visible()
        tab.select_option("#template-queue-stat", "LongestWaitTime")
        tab.click("#template-queues")
        tab.select_option("#template-group", group)
        tab.click("#template-agents")
        wait_for(lambda: len(widgets(tab)) == len(queues) + 1, 10, "the templates added no widgets")
        assert not tab.locator("#empty-hint").is_visible()
        board = tab.evaluate("() => window.dashboardEditor.board.widgets.map((w) => ({type: w.type, "
                             "stats: w.statistics.map((s) => [s.object_type, s.object_id, s.name])}))")
        assert board[:-1] == [{"type": "kpi", "stats": [["Queue", q, "LongestWaitTime"]]} for q in sorted(queues)]
        assert board[-1] == {"type": "agent_grid", "stats": [["Agent", a, "CurrentAgentState"] for a in groups[group]]}
        boxes = widgets(tab)
        cells = [(b["x"] + dx, b["y"] + dy) for b in boxes for dx in range(b["w"]) for dy in range(b["h"])]
        assert len(cells) == len(set(cells)), f"templates placed widgets over each other: {boxes}"
        # Undo takes back the last change: a removed widget comes back where it was.
        tab.click(f'button[aria-label="Remove {boxes[0]["label"]}"]')
        wait_for(lambda: len(widgets(tab)) == len(boxes) - 1, 10, "the widget was not removed")
        tab.click("#undo")
        wait_for(lambda: widgets(tab) == boxes, 10, "undo did not bring the widget back")
        tab.click("#save")
        wait_explained(lambda: tab.inner_text("#save-status") == "Saved.", 15,
                       lambda: f"not saved: {tab.inner_text('#save-status')} {tab.inner_text('#board-problems')}")


def test_two_editors_conflicting_saves_are_caught(browser, stack, editors):
    queue = stack["simulator"].catalog()["objects"]["Queue"][0]
    with new_context(browser, 1366, 768) as first, new_context(browser, 1366, 768) as second:
        anna = first.new_page()
        slug = new_board(anna, stack, editors[0], "Shared floor")
        ben = second.new_page()
        # Anna's board is shared with nobody: she hands it over by sharing it with Ben's group.
        manage(stack["server"].env, "shell", "-c",
               "from django.contrib.auth.models import Group, User; from dashboard.models import Dashboard; "
               "g, _ = Group.objects.get_or_create(name='floor'); "
               f"User.objects.get(username={editors[1]!r}).groups.add(g); "
               f"Dashboard.objects.get(slug={slug!r}).groups.add(g)")
        anna.reload()
        wait_for(lambda: anna.evaluate("() => document.getElementById('editor')?.dataset.ready === 'true'"), 15,
                 "the editor never restarted")
        open_editor(ben, stack, editors[1], f"/edit/{slug}/")

        for tab, name in ((anna, "CallsWaiting"), (ben, "CallsAbandoned")):
            pick(tab, queue, queue, name, name)
            tab.click("#add-widget")
            wait_for(lambda tab=tab: len(widgets(tab)) == 1, 10, "the widget was not added")
        anna.click("#save")
        wait_for(lambda: anna.inner_text("#save-status") == "Saved.", 15, "Anna's save failed")
        ben.click("#save")
        wait_for(lambda: ben.locator("#conflict").is_visible(), 15, "Ben's conflicting save was not caught")
        assert "Someone else changed “Shared floor” after you opened it" in ben.inner_text("#conflict")
        ben.evaluate("() => window.scrollTo(0, 0)")
        readme_screenshot(ben, "editor-conflict.png")
        assert [w["label"] for w in widgets(ben)] == [widgets(ben)[0]["label"]], "Ben's work was dropped"

        # Anna's widget is still what is stored; Ben may knowingly save over it.
        anna.reload()
        wait_for(lambda: anna.evaluate("() => document.getElementById('editor')?.dataset.ready === 'true'"), 15,
                 "the editor never restarted")
        assert [w["label"] for w in widgets(anna)] != [w["label"] for w in widgets(ben)]
        ben.click("#conflict button")
        wait_for(lambda: ben.inner_text("#save-status") == "Saved.", 15, "saving over theirs failed")


def test_on_a_phone_the_editor_says_it_needs_a_wider_screen(browser, stack, editors):
    with new_context(browser, 390, 844) as context:
        tab = context.new_page()
        login(tab, stack["server"].base, editors[0], PASSWORD, "/edit/")
        assert tab.locator(".narrow-note").is_visible()
        assert not tab.locator(".editor-create").is_visible()
        slug = tab.locator(".editor-boards tbody tr").first.get_attribute("data-slug")
        tab.goto(f"{stack['server'].base}/edit/{slug}/")
        assert "needs a screen at least 1024 pixels wide" in tab.inner_text(".narrow-note")
        assert not tab.locator("#editor").is_visible()
        readme_screenshot(tab, "editor-phone.png")
        tab.click(".narrow-note a")
        tab.wait_for_url(f"{stack['server'].base}/d/{slug}/")
