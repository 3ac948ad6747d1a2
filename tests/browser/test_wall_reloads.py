"""A wall reloads itself before a long-running TV tab degrades, and at no other time.

Two reasons make a wall reload on its own (dashboard.js ``Wall.checkSchedule``): its
display's quiet hour, once the page has been up for more than an hour, and the memory
watchdog, when the JS heap passes the wall's limit after the page's first minute. Both
are driven here for real in Debian's Chromium: the heap with real allocations (in real
time: Playwright's fake clock replaces ``performance``, and with it the heap reading),
the quiet hour's uptime with Playwright's clock (the quiet hour itself is the server's
hour, which the page keeps from its pongs).
Every reload is proved by a marker on ``window`` that a new document no longer has and
by the page's probe (``HEAD`` of its own URL) that precedes a soft reload.
"""

import datetime as dt
import zoneinfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, BANNER, evaluate_settled, login, wait_for

pytestmark = pytest.mark.browser

# A marker on this document's window: a reload makes a new document without it.
MARK = "() => { window.sameDocument = 'yes'; return true; }"
MARKER = "() => window.sameDocument"
CONFIG = "() => JSON.parse(document.getElementById('dash-config').textContent)"
HEAP_MB = "() => { gc(); return performance.memory.usedJSHeapSize / 1048576; }"
CHUNK_MB = 8  # one packed array of 2**20 doubles
GRACE_MS = 60_000  # dashboard.js MEMORY_GRACE_MS: the watchdog ignores a page's first minute
OFFSET = "() => window.dashboardPage.clockOffset"


class WallTab:
    """An open wall page, its soft-reload probes counted."""

    def __init__(self, tab, url: str):
        self.tab, self.url = tab, url
        self.probes: list[str] = []
        tab.on("request", self._seen)

    def _seen(self, request) -> None:
        if request.method == "HEAD" and request.url == self.url:
            self.probes.append(request.url)

    def open(self) -> None:
        """Load the wall, wait until it is live, and mark this document."""
        self.tab.goto(self.url)
        self.wait_live_and_mark()

    def wait_live_and_mark(self) -> None:
        wait_for(lambda: evaluate_settled(self.tab, BANNER) == "live", 15, "the wall never went live")
        assert evaluate_settled(self.tab, MARK), "the wall reloaded again as soon as it was live"
        self.probes.clear()

    def schedule_checks(self, count: int = 2) -> None:
        """Wait until the wall's once-a-second schedule check has run ``count`` more times.

        Each check rewrites ``body.dataset.night`` (empty: no night schedule), so a value
        planted here disappears when a check has run.
        """
        for _ in range(count):
            # A reload meanwhile ends the wait too (None); assert_not_reloaded says so.
            evaluate_settled(self.tab, "() => { document.body.dataset.night = 'checked?'; }")
            wait_for(lambda: evaluate_settled(self.tab, "() => document.body.dataset.night") != "checked?", 5,
                     "the wall's schedule check did not run")

    def assert_not_reloaded(self) -> None:
        assert self.probes == [], "the wall probed for a soft reload"
        assert evaluate_settled(self.tab, MARKER) == "yes", "the wall reloaded"

    def wait_reloaded(self, seconds: float, why: str) -> None:
        """Wait for a new document (the marker gone) after a probe, then for it to be live again."""
        wait_for(lambda: evaluate_settled(self.tab, MARKER) is None and evaluate_settled(self.tab, "() => 1") == 1,
                 seconds, f"the wall did not reload: {why}")
        assert self.probes, "the wall reloaded without probing the server first"
        self.wait_live_and_mark()


@pytest.fixture
def wall(browser_context, stack):
    tab = browser_context.new_page()
    try:
        yield WallTab(tab, stack["server"].base + stack["wall_path"])
    finally:
        tab.close()


def grow_heap_past(tab, limit_mb: float) -> float:
    """Make the page hold real arrays until its heap is over ``limit_mb``; return the heap (MB)."""
    chunks = int((limit_mb - tab.evaluate(HEAP_MB)) / CHUNK_MB) + 4
    return tab.evaluate(f"""() => {{
        window.ballast = [];
        for (let i = 0; i < {chunks}; i++) {{
          const chunk = [];  // pushed, not new Array(n): a packed array of doubles, 8 bytes each
          for (let j = 0; j < 2 ** 20; j++) chunk.push(i + j + 0.5);
          window.ballast.push(chunk);
        }}
        return performance.memory.usedJSHeapSize / 1048576;
    }}""")


def uptime_ms(tab) -> float:
    return tab.evaluate("() => Date.now() - window.dashboardPage.startedAt")


