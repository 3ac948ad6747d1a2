"""The product in a real browser: live values, outages, restarts, walls, thresholds, access."""

import datetime as dt
import re
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.seeding import demo_names
from statsbridge.decoding import agent_state_name
from tests.browser.conftest import ARTIFACTS, BANNER, WALL_SECONDS, evaluate_settled, login, own_tab, readme_screenshot, wait_for

pytestmark = pytest.mark.browser

# Null-safe while a reloaded document is still being parsed (no body yet).
NIGHT = "() => document.body ? document.body.dataset.night : null"

ROOT = Path(__file__).resolve().parents[2]
TILES = """() => [...document.querySelectorAll('[data-statistic]')].map((t) => ({
  key: t.dataset.statistic, value: t.dataset.value, state: t.dataset.state, threshold: t.dataset.threshold,
  asOf: t.dataset.asOf, label: t.getAttribute('aria-label'),
}))"""


def tiles(tab) -> list[dict]:
    return tab.evaluate(TILES)


def all_in_state(tab, state: str):
    found = tiles(tab)
    return found if found and all(t["state"] == state for t in found) else None


def open_dashboard(page, stack, slug: str):
    login(page, stack["server"].base, stack["username"], stack["password"], f"/d/{slug}/")
    wait_for(lambda: page.evaluate(BANNER) == "live", 20, "the banner never said live")
    wait_for(lambda: all_in_state(page, "fresh"), 20, f"not every tile of {slug} turned fresh")


def test_a_login_is_required_for_dashboards(page, stack):
    base = stack["server"].base
    page.goto(f"{base}/d/overview/")
    assert page.url.startswith(f"{base}/accounts/login/")
    page.fill("#id_username", stack["username"])
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    assert "did not match" in page.inner_text("[role=alert]")
    login(page, base, stack["username"], stack["password"], "/d/overview/")
    assert page.inner_text("h1") == "Contact-centre overview"


def test_the_dashboard_loads_and_values_change_live(page, stack):
    open_dashboard(page, stack, "agents")
    first = {t["key"]: (t["value"], t["asOf"]) for t in tiles(page)}
    navigations = page.evaluate("() => performance.getEntriesByType('navigation').length")
    changed = wait_for(
        lambda: [t for t in tiles(page) if t["value"] and t["value"] != first[t["key"]][0]],
        10, "no tile value changed without a reload")
    assert changed[0]["asOf"] != first[changed[0]["key"]][1]
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == navigations
    assert page.locator(".tile-age").first.inner_text().startswith("unchanged for ")
    clock = page.locator(".agent .agent-time").first
    shown = clock.inner_text()
    assert re.fullmatch(r"\d+:\d\d", shown), shown
    wait_for(lambda: clock.inner_text() != shown, 10, "time in state did not tick")
    assert page.page_errors == []


def test_unavailable_makes_every_tile_stale_within_2s_and_available_restores_the_truth(page, stack):
    simulator = stack["simulator"]
    open_dashboard(page, stack, "overview")
    started = time.monotonic()
    simulator.service("UNAVAILABLE")
    try:
        wait_for(lambda: all_in_state(page, "stale"), 2.0, "not every tile was STALE within 2 s of UNAVAILABLE")
        stale_after = time.monotonic() - started
        assert page.evaluate(BANNER) == "upstream down"
        assert page.locator(".tile .state-word.stale").first.is_visible()
        assert all(t["label"].endswith(", stale") for t in tiles(page))
    finally:
        recovered_at = time.monotonic()
        simulator.service("AVAILABLE")
    wait_for(lambda: all_in_state(page, "fresh"), 2.0, "tiles did not turn fresh within 2 s of AVAILABLE")
    print(f"stale after {stale_after:.2f} s; fresh again after {time.monotonic() - recovered_at:.2f} s")

    # Values equal the simulator's truth: whenever the page and the simulator show the
    # same reading (same Stat Server timestamp) the numbers must agree, and every tile
    # must get there.
    confirmed: set[str] = set()

    def compare():
        shown = {t["key"]: t for t in tiles(page)}
        truth = simulator.values()
        for key, tile in shown.items():
            item = truth.get(key)
            assert item is not None, f"{key} is shown but not subscribed in the simulator"
            if str(item["timestamp"]) != tile["asOf"]:
                continue  # the value moved between the two reads; look again
            assert float(tile["value"]) == float(item["value"]["value"]), f"{key}: page {tile['value']} != truth {item['value']}"
            confirmed.add(key)
        return confirmed == set(shown)

    wait_for(compare, 10, "not every tile matched the simulator's truth", interval=0.2)


