"""Screens for the real floor: walls on 768p, 1080p and 4K TVs, desk pages on a phone,
widgets that admit staleness, trends drawn as steps up to now (issue 14).

Sizes are measured as shares of the screen's height: a wall text must be at least 1.6 %
of it (legible across a room on any TV), a KPI's number at least 5 %.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, BANNER, evaluate_settled, login, new_context, own_tab, readme_screenshot, wait_for

pytestmark = pytest.mark.browser

WALLS = [(1366, 768), (1920, 1080), (3840, 2160)]
PHONE = (390, 844)
DESK_SLUGS = ("overview", "queues", "agents", "agents-sales")  # the last: a drill-down
MIN_WALL_TEXT = 0.016  # of the screen's height
MIN_KPI_NUMBER = 0.05
MIN_PHONE_TEXT_PX = 12
NEUTRAL = "#56657a"  # PALETTE.none: no threshold colour

# Every visible text of the page: its effective size (an SVG text's font size times its
# transform's scale), the widget it belongs to, and whatever cuts it off — an ancestor that
# clips its overflow (a widget, a cell, a chart's <svg>) without holding the whole text, or
# the edge of the screen. Texts out of sight (a hidden board, a visually-hidden tile list)
# are not counted.
MEASURE = """() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const within = (r, b) => r.left >= b.left - 1 && r.right <= b.right + 1 && r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
  // A wall must hold everything on its screen; a desk page may scroll down, never sideways.
  const wall = document.body.classList.contains("wall");
  const screen = { left: 0, top: wall ? 0 : -Infinity, right: innerWidth, bottom: wall ? innerHeight : Infinity };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rect = range.getBoundingClientRect();
    if (rect.width < 1 || rect.height < 1) continue;
    let hidden = false;
    const cutBy = [];
    for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.clip && style.clip !== "auto") { hidden = true; break; }  // visually hidden
      const clips = style.overflowX !== "visible" || style.overflowY !== "visible";
      if (clips && !within(rect, a.getBoundingClientRect())) {
        const classes = a.className && a.className.baseVal === undefined ? "." + String(a.className).split(" ").join(".") : "";
        cutBy.push(a.tagName.toLowerCase() + classes);
      }
    }
    if (hidden) continue;
    if (!within(rect, screen)) cutBy.push("screen");
    let size = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement) {
      const m = el.getScreenCTM();
      size *= Math.hypot(m.a, m.b);
    }
    const widget = el.closest("section.widget");
    texts.push({ text: text.slice(0, 40), size, widget: widget ? widget.id : el.tagName.toLowerCase(),
      type: widget ? widget.dataset.widgetType : null, chart: el instanceof SVGElement, cutBy });
  }
  const widgets = [...document.querySelectorAll("section.widget")].filter((w) => w.checkVisibility()).map((w) => {
    const box = w.getBoundingClientRect();
    const figure = w.querySelector(".figure");
    const svg = figure && figure.querySelector("svg.main-svg");
    const fb = figure && figure.getBoundingClientRect();
    const sb = svg && svg.getBoundingClientRect();
    return { id: w.id, type: w.dataset.widgetType, state: w.dataset.state, left: box.left, width: box.width,
      overflows: w.scrollHeight > w.clientHeight + 1 || w.scrollWidth > w.clientWidth + 1,
      figure: fb ? { width: fb.width, height: fb.height } : null,
      unsized: !!(fb && (!sb || Math.abs(sb.width - fb.width) > 1 || Math.abs(sb.height - fb.height) > 1)),
      font: figure && figure.layout ? figure.layout.font.size : null };
  });
  const kpi = [...document.querySelectorAll(".widget.kpi .tile-value")].filter((e) => e.checkVisibility())
    .map((e) => parseFloat(getComputedStyle(e).fontSize));
  const doc = document.documentElement;
  return { width: innerWidth, height: innerHeight, scrollHeight: doc.scrollHeight, scrollWidth: doc.scrollWidth,
    texts, widgets, kpi };
}"""

FIGURES = """() => [...document.querySelectorAll('section.widget')].filter((w) => w.checkVisibility()).map((w) => {
  const f = w.querySelector('.js-plotly-plot');
  return { id: w.id, type: w.dataset.widgetType, state: w.dataset.state,
    mark: getComputedStyle(w.querySelector('.stale-mark')).display !== 'none' && w.querySelector('.stale-mark').checkVisibility()
      ? w.querySelector('.stale-mark').innerText : '',
    word: [...w.querySelectorAll('.widget-state > span')].filter((s) => s.checkVisibility()).map((s) => s.innerText).join(),
    filter: f ? getComputedStyle(f.querySelector('.plot-container')).filter : null,
    traces: f ? f.data.map((t) => ({ shape: t.line && t.line.shape, x: t.x ? t.x.slice(-3) : null, y: t.y ? t.y.slice(-3) : null,
      colors: t.marker && Array.isArray(t.marker.color) ? t.marker.color : null, bar: t.gauge ? t.gauge.bar.color : null,
      line: t.line && t.line.color })) : [],
    shapes: f && f.layout.shapes ? f.layout.shapes.length : 0,
    // numbers and words of tiles that the STALE mark would hide (it belongs on the chart)
    covered: (() => {
      const mark = w.querySelector('.stale-mark');
      if (!mark.checkVisibility()) return [];
      const m = mark.getBoundingClientRect();
      // (tiles kept only for screen readers, .visually-hidden, are clipped away: not on screen)
      return [...w.querySelectorAll('.tile-value, .tile-label, .tile-age, .tile-unit')]
        .filter((e) => e.checkVisibility() && !e.closest('.visually-hidden'))
        .filter((e) => {
          const r = e.getBoundingClientRect();
          return r.width > 1 && r.left < m.right && m.left < r.right && r.top < m.bottom && m.top < r.bottom;
        })
        .map((e) => e.textContent);
    })() };
})"""


def settled(page, size: tuple) -> dict:
    """The page measured once every figure has its box's size and its text size for the screen."""
    def measured():
        got = page.evaluate(MEASURE)
        return got if not any(w["unsized"] for w in got["widgets"]) else None
    return wait_for(measured, 15, f"the figures never settled at {size}")


