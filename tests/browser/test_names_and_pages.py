"""Names people read and pages that never dead-end, in Debian's Chromium on the real stack.

Display names instead of ids on every board, one wording of agent states, queue-table
cells cued by their column's thresholds (with the JS's hysteresis), 403/404 pages with a
way back, signing out to the product's own page, and a demo re-seed that keeps the wall
link so an open wall reconnects by itself.
"""

import json
import re

import pytest

from dashboard import names, thresholds
from dashboard.seeding import STATISTIC_NAMES, demo_names
from tests.browser.conftest import BANNER, CONTROL_KEY, WALL_SECONDS, login, manage, wait_for

pytestmark = pytest.mark.browser

STATE_LABELS = sorted(s["label"] for s in names.AGENT_STATES.values())
VISITOR, VISITOR_PASSWORD = "visitor", "visitor-password-31"


def fresh_everywhere(page):
    tiles = page.evaluate("() => [...document.querySelectorAll('[data-statistic]')].map((t) => t.dataset.state)")
    return bool(tiles) and all(state == "fresh" for state in tiles)


def open_live(page, stack, slug: str) -> None:
    login(page, stack["server"].base, stack["username"], stack["password"], f"/d/{slug}/")
    wait_for(lambda: page.evaluate(BANNER) == "live" and fresh_everywhere(page), 20, f"{slug} never went live")


@pytest.fixture(scope="module")
def visitor(stack):
    """A signed-up user with no dashboard shared."""
    manage(stack["server"].env, "shell", "-c",
           f"from django.contrib.auth.models import User; User.objects.create_user({VISITOR!r}, password={VISITOR_PASSWORD!r})")
    return VISITOR


def test_boards_show_display_names_and_one_wording_of_agent_states(page, stack):
    aliases = demo_names(stack["simulator"].catalog()["objects"])
    open_live(page, stack, "queues")
    headers = page.locator("table.queues thead th").all_inner_texts()
    columns = ("CallsWaiting", "LongestWaitTime", "ServiceLevel", "CallsAbandoned")
    assert headers == ["Queue", *(STATISTIC_NAMES[n] for n in columns)]
    rows = page.locator("table.queues tbody th").all_inner_texts()
    assert rows and all(not row.startswith("VQ_") for row in rows), rows
    assert rows == [aliases[("Queue", q)] for q in stack["simulator"].catalog()["objects"]["Queue"]]
    bar = page.locator(".widget.bar", has_text="Abandoned per queue")
    ticks = bar.evaluate("(w) => w.querySelector('.figure').data[0].x")
    assert ticks == rows, "the bar chart's axis does not use the queues' display names"

    open_live(page, stack, "agents")
    shown = page.locator(".widget.agent_grid .tile-label").all_inner_texts()
    assert shown and not [a for a in shown if re.fullmatch(r"agent\d+", a)], shown
    assert set(shown) <= set(aliases.values())

    def worded():
        """Every agent tile, the donut's slices and legend, as the page draws them after live updates."""
        return page.evaluate("""() => ({
          tiles: [...document.querySelectorAll('.widget.agent_grid .tile-value')].map((e) => e.textContent),
          raw: [...document.querySelectorAll('.widget.agent_grid [data-agent-state]')].map((e) => e.dataset.agentState),
          slices: document.querySelector('.widget.donut .figure').data[0].labels })""")

    seen = wait_for(lambda: (lambda got: got if set(got["raw"]) - {"Ready", "Talking"} else None)(worded()), 20,
                    "no agent left Ready/Talking while watched")
    assert set(seen["tiles"]) <= set(STATE_LABELS), f"a state is worded outside the one table: {seen['tiles']}"
    assert set(seen["slices"]) <= set(STATE_LABELS), f"the donut words a state differently: {seen['slices']}"
    for raw, text in zip(seen["raw"], seen["tiles"], strict=True):
        assert text == names.agent_state_label(raw)
    assert page.page_errors == []


# The page's own renderer, given values for a queue-table cell one after another, read back
# after each: what the floor sees as that cell's statistic moves. One synchronous run, so no
# live update can slip in between and change the level the hysteresis starts from.
SET_CELL = """([key, sequence]) => {
  const page = window.dashboardPage;
  const cell = document.querySelector(`table.queues td[data-statistic="${key}"]`);
  return sequence.map((value) => {
    const now = Date.now();
    page.store.values.set(key, { kind: "number", value, text: "", state: "fresh", timestamp: now, received: now });
    page.store.pending.add(key);
    page.flush();
    const style = getComputedStyle(cell);
    return { threshold: cell.dataset.threshold, cue: cell.querySelector('.cue-text').textContent,
             border: style.borderLeftColor, background: style.backgroundColor, aria: cell.getAttribute('aria-label') };
  });
}"""