def test_memory_and_dom_stay_flat_under_a_stream_of_updates(page, stack):
    simulator = stack["simulator"]
    open_dashboard(page, stack, "overview")
    measure = """() => { gc(); return {heap: performance.memory.usedJSHeapSize, nodes: document.getElementsByTagName('*').length,
        points: [...document.querySelectorAll('.js-plotly-plot')]
          .reduce((n, el) => n + el.data.reduce((m, t) => m + (t.x ? t.x.length : 0), 0), 0)}; }"""
    simulator.load(400)
    try:
        page.wait_for_timeout(3000)  # warm-up: caches, JIT, first redraws (a measured window, not a wait for a condition)
        before = page.evaluate(measure)
        followed = page.evaluate("() => window.dashboardPage.link.seqs.size")
        page.wait_for_timeout(12000)
        after = page.evaluate(measure)
    finally:
        simulator.load(0)
    growth = (after["heap"] - before["heap"]) / 1048576
    print(f"heap {before['heap'] / 1048576:.1f} → {after['heap'] / 1048576:.1f} MB, nodes {before['nodes']} → {after['nodes']}, "
          f"plotted points {before['points']} → {after['points']}")
    assert followed == 1, "the page should follow exactly its one dashboard"
    assert growth < 2.0, f"the heap grew by {growth:.1f} MB in 12 s of updates"
    assert after["nodes"] <= before["nodes"] + 50, "the DOM keeps growing"


def test_a_wall_survives_a_server_kill_and_restart_without_reloading(page, stack):
    server = stack["server"]
    page.goto(server.base + stack["wall_path"])
    wait_for(lambda: page.evaluate(BANNER) == "live", 10, "the wall never went live")
    page.evaluate("() => { window.sameDocument = 'yes'; }")
    killed = time.monotonic()
    server.kill()
    try:
        wait_for(lambda: all_in_state(page, "stale"), 2.0, "the wall's tiles were not STALE within 2 s of the kill")
        assert page.evaluate(BANNER) == "reconnecting"
        print(f"stale {time.monotonic() - killed:.2f} s after the kill")
    finally:
        server.start()
    wait_for(lambda: page.evaluate(BANNER) == "live" and all_in_state(page, "fresh"), 20,
             "the wall did not come back live after the restart")
    assert page.evaluate("() => window.sameDocument") == "yes", "the wall reloaded"
    assert page.page_errors == []


def test_the_wall_rotates_through_its_playlist_with_big_fonts_and_no_cursor(page, stack):
    page.goto(stack["server"].base + stack["wall_path"])
    wait_for(lambda: page.evaluate("() => document.body.dataset.board") == "overview", 20, "the wall did not start on overview")
    assert page.evaluate("() => getComputedStyle(document.body).cursor") == "none"
    kpi = float(page.evaluate("() => getComputedStyle(document.querySelector('.widget.kpi .tile-value')).fontSize")[:-2])
    assert kpi >= 64, f"KPI numbers are {kpi}px on a wall"
    assert page.locator(".board-wrap[data-dashboard=overview] .qr svg").is_visible()
    wait_for(lambda: page.evaluate("() => document.body.dataset.board") == "queues", WALL_SECONDS + 3,
             "the wall did not rotate to the next dashboard")
    assert page.locator(".board-wrap[data-dashboard=queues]").is_visible()
    assert page.locator(".board-wrap[data-dashboard=overview]").is_hidden()
    wait_for(lambda: page.evaluate("() => document.body.dataset.board") == "overview", WALL_SECONDS + 3,
             "the wall did not come back to the first dashboard")