def smallest(texts: list[dict], count: int = 5) -> list[dict]:
    return sorted(texts, key=lambda t: t["size"])[:count]


def assert_nothing_cut(layout: dict, where: str) -> None:
    cut = [t for t in layout["texts"] if t["cutBy"]]
    assert not cut, f"texts cut off {where}: {cut[:8]}"
    spilling = [w["id"] for w in layout["widgets"] if w["overflows"]]
    assert not spilling, f"widgets whose content does not fit them {where}: {spilling}"


def show_board(page, slug: str) -> None:
    """Stop the wall's rotation and show one of its boards."""
    page.evaluate("""(slug) => { const wall = window.dashboardWall; clearInterval(wall.rotateTimer); wall.rotateTimer = 0;
      wall.show(wall.boards.findIndex((b) => b.dataset.dashboard === slug)); }""", slug)


@pytest.fixture
def wall(page, stack):
    page.goto(stack["server"].base + stack["wall_path"])
    wait_for(lambda: page.evaluate(BANNER) == "live", 10, "the wall never went live")
    wait_for(lambda: page.evaluate("() => window.dashboardWall && [...document.querySelectorAll('section.widget')]"
                                   ".every((w) => w.dataset.state === 'fresh')"), 10, "the wall's widgets never turned fresh")
    return page