def test_the_memory_watchdog_reloads_the_wall_once_its_heap_passes_the_limit(wall):
    wall.open()
    limit = wall.tab.evaluate(CONFIG)["wall"]["memoryLimitMb"]

    # Past its first minute, under the limit: it stays.
    wait_for(lambda: uptime_ms(wall.tab) > GRACE_MS + 1000, GRACE_MS / 1000 + 30, "the wall's first minute did not pass")
    assert wall.tab.evaluate(HEAP_MB) < limit
    wall.schedule_checks()
    wall.assert_not_reloaded()

    # Over the limit: it reloads at its next check.
    heap = grow_heap_past(wall.tab, limit)
    assert heap > limit, f"the heap reached only {heap:.0f} MB of a {limit} MB limit"
    wall.wait_reloaded(10, f"the heap was {heap:.0f} MB, over its {limit} MB limit")
    assert wall.tab.evaluate("() => window.ballast") is None
    # The new document starts small, though Chromium may count the old one's heap until
    # it is collected (which is why the watchdog waits out a page's first minute).
    wait_for(lambda: wall.tab.evaluate("() => { gc(); return performance.memory.usedJSHeapSize / 1048576; }") < limit,
             30, "the reloaded wall's heap did not fall under the limit")

    # Over the limit in its first minute (the previous page's heap may not be collected yet): it stays.
    heap = grow_heap_past(wall.tab, limit)
    assert heap > limit and uptime_ms(wall.tab) < GRACE_MS
    wall.schedule_checks()
    assert uptime_ms(wall.tab) < GRACE_MS, "the machine was too slow to check within the first minute"
    wall.assert_not_reloaded()
    wall.tab.evaluate("() => { window.ballast = null; gc(); }")


def set_reload_hour(page, base: str, hour: int | str) -> None:
    """Set the demo wall's quiet hour in the admin (open walls reload to pick it up)."""
    page.goto(f"{base}/admin/dashboard/display/")
    page.click("text=Floor wall (demo)")
    page.fill("#id_reload_hour", str(hour))
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")


def fast_forward(wall: WallTab, minutes: int) -> None:
    """Move the page's clock on; wait until a pong has set the page back on the server's time."""
    expected = wall.tab.evaluate(OFFSET) - minutes * 60_000

    def corrected() -> bool:
        offset = evaluate_settled(wall.tab, OFFSET)
        return offset is not None and abs(offset - expected) < 60_000

    wall.tab.clock.fast_forward(minutes * 60_000)
    wait_for(corrected, 15, "the wall did not take the server's time from a pong")


def test_the_wall_reloads_in_its_quiet_hour_after_an_hour_of_uptime_and_not_otherwise(page, browser_context, wall, stack):
    """Last in this module: the fake clock it installs stays in the module's browser context."""
    base = stack["server"].base
    login(page, base, stack["username"], stack["password"], "/admin/dashboard/display/")
    page.click("text=Floor wall (demo)")
    original = page.input_value("#id_reload_hour")
    zone = zoneinfo.ZoneInfo("UTC")

    def hour_now() -> dt.datetime:
        return dt.datetime.now(zone)

    # The test needs its quiet hour to last a minute more: near the end of an hour, wait for the next.
    wait_for(lambda: hour_now().minute < 58, 150, "the hour did not turn")
    quiet = hour_now().hour
    set_reload_hour(page, base, (quiet + 12) % 24)
    browser_context.clock.install()  # flows in real time until fast-forwarded
    try:
        wall.open()
        assert wall.tab.evaluate(CONFIG)["timeZone"] == "UTC"

        # Up for more than an hour, but outside the quiet hour: no reload.
        fast_forward(wall, 61)
        wall.schedule_checks()
        wall.assert_not_reloaded()

        # The quiet hour is now; saving it reloads the open wall (a new page, uptime zero).
        set_reload_hour(page, base, quiet)
        wall.wait_reloaded(15, "saving the display did not reload the open wall")
        assert wall.tab.evaluate(CONFIG)["wall"]["reloadHour"] == quiet

        # In the quiet hour, up for only 30 minutes: no reload.
        fast_forward(wall, 30)
        wall.schedule_checks()
        wall.assert_not_reloaded()

        # In the quiet hour, up for more than an hour: it reloads, once.
        fast_forward(wall, 31)
        wall.wait_reloaded(15, "the quiet hour came after an hour of uptime")
        wall.schedule_checks()
        wall.assert_not_reloaded()
        wall.tab.screenshot(path=str(ARTIFACTS / "wall-after-quiet-hour-reload.png"))
    finally:
        set_reload_hour(page, base, original)