WALL_LAYOUT = """() => {
  const box = (el) => el.getBoundingClientRect();
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const board = document.querySelector('.board-wrap[data-dashboard="overview"]');
  if (board.hidden) return null;  // the wall rotated away; boxes of hidden elements are empty
  const titles = [...board.querySelectorAll('.widget h2')].map((h) => ({
    text: h.textContent, title: h.title, lines: Math.round(h.clientHeight / parseFloat(getComputedStyle(h).lineHeight)),
    cut: h.scrollHeight > h.clientHeight + 1 }));
  const line = board.querySelector('.widget.line');
  const legend = box(line.querySelector('g.legend'));
  const ticks = [...line.querySelectorAll('g.xtick text')].map(box);
  const figures = [...board.querySelectorAll('.widget .figure')].map((f) => ({
    widget: f.closest('.widget').id, figure: box(f), svg: box(f.querySelector('svg.main-svg')) }));
  const rect = (el) => {
    const b = box(el);
    return { left: b.left, right: b.right, top: b.top, bottom: b.bottom, height: b.height };
  };
  const donut = board.querySelector('.widget.donut');
  const donutFigure = donut.querySelector('.figure');
  const gauge = board.querySelector('.widget.gauge');
  // What the gauge drew (arc, ticks, labels), not its SVG canvas: Plotly draws labels outside the domain.
  const drawn = [...gauge.querySelectorAll('.figure svg path, .figure svg text')].map(box).filter((b) => b.width && b.height);
  return { titles, legendOverTicks: ticks.some((t) => overlap(legend, t)), ticks: ticks.length,
    spills: figures.filter((f) => f.svg.bottom > f.figure.bottom + 1 || f.svg.right > f.figure.right + 1).map((f) => f.widget),
    unsized: figures.filter((f) => Math.abs(f.svg.width - f.figure.width) > 1 || Math.abs(f.svg.height - f.figure.height) > 1)
      .map((f) => f.widget),
    donut: { widget: rect(donut), pie: rect(donutFigure.querySelector('g.pielayer')),
      legend: [...donut.querySelectorAll('g.legend g.traces')].map((g) => g.textContent),
      sliceColors: donutFigure.data[0].marker.colors, sliceLabels: donutFigure.data[0].labels,
      tiles: [...donut.querySelectorAll('.tile')].map((t) => ({ box: rect(t), label: t.querySelector('.tile-label').textContent,
        swatch: getComputedStyle(t).borderLeftColor, aria: t.getAttribute('aria-label') })) },
    gauge: { widget: rect(gauge), figure: rect(gauge.querySelector('.figure')), drawn: {
      left: Math.min(...drawn.map((b) => b.left)), right: Math.max(...drawn.map((b) => b.right)),
      top: Math.min(...drawn.map((b) => b.top)), bottom: Math.max(...drawn.map((b) => b.bottom)) },
      labels: [...gauge.querySelectorAll('.figure svg text')].map((t) => t.textContent).filter(Boolean) } };
}"""


def rgb(hex_color: str) -> str:
    """A #rrggbb colour as getComputedStyle spells it."""
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def inside(inner: dict, outer: dict) -> bool:
    """True when box ``inner`` lies within box ``outer`` (half a pixel of rounding allowed)."""
    return (inner["left"] >= outer["left"] - 0.5 and inner["right"] <= outer["right"] + 0.5
            and inner["top"] >= outer["top"] - 0.5 and inner["bottom"] <= outer["bottom"] + 0.5)


def settled_layout(page) -> dict:
    """The overview's layout once every figure has its box's size (they follow the boxes as
    the live tiles fill in and the window changes); the wall rotates every few seconds."""
    return wait_for(lambda: (lambda got: got if got and not got["spills"] and not got["unsized"] else None)(
        page.evaluate(WALL_LAYOUT)), 2 * WALL_SECONDS + 5, "a figure of the overview spills out of its box or never fits it")


def assert_donut_and_gauge_readable(layout: dict, min_donut: int, size: str) -> None:
    """The donut is big enough to read across a floor and names every state on sight (by its
    tile, whose swatch is its slice's colour, so no legend); the gauge is drawn whole in its box."""
    donut = layout["donut"]
    assert donut["pie"]["height"] >= min_donut, f"the donut is {donut['pie']['height']:.0f} px tall at {size}"
    assert inside(donut["pie"], donut["widget"])
    assert len(donut["tiles"]) == len(donut["sliceLabels"]) == 4, donut
    assert donut["legend"] == [], "a legend repeats what the tiles say"
    for tile, color in zip(donut["tiles"], donut["sliceColors"], strict=True):
        assert inside(tile["box"], donut["widget"]), f"the tile {tile['label']!r} is cut off at {size}: {tile['box']}"
        assert tile["swatch"] == rgb(color), f"the tile {tile['label']!r} is not in its slice's colour {color}"
    assert [t["label"] for t in donut["tiles"]] == ["Ready", "Talking", "After-call work", "Not ready"]
    assert donut["tiles"][2]["aria"].startswith("Sales team after-call work"), "the short name lost the full one"
    gauge = layout["gauge"]
    assert inside(gauge["figure"], gauge["widget"])
    assert inside(gauge["drawn"], gauge["figure"]), f"the gauge {gauge['drawn']} is cut off by {gauge['figure']} at {size}"
    assert "0" in gauge["labels"], gauge["labels"]