@pytest.mark.parametrize("size", WALLS, ids=[f"{w}x{h}" for w, h in WALLS])
def test_a_wall_reads_from_across_the_room_fits_the_screen_and_cuts_nothing(wall, size):
    wall.set_viewport_size({"width": size[0], "height": size[1]})
    for slug in ("overview", "queues"):
        show_board(wall, slug)
        layout = settled(wall, size)
        where = f"on {slug} at {size[0]}x{size[1]}"
        height = layout["height"]
        assert len(layout["texts"]) > 20, f"too few texts measured {where}"
        low = [t for t in layout["texts"] if t["size"] < MIN_WALL_TEXT * height]
        assert not low, f"texts under 1.6 % of the screen's height ({MIN_WALL_TEXT * height:.1f} px) {where}: {smallest(low)}"
        charted = {t["type"] for t in layout["texts"] if t["chart"]}
        assert charted >= ({"bar", "line", "gauge", "donut"} if slug == "overview" else {"bar"}), \
            f"chart texts not measured {where}: only {charted}"
        assert layout["kpi"], f"no KPI tile {where}"
        assert min(layout["kpi"]) >= MIN_KPI_NUMBER * height, f"KPI numbers {layout['kpi']} px {where}"
        assert layout["scrollHeight"] <= height and layout["scrollWidth"] <= layout["width"], f"the wall scrolls {where}"
        assert_nothing_cut(layout, where)
        fonts = {w["font"] for w in layout["widgets"] if w["font"]}
        assert fonts and min(fonts) >= MIN_WALL_TEXT * height, f"chart fonts {fonts} {where}"
        if slug == "overview":
            assert wall.locator(".board-wrap:not([hidden]) .qr svg").count() == 1, "one QR code per board"
            assert wall.locator(".board-wrap:not([hidden]) .widget a svg").count() == 0, "a QR code on a tile"
        ARTIFACTS.mkdir(exist_ok=True)
        wall.screenshot(path=str(ARTIFACTS / f"screens-wall-{slug}-{size[0]}x{size[1]}.png"))
        if size == (1920, 1080) and slug == "overview":
            readme_screenshot(wall, "wall.png")
    assert wall.page_errors == []


def test_a_display_text_scale_from_the_admin_scales_the_wall(page, browser, stack):
    base = stack["server"].base

    def title_and_chart():
        # A wall of its own each time, closed before the admin saves (saving reloads open
        # walls, and a tab closed while its reload commits can hang: see conftest.new_context).
        with own_tab(browser, 1920, 1080) as tv:
            tv.goto(base + stack["wall_path"])
            wait_for(lambda: evaluate_settled(tv, BANNER) == "live", 10, "the wall never went live")
            show_board(tv, "overview")
            return wait_for(lambda: tv.evaluate("""() => {
                const f = document.querySelector('.board-wrap:not([hidden]) .widget.bar .figure');
                const svg = f && f.querySelector('svg.main-svg');
                return svg && Math.abs(svg.getBoundingClientRect().width - f.getBoundingClientRect().width) <= 1
                  ? [parseFloat(getComputedStyle(document.querySelector('.board-wrap:not([hidden]) .board-title h1')).fontSize),
                     f.layout.font.size]
                  : null; }"""),
                10, "the wall's figures never drew")

    plain = title_and_chart()
    login(page, base, stack["username"], stack["password"], "/admin/dashboard/display/")
    page.click("text=Floor wall (demo)")
    page.fill("#id_text_scale", "5")
    page.click("input[name=_save]")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-text_scale .errorlist")).to_contain_text("less than or equal to 2")
    page.fill("#id_text_scale", "1.5")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    try:
        scaled = title_and_chart()
        assert scaled[0] == pytest.approx(plain[0] * 1.5, rel=0.02), (plain, scaled)
        assert scaled[1] == pytest.approx(plain[1] * 1.5, abs=1), (plain, scaled)
    finally:
        page.goto(f"{base}/admin/dashboard/display/")
        page.click("text=Floor wall (demo)")
        page.fill("#id_text_scale", "1")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")


# Table headings and row names drawn on more lines than they have words: a word was broken.
SPLIT_WORDS = """() => [...document.querySelectorAll('table.queues th')].filter((th) => {
  const range = document.createRange();
  range.selectNodeContents(th);
  const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
  return lines.size > th.innerText.trim().split(/\\s+/).length;
}).map((th) => th.innerText)"""