def test_queue_table_cells_carry_their_columns_threshold_cues_with_hysteresis(page, stack):
    open_live(page, stack, "queues")
    config = json.loads(page.inner_text("#dash-config"))
    table = next(w for w in config["widgets"] if w["type"] == "queue_table")
    cells = page.evaluate("() => [...document.querySelectorAll('table.queues td.tile')].map((c) => c.dataset.threshold)")
    assert cells and all(level in ("ok", "warning", "critical") for level in cells), f"a cell has no level: {cells}"

    waiting = next(s for s in table["statistics"] if s["name"] == "CallsWaiting")
    limits = waiting["thresholds"]
    assert (limits["warning"], limits["critical"], limits["hysteresis"]) == (3, 6, 1)
    # Up past critical, then back down through the hysteresis band: the same levels as thresholds.level.
    sequence = [7, 5.5, 5, 4.9, 2.5, 1.9]
    shown = page.evaluate(SET_CELL, [waiting["key"], sequence])
    previous = "none"
    for value, got in zip(sequence, shown, strict=True):
        expected = thresholds.level(value, 3, 6, "above", 1, previous)
        assert got["threshold"] == expected, f"{value}: the cell says {got['threshold']}, the rules say {expected}"
        previous = expected
        color = thresholds.PALETTE[expected]
        rgb = "rgb({}, {}, {})".format(*(int(color[i:i + 2], 16) for i in (1, 3, 5)))
        assert got["border"] == rgb, f"{value}: border {got['border']} is not the {expected} colour"
        if expected == "critical":
            assert got["cue"] == "CRITICAL HIGH" and got["aria"].endswith(", CRITICAL HIGH")
            assert got["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), "a critical cell has no tint"
        elif expected == "ok":
            assert got["cue"] == "" and got["background"] == "rgba(0, 0, 0, 0)"
    assert [g["threshold"] for g in shown] == ["critical", "critical", "critical", "warning", "warning", "ok"]
    level = next(s for s in table["statistics"] if s["name"] == "ServiceLevel")
    (low,) = page.evaluate(SET_CELL, [level["key"], [50]])
    assert low["threshold"] == "critical" and low["cue"] == "CRITICAL LOW", "lower-is-worse column cued as high"
    assert page.page_errors == []


def test_403_and_404_pages_lead_back_and_a_qr_scan_without_access_lands_somewhere_useful(page, stack, visitor):
    base = stack["server"].base
    # A phone scans a wall's QR code for a group's agents, signs in, and has no access to that board.
    page.goto(f"{base}/d/agents-sales/")
    assert page.url.startswith(f"{base}/accounts/login/")
    page.fill("#id_username", visitor)
    page.fill("#id_password", VISITOR_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/d/agents-sales/")
    assert page.inner_text("main h1") == "You may not open this page"
    assert "Ask your administrator" in page.inner_text("main")
    assert page.locator("link[rel=stylesheet][href*='dashboard.css']").count() == 1
    page.click("text=Your dashboards")
    page.wait_for_url(f"{base}/")
    assert "No dashboard is shared with you yet" in page.inner_text("main")

    response = page.goto(f"{base}/d/no-such-board/")
    assert response.status == 404 and page.inner_text("main h1") == "There is no such page"
    page.click("text=Your dashboards")
    page.wait_for_url(f"{base}/")

    response = page.goto(f"{base}/wall/not-a-wall-token/")
    assert response.status == 403 and page.inner_text("main h1") == "This wall link is not valid"
    assert page.locator("main a[href='/']").count() == 1
    assert page.page_errors == []


def test_signing_out_lands_on_the_products_page_whose_login_works(page, stack):
    base = stack["server"].base
    login(page, base, stack["username"], stack["password"], "/")
    page.click("header.top button[type=submit]")  # "Log out demo"
    page.wait_for_url(f"{base}/accounts/logout/")
    assert page.inner_text("main h1") == "You are logged out"
    assert "quality time" not in page.content()
    page.click("text=Log in again")
    page.wait_for_url(re.compile(re.escape(f"{base}/accounts/login/")))
    page.fill("#id_username", stack["username"])
    page.fill("#id_password", stack["password"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator(".cards a[href='/d/overview/']").count() == 1, "the login did not land on the dashboards"


def test_seeding_the_demo_again_keeps_the_wall_link_and_an_open_wall_reconnects(page, stack):
    """Last in this module: it restarts the server."""
    server, simulator = stack["server"], stack["simulator"]
    page.goto(server.base + stack["wall_path"])
    wait_for(lambda: page.evaluate(BANNER) == "live" and fresh_everywhere(page), 20, "the wall never went live")
    page.evaluate("() => { window.sameDocument = 'yes'; }")
    server.stop()
    again = json.loads(manage(server.env, "seed_demo", "--simulator", simulator.url, "--control-key", CONTROL_KEY,
                              "--seconds", str(WALL_SECONDS)))
    assert again["wall_path"] == stack["wall_path"], "a re-seed changed the wall link"
    assert again["created"] == [], f"a re-seed re-created {again['created']}"
    server.start()
    wait_for(lambda: page.evaluate(BANNER) == "live" and fresh_everywhere(page), 25,
             "the open wall did not come back live after the demo restarted")
    assert page.evaluate("() => window.sameDocument") == "yes", "the wall reloaded instead of reconnecting"
    assert page.page_errors == []