def test_wall_titles_wrap_and_figures_stay_in_their_boxes(page, stack):
    """Before the revoke test below: it needs the wall's token."""
    page.goto(stack["server"].base + stack["wall_path"])
    wait_for(lambda: page.evaluate(BANNER) == "live" and all_in_state(page, "fresh"), 20, "the wall never went live")
    layout = settled_layout(page)
    assert layout["ticks"] > 0
    assert not layout["legendOverTicks"], "the line chart's legend covers its time axis"
    for title in layout["titles"]:
        assert title["title"] == title["text"], "the full title is not in the title attribute"
        assert 1 <= title["lines"] <= 2, title
        assert not title["cut"], f"the title {title['text']!r} is cut off"
    assert max(t["lines"] for t in layout["titles"]) == 2, "no demo title needed a second line at 1600 px"
    assert_donut_and_gauge_readable(layout, 120, "1600x900")
    ARTIFACTS.mkdir(exist_ok=True)
    overview = page.locator(".board-wrap[data-dashboard=overview]")
    overview.locator(".widget.line").screenshot(path=str(ARTIFACTS / "wall-line-legend.png"))
    overview.locator(".widget.donut").screenshot(path=str(ARTIFACTS / "wall-donut.png"))
    overview.locator(".widget.gauge").screenshot(path=str(ARTIFACTS / "wall-gauge.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    try:
        assert_donut_and_gauge_readable(settled_layout(page), 160, "1920x1080")
        overview.locator(".widget.donut").screenshot(path=str(ARTIFACTS / "wall-donut-1080p.png"))
    finally:
        page.set_viewport_size({"width": 1600, "height": 900})
    assert page.page_errors == []


CUES = """(widget) => [...document.querySelectorAll(`${widget} [data-statistic]`)].map((t) => ({
  threshold: t.dataset.threshold, value: t.dataset.value, aria: t.getAttribute('aria-label'),
  cue: t.querySelector('.cue-text').innerText, icon: t.querySelector('.cue-icon').innerText,
  color: getComputedStyle(t.querySelector('.tile-value')).color,
}))"""


def test_a_threshold_crossing_shows_colour_and_text(page, stack):
    base = stack["server"].base
    open_dashboard(page, stack, "agents")
    widget = page.locator(".widget.bar", has_text="Time in current state")
    widget_id = widget.get_attribute("id").removeprefix("w-")
    keys = widget.evaluate("(w) => [...w.querySelectorAll('[data-statistic]')].map((t) => t.dataset.statistic)")
    highest = max(float(t["value"]) for t in tiles(page) if t["key"] in keys)
    line = highest + 6  # seconds in state only grow until the agent changes state
    page.goto(f"{base}/admin/dashboard/widget/{widget_id}/change/")
    page.fill("#id_warning", str(line))
    page.fill("#id_critical", str(line + 100_000))
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    page.goto(f"{base}/d/agents/")
    wait_for(lambda: all_in_state(page, "fresh"), 20, "tiles did not turn fresh")
    # One read of the crossing tile: a live update (the agent changing state) may reset it
    # between separate reads.
    crossing = wait_for(
        lambda: next((t for t in page.evaluate(CUES, f"#w-{widget_id}") if t["threshold"] == "warning"), None),
        20, f"no agent's time in state crossed {line} s")
    assert crossing["cue"] == "HIGH" and crossing["icon"] == "▲", crossing
    assert ", HIGH" in crossing["aria"], crossing
    assert crossing["color"] == "rgb(230, 159, 0)", crossing
    assert float(crossing["value"]) >= line, crossing


def test_the_fleet_console_shows_the_wall_and_reload_now_reaches_it(page, browser, stack):
    base = stack["server"].base
    with own_tab(browser) as wall:
        wall.goto(base + stack["wall_path"])
        wait_for(lambda: evaluate_settled(wall, BANNER) == "live", 10, "the wall never went live")
        wall.evaluate("() => { window.sameDocument = 'yes'; }")
        login(page, base, stack["username"], stack["password"], "/admin/dashboard/display/fleet/")

        def reported():
            page.reload()
            row = page.locator("#fleet tbody tr").first
            return row if row.get_attribute("data-online") == "true" and "ms" in row.inner_text() else None

        row = wait_for(reported, 30, "the wall's telemetry never reached the fleet console", interval=0.5)
        text = row.inner_text()
        assert "Floor wall (demo)" in text and "● online" in text and "MB" in text and "outdated" not in text
        row.locator("input[type=submit][value='Reload now']").click()
        expect(page.locator(".messagelist")).to_contain_text("Asked “Floor wall (demo)” to reload")
        wait_for(lambda: evaluate_settled(wall, "() => window.sameDocument === undefined"), 10, "the wall did not reload")
        wait_for(lambda: evaluate_settled(wall, BANNER) == "live", 10, "the wall did not come back live after reloading")


def test_a_night_schedule_set_in_the_admin_dims_the_open_wall(page, browser, stack):
    base = stack["server"].base
    try:
        with own_tab(browser) as wall:
            wall.goto(base + stack["wall_path"])
            wait_for(lambda: evaluate_settled(wall, BANNER) == "live", 10, "the wall never went live")
            assert wall.evaluate("() => document.body.dataset.night") == ""
            now = dt.datetime.now(dt.UTC)  # the demo dashboards' time zone
            login(page, base, stack["username"], stack["password"], "/admin/dashboard/display/")
            page.click("text=Floor wall (demo)")
            page.fill("#id_night_start", (now - dt.timedelta(hours=1)).strftime("%H:%M"))
            page.fill("#id_night_end", (now + dt.timedelta(hours=1)).strftime("%H:%M"))
            page.select_option("#id_night_mode", "dim")
            page.click("input[name=_save]")
            expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
            # Saving reloads the open wall; its new document dims once its schedule check has run.
            wait_for(lambda: evaluate_settled(wall, NIGHT) == "dim", 10, "the open wall did not dim for its night schedule")
            assert wall.evaluate("() => getComputedStyle(document.querySelector('main')).filter") == "brightness(0.3)"
            wall.screenshot(path=str(ARTIFACTS / "wall-night-dimmed.png"))
    finally:
        page.goto(f"{base}/admin/dashboard/display/")
        page.click("text=Floor wall (demo)")
        page.fill("#id_night_start", "")
        page.fill("#id_night_end", "")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")


def test_the_widget_form_previews_the_cost_before_saving(page, stack):
    base = stack["server"].base
    login(page, base, stack["username"], stack["password"], "/admin/dashboard/widget/add/")
    summary = page.locator("#cost-preview .summary")
    expect(summary).to_have_text("Adds no upstream statistic.")
    options = page.locator("select[name='widgetstatistic_set-0-statistic'] option")
    labels = options.all_inner_texts()
    used = next(label for label in labels if label == "Sales waiting")
    page.select_option("select[name='widgetstatistic_set-0-statistic']", label=used)
    expect(summary).to_have_text("Adds no upstream statistic; reuses 1 already subscribed.")
    expect(page.locator("#cost-preview .details")).to_have_text("Reused: Sales waiting.")
    assert page.page_errors == []


def test_the_ops_page_shows_the_bridge_and_resubscribe_all_reaches_it(page, stack):
    base = stack["server"].base
    login(page, base, stack["username"], stack["password"], "/ops/")
    assert page.inner_text("[data-field=service]") == "AVAILABLE"
    assert page.inner_text("[data-field=upstream]") == "connected"
    held = int(page.inner_text("[data-field=statistics]"))
    assert held == int(page.inner_text("[data-field=wanted]")) > 0
    assert page.locator("#ops-subscription-list tbody tr").count() >= 1
    page.click("button[value=resubscribe]")
    expect(page.locator(".messages")).to_contain_text("re-create every subscription")

    def resubscribed_by_operator():
        page.goto(f"{base}/ops/")
        return "operator request" in page.inner_text("#ops-subscriptions")

    wait_for(resubscribed_by_operator, 20, "the bridge did not report an operator resubscribe", interval=0.3)
    page.locator("#ops-statistics tr", has_text="Sales waiting").locator("button[value=peek]").click()
    expect(page.locator(".messages")).to_contain_text("Peek of “Sales waiting”:")


def test_a_revoked_wall_token_is_refused_and_its_socket_closed(page, browser, stack):
    base = stack["server"].base
    with own_tab(browser) as wall:
        wall.goto(base + stack["wall_path"])
        wait_for(lambda: evaluate_settled(wall, BANNER) == "live", 10, "the wall never went live")
        login(page, base, stack["username"], stack["password"], "/admin/dashboard/display/")
        page.check("input[name=_selected_action]")
        page.select_option("select[name=action]", "revoke")
        page.click("button[name=index]")
        expect(page.locator(".messagelist")).to_contain_text("Revoked 1 wall link")
        wait_for(lambda: evaluate_settled(wall, BANNER) == "refused", 15, "the wall's socket was not closed on revoke")
        with urllib.request.urlopen(base + "/healthz") as reply:
            assert reply.status == 200
        response = wall.goto(base + stack["wall_path"])
        assert response.status == 403
        assert re.search("not valid", wall.inner_text("main h1"))


AGENT_TILES = """() => [...document.querySelectorAll('.widget.agent_grid [data-statistic]')].map((t) => ({
  key: t.dataset.statistic, agent: t.querySelector('.tile-label').textContent, state: t.dataset.state,
  agentState: t.dataset.agentState, asOf: t.dataset.asOf,
}))"""


def test_a_group_tile_drills_down_by_keyboard_to_that_groups_agents_live(page, stack):
    base, simulator = stack["server"].base, stack["simulator"]
    catalog = simulator.catalog()
    members = catalog["groups"]["Sales"]
    aliases = demo_names(catalog["objects"])  # agents are shown by their display names
    open_dashboard(page, stack, "overview")
    link = page.locator("a.drill-tile", has_text="Sales team logged in")
    assert link.get_attribute("href") == "/d/agents-sales/"
    assert link.get_attribute("aria-label").startswith("Sales team logged in (opens Sales agents): ")
    # Reach the tile with the keyboard alone, then follow it with Enter.
    focused = "() => document.activeElement && document.activeElement.getAttribute('href')"
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "/d/agents-sales/":
            break
    assert page.evaluate(focused) == "/d/agents-sales/", "Tab never reached the Sales logged-in tile"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/d/agents-sales/")
    assert page.inner_text("h1") == "Sales agents"
    wait_for(lambda: page.evaluate(BANNER) == "live", 20, "the drill-down's banner never said live")
    wait_for(lambda: all_in_state(page, "fresh"), 20, "not every agent of the drill-down turned fresh")
    assert [t["agent"] for t in page.evaluate(AGENT_TILES)] == [aliases[("Agent", m)] for m in members]

    # Each agent's state equals the simulator's truth whenever both show the same reading.
    confirmed: set[str] = set()

    def compare():
        truth = simulator.values()
        shown = page.evaluate(AGENT_TILES)
        for tile in shown:
            item = truth.get(tile["key"])
            assert item is not None, f"{tile['agent']} is shown but not subscribed in the simulator"
            if str(item["timestamp"]) != tile["asOf"]:
                continue  # the state moved between the two reads; look again
            expected = agent_state_name(item["value"]["status"])
            assert tile["agentState"] == expected, f"{tile['agent']}: page {tile['agentState']} != truth {expected}"
            confirmed.add(tile["key"])
        return confirmed == {t["key"] for t in shown}

    wait_for(compare, 10, "not every agent's state matched the simulator's truth", interval=0.2)
    assert page.page_errors == []


BANNER_TEXT = "() => document.querySelector('#connection-banner .banner-text').textContent"


def test_blocked_notifications_show_polling_with_fresh_tiles_then_live_again(page, stack):
    simulator = stack["simulator"]
    open_dashboard(page, stack, "overview")
    simulator.block_notifications()
    try:
        wait_for(lambda: page.evaluate(BANNER) == "polling", 20, "the banner never said POLLING")
        assert page.evaluate(BANNER_TEXT) == "POLLING · every 1 s"
        wait_for(lambda: all_in_state(page, "fresh"), 15, "tiles did not turn fresh while polling")
        before = {t["key"]: t["asOf"] for t in tiles(page)}
        moved = wait_for(lambda: [t for t in tiles(page) if t["state"] == "fresh" and t["asOf"] != before[t["key"]]],
                         10, "no polled tile moved on")
        assert moved and page.evaluate(BANNER) == "polling"
        readme_screenshot(page, "polling.png")
    finally:
        simulator.clear_faults()
    wait_for(lambda: page.evaluate(BANNER) == "live", 45, "the banner never said live again")
    wait_for(lambda: all_in_state(page, "fresh"), 10, "tiles not fresh after streaming again")
    assert page.page_errors == []