def test_desk_dashboards_on_a_phone_are_one_column_with_nothing_cut_and_no_sideways_scroll(page, stack):
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    try:
        login(page, stack["server"].base, stack["username"], stack["password"], "/d/overview/")
        for slug in DESK_SLUGS:
            if slug != "overview":
                page.goto(f"{stack['server'].base}/d/{slug}/")
            wait_for(lambda: page.evaluate(BANNER) == "live", 10, f"{slug} never went live")
            layout = settled(page, PHONE)
            where = f"on /d/{slug}/ at 390x844"
            assert layout["scrollWidth"] <= layout["width"], f"sideways scroll {where}: {layout['scrollWidth']} px wide"
            widgets = layout["widgets"]
            assert len({round(w["left"]) for w in widgets}) == 1 and len({round(w["width"]) for w in widgets}) == 1, \
                f"not one column {where}: {[(w['id'], w['left'], w['width']) for w in widgets]}"
            column = widgets[0]["width"]
            assert column >= 0.9 * PHONE[0] - 30, f"the column is {column} px {where}"
            for widget in widgets:
                if widget["figure"] and widget["type"] != "donut":  # a donut is square, beside its tiles
                    assert widget["figure"]["width"] >= column - 40, f"{widget['id']} is not as wide as the column {where}"
            assert_nothing_cut(layout, where)
            low = [t for t in layout["texts"] if t["size"] < MIN_PHONE_TEXT_PX]
            assert not low, f"texts under {MIN_PHONE_TEXT_PX} px {where}: {smallest(low)}"
            split = page.evaluate(SPLIT_WORDS)
            assert not split, f"table headings and names broken inside a word {where}: {split}"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"screens-phone-{slug}.png"), full_page=True)
            if slug == "overview":
                readme_screenshot(page, "phone.png")
        assert page.page_errors == []
    finally:
        page.set_viewport_size({"width": 1600, "height": 900})


def now_local(page) -> float:
    """The page's "now" as plotted (the demo dashboards are in UTC)."""
    return page.evaluate("() => window.dashboardPage.serverClock.now()")


def test_trends_are_steps_held_up_to_now(page, stack):
    page.set_viewport_size({"width": 1920, "height": 1080})
    login(page, stack["server"].base, stack["username"], stack["password"], "/d/overview/")
    wait_for(lambda: page.evaluate(BANNER) == "live", 10, "the dashboard never went live")
    figures = {f["id"]: f for f in page.evaluate(FIGURES)}
    trends = [f for f in figures.values() if f["type"] in ("line", "kpi")]
    assert len(trends) >= 3 and any(f["type"] == "line" for f in trends)
    for figure in trends:
        for trace in figure["traces"]:
            assert trace["shape"] == "hv", f"{figure['id']} is drawn as ramps, not steps"
    first = {f["id"]: [t["x"][-1] for t in f["traces"]] for f in trends}

    def held_to_now():
        now = now_local(page)
        shown = {f["id"]: f for f in page.evaluate(FIGURES)}
        lasts = [(f["id"], t["x"][-1]) for f in trends for t in shown[f["id"]]["traces"]]
        return lasts if all(first[i][0] + 3000 < x and now - 12000 <= x <= now + 1000 for i, x in lasts) else None

    # The held last value moves with the clock even when nothing changes (lines slide every 10 s).
    wait_for(held_to_now, 20, "a trend's end does not follow the clock to now")
    age = page.locator(".widget.kpi .tile-age").first.inner_text()
    assert age.startswith("unchanged for "), age
    assert page.locator(".widget.kpi .widget-state .live").first.is_visible()
    readme_screenshot(page, "dashboard.png")
    assert page.page_errors == []


def test_after_unavailable_every_widget_type_says_stale_and_its_chart_admits_it(page, browser, browser_context, stack):
    base, simulator = stack["server"].base, stack["simulator"]
    login(page, base, stack["username"], stack["password"], "/d/overview/")
    tabs = {"overview": page}
    errors = page.page_errors
    # The wall in a context of its own, disposed as a whole (a wall may reload itself, and a
    # tab closed while its reload commits can hang: see conftest.new_context).
    wall_context = new_context(browser)
    for name, path in (("queues", "/d/queues/"), ("agents", "/d/agents/"), ("wall", stack["wall_path"])):
        tabs[name] = (wall_context if name == "wall" else browser_context).new_page()
        tabs[name].on("console", lambda message, name=name: message.type == "info" and print(f"{name}: {message.text}"))
        tabs[name].on("pageerror", lambda error: errors.append(str(error)))
        tabs[name].goto(base + path)
    try:
        for name, tab in tabs.items():
            wait_for(lambda tab=tab: tab.evaluate("() => [...document.querySelectorAll('section.widget')]"
                                                  ".every((w) => w.dataset.state === 'fresh')"), 10, f"{name} never turned fresh")
        show_board(tabs["wall"], "overview")
        simulator.service("UNAVAILABLE")
        try:
            seen_types = set()
            for name, tab in tabs.items():
                figures = wait_for(lambda tab=tab: (
                    lambda got: got if got and all(f["state"] == "stale" and f["mark"] for f in got) else None
                )(evaluate_settled(tab, FIGURES)), 5, f"not every widget of {name} said STALE")
                for figure in figures:
                    seen_types.add(figure["type"])
                    assert figure["mark"] == "STALE" and figure["word"] == "STALE", figure
                    if figure["type"] not in ("queue_table", "agent_grid"):  # a table or grid is all numbers
                        assert not figure["covered"], f"the STALE mark of {figure['id']} on {name} hides {figure['covered']}"
                    if figure["filter"] is not None:
                        assert "grayscale(1)" in figure["filter"], f"{figure['id']} keeps its colours: {figure['filter']}"
                # Charts lose their threshold colours and lines break.
                shown = wait_for(lambda tab=tab: (lambda got: got if all(
                    (f["type"] != "bar" or all(c == NEUTRAL for c in f["traces"][0]["colors"]))
                    and (f["type"] != "gauge" or f["traces"][0]["bar"] == NEUTRAL)
                    and (f["type"] != "kpi" or f["traces"][0]["line"] == NEUTRAL)
                    and (f["type"] != "line" or (f["shapes"] and all(None in t["y"] for t in f["traces"])))
                    for f in got) else None)(tab.evaluate(FIGURES)), 5, f"a chart of {name} still looks live")
                ages = tab.evaluate("() => [...document.querySelectorAll('.widget.kpi .tile-age')].map((e) => e.innerText)")
                assert all(a.startswith("last known ") for a in ages), ages
                tab.screenshot(path=str(ARTIFACTS / f"screens-stale-{name}.png"))
                assert shown
            assert seen_types == {"kpi", "gauge", "donut", "bar", "line", "queue_table", "agent_grid"}, seen_types
            show_board(tabs["wall"], "queues")
            wait_for(lambda: tabs["wall"].locator(".board-wrap:not([hidden]) .widget.queue_table .stale-mark").is_visible(),
                     5, "the wall's queue table shows no STALE")
        finally:
            simulator.service("AVAILABLE")
        for name, tab in tabs.items():
            wait_for(lambda tab=tab: tab.evaluate("() => [...document.querySelectorAll('section.widget')]"
                                                  ".every((w) => w.dataset.state === 'fresh')"),
                     10, f"{name} did not turn fresh again")
        wait_for(lambda: all(f["word"] == "LIVE" and not f["mark"] for f in page.evaluate(FIGURES)), 5,
                 "the overview still says STALE")
        assert errors == [], errors
    finally:
        wall_context.close()
        for name, tab in tabs.items():
            if tab is not page and name != "wall":
                tab.close()
