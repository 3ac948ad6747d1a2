"""A wall reloads itself before a long-running TV tab degrades, and at no other time.

Two reasons make a wall reload on its own (wall.js ``Wall.checkSchedule``): its
display's quiet hour, once the page has been up for more than an hour, and the memory
watchdog, when the JS heap passes the wall's limit after the page's first minute. Both
are driven here for real in Debian's Chromium: the heap with real allocations (in real
time: Playwright's fake clock replaces ``performance``, and with it the heap reading),
the quiet hour's uptime with Playwright's clock (the quiet hour itself is the server's
hour, which the page keeps from its pongs).
Every reload is proved by a marker on ``window`` that a new document no longer has and
by the page's probe (``HEAD`` of its own URL) that precedes a soft reload.

Each wall runs in a browser context of its own, closed as a whole: closing a tab while
its reload commits can hang forever in Chromium (see ``conftest.new_context``), and a
context of its own also keeps the fake clock and the other test's heap away. Every
script read during a reload is null-safe, since a new document is parsed before the
page's module runs.
"""

import datetime as dt
import zoneinfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, BANNER, evaluate_settled, login, manage, new_context, wait_for

pytestmark = pytest.mark.browser

# Low, so that a few real arrays pass it in a second or two even on a loaded machine (the
# watchdog's "first minute" is real time) and no tab holds hundreds of MB.
LIMIT_MB = 64
# A marker on this document's window: a reload makes a new document without it.
MARK = "() => { window.sameDocument = 'yes'; return true; }"
MARKER = "() => window.sameDocument"
NEW_DOCUMENT = "() => window.sameDocument === undefined"
CONFIG = "() => JSON.parse(document.getElementById('dash-config').textContent)"
HEAP_MB = "() => { gc(); return performance.memory.usedJSHeapSize / 1048576; }"
CHUNK_MB = 8  # one packed array of 2**20 doubles
GRACE_MS = 60_000  # wall.js MEMORY_GRACE_MS: the watchdog ignores a page's first minute
OFFSET = "() => window.dashboardPage ? window.dashboardPage.serverClock.offset : null"
UPTIME = "() => window.dashboardPage ? Date.now() - window.dashboardPage.startedAt : null"
PLANT_NIGHT = "() => { if (document.body) document.body.dataset.night = 'checked?'; }"
NIGHT = "() => document.body ? document.body.dataset.night : null"


@pytest.fixture(scope="module")
def stack_env() -> dict:
    return {"WALL_MEMORY_LIMIT_MB": str(LIMIT_MB)}


class WallTab:
    """An open wall page in a browser context of its own, its soft-reload probes counted."""

    def __init__(self, context, url: str):
        self.context, self.url = context, url
        self.tab = context.new_page()
        # DevTools' own "collect garbage" (for settled_heap_mb): it runs full collections
        # until nothing more is freed, which is what frees a replaced document's heap.
        self.devtools = context.new_cdp_session(self.tab)
        self.probes: list[str] = []
        self.closed = False
        self.tab.on("request", self._seen)

    def _seen(self, request) -> None:
        if request.method == "HEAD" and request.url == self.url:
            self.probes.append(request.url)

    def open(self) -> None:
        """Load the wall, wait until it is live, and mark this document."""
        self.tab.goto(self.url)
        self.wait_live_and_mark()

    def close(self) -> None:
        """Dispose of the whole context (never a bare ``tab.close()``: see the module docstring)."""
        if not self.closed:
            self.closed = True
            self.context.close()

    def wait_live_and_mark(self) -> None:
        wait_for(lambda: evaluate_settled(self.tab, BANNER) == "live", 30, "the wall never went live")
        assert evaluate_settled(self.tab, MARK), "the wall reloaded again as soon as it was live"
        self.probes.clear()

    def schedule_checks(self, count: int = 2) -> None:
        """Wait until the wall's once-a-second schedule check has run ``count`` more times.

        Each check rewrites ``body.dataset.night`` (empty: no night schedule), so a value
        planted here disappears when a check has run. A reload meanwhile ends the wait
        too (a new document has no planted value); ``assert_not_reloaded`` says so.
        """
        for _ in range(count):
            evaluate_settled(self.tab, PLANT_NIGHT)
            wait_for(lambda: evaluate_settled(self.tab, NIGHT) not in (None, "checked?"), 30,
                     "the wall's schedule check did not run")

    def assert_not_reloaded(self) -> None:
        assert self.probes == [], "the wall probed for a soft reload"
        assert evaluate_settled(self.tab, MARKER) == "yes", "the wall reloaded"

    def wait_reloaded(self, seconds: float, why: str) -> None:
        """Wait for a new document (the marker gone) after a probe, then for it to be live again."""
        wait_for(lambda: evaluate_settled(self.tab, NEW_DOCUMENT), seconds, f"the wall did not reload: {why}")
        assert self.probes, "the wall reloaded without probing the server first"
        self.wait_live_and_mark()

    def settled_heap_mb(self) -> float | None:
        """The page's JS heap (MB) once everything unreachable is collected, or None mid-navigation.

        ``gc()`` alone is one full collection: a document the page replaced can outlive a few
        of those on a loaded machine, so a test waiting on it would wait on the machine.
        """
        from playwright.sync_api import Error as PlaywrightError

        try:
            self.devtools.send("HeapProfiler.collectGarbage")
        except PlaywrightError:
            return None  # navigating: ask again
        return evaluate_settled(self.tab, HEAP_MB)

    def uptime_ms(self) -> float:
        uptime = evaluate_settled(self.tab, UPTIME)
        assert uptime is not None, "the wall reloaded"
        return uptime


@pytest.fixture
def wall(browser, stack):
    tab = WallTab(new_context(browser), stack["server"].base + stack["wall_path"])
    try:
        yield tab
    finally:
        tab.close()


def grow_heap_past(tab, limit_mb: float) -> float:
    """Make the page hold real arrays until its heap is over ``limit_mb``; return the heap (MB)."""
    chunks = int((limit_mb - tab.evaluate(HEAP_MB)) / CHUNK_MB) + 2
    return tab.evaluate(f"""() => {{
        window.ballast = [];
        for (let i = 0; i < {chunks}; i++) {{
          const chunk = [];  // pushed, not new Array(n): a packed array of doubles, 8 bytes each
          for (let j = 0; j < 2 ** 20; j++) chunk.push(i + j + 0.5);
          window.ballast.push(chunk);
        }}
        return performance.memory.usedJSHeapSize / 1048576;
    }}""")


def test_the_memory_watchdog_reloads_the_wall_once_its_heap_passes_the_limit(wall):
    wall.open()
    assert wall.tab.evaluate(CONFIG)["wall"]["memoryLimitMb"] == LIMIT_MB

    # Past its first minute, under the limit: it stays.
    wait_for(lambda: wall.uptime_ms() > GRACE_MS + 1000, GRACE_MS / 1000 + 60, "the wall's first minute did not pass")
    assert wall.tab.evaluate(HEAP_MB) < LIMIT_MB, "the wall's own heap is over the test's limit"
    wall.schedule_checks()
    wall.assert_not_reloaded()

    # Over the limit: it reloads at its next check.
    heap = grow_heap_past(wall.tab, LIMIT_MB)
    assert heap > LIMIT_MB, f"the heap reached only {heap:.0f} MB of a {LIMIT_MB} MB limit"
    wall.wait_reloaded(30, f"the heap was {heap:.0f} MB, over its {LIMIT_MB} MB limit")
    assert wall.tab.evaluate("() => window.ballast") is None
    # The new document starts small, though Chromium may count the old one's heap until
    # it is collected (which is why the watchdog waits out a page's first minute).
    wait_for(lambda: (wall.settled_heap_mb() or LIMIT_MB) < LIMIT_MB, 30, "the reloaded wall's heap did not fall under the limit")

    # Over the limit in its first minute (the previous page's heap may not be collected yet): it stays.
    heap = grow_heap_past(wall.tab, LIMIT_MB)
    assert heap > LIMIT_MB
    wall.schedule_checks()
    assert wall.uptime_ms() < GRACE_MS, "the machine took over a minute to grow a heap and see two checks"
    wall.assert_not_reloaded()
    wall.tab.evaluate("() => { window.ballast = null; gc(); }")


def set_reload_hour(page, base: str, hour: int | str) -> None:
    """Set the demo wall's quiet hour in the admin (open walls reload to pick it up)."""
    page.goto(f"{base}/admin/dashboard/display/")
    page.click("text=Floor wall (demo)")
    page.fill("#id_reload_hour", str(hour))
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")


# The wall's hours are those of its first dashboard's time zone.
WALL_ZONE = """
from dashboard.models import Dashboard, Display
display = Display.objects.get(name="Floor wall (demo)")
first = display.dashboards.order_by("displayitem__position", "displayitem__pk").first()
if {zone!r}:
    Dashboard.objects.filter(pk=first.pk).update(time_zone={zone!r})
print(Dashboard.objects.get(pk=first.pk).time_zone)
"""


def wall_time_zone(stack, zone: str = "") -> str:
    """Set (or with no zone, read) the time zone of the demo wall's first dashboard."""
    return manage(stack["server"].env, "shell", "-c", WALL_ZONE.format(zone=zone)).strip()


def zone_far_from_the_hours_end() -> str:
    """UTC or India (UTC+5:30), whichever is in the first half of its hour right now.

    The test needs the server's quiet hour to last for its whole run: with half an hour
    left whatever the time, it never waits for an hour to turn nor races one.
    """
    return "UTC" if dt.datetime.now(dt.UTC).minute < 30 else "Asia/Kolkata"


def fast_forward(wall: WallTab, minutes: int) -> None:
    """Move the page's clock on; wait until a pong has set the page back on the server's time."""
    wall.assert_not_reloaded()
    expected = evaluate_settled(wall.tab, OFFSET) - minutes * 60_000

    def corrected() -> bool:
        offset = evaluate_settled(wall.tab, OFFSET)
        return offset is not None and abs(offset - expected) < 60_000

    wall.tab.clock.fast_forward(minutes * 60_000)
    wait_for(corrected, 30, "the wall did not take the server's time from a pong")


def test_the_wall_reloads_in_its_quiet_hour_after_an_hour_of_uptime_and_not_otherwise(page, wall, stack):
    base = stack["server"].base
    login(page, base, stack["username"], stack["password"], "/admin/dashboard/display/")
    page.click("text=Floor wall (demo)")
    original_hour = page.input_value("#id_reload_hour")
    original_zone = wall_time_zone(stack)
    zone = zone_far_from_the_hours_end()
    wall_time_zone(stack, zone)
    quiet = dt.datetime.now(zoneinfo.ZoneInfo(zone)).hour
    try:
        set_reload_hour(page, base, (quiet + 12) % 24)
        wall.context.clock.install()  # flows in real time until fast-forwarded
        wall.open()
        assert wall.tab.evaluate(CONFIG)["timeZone"] == zone

        # Up for more than an hour, but outside the quiet hour: no reload.
        fast_forward(wall, 61)
        wall.schedule_checks()
        wall.assert_not_reloaded()

        # The quiet hour is now; saving it reloads the open wall (a new page, uptime zero).
        set_reload_hour(page, base, quiet)
        wall.wait_reloaded(30, "saving the display did not reload the open wall")
        assert wall.tab.evaluate(CONFIG)["wall"]["reloadHour"] == quiet

        # In the quiet hour, up for only 30 minutes: no reload.
        fast_forward(wall, 30)
        wall.schedule_checks()
        wall.assert_not_reloaded()

        # In the quiet hour, up for more than an hour: it reloads, once.
        fast_forward(wall, 31)
        wall.wait_reloaded(30, "the quiet hour came after an hour of uptime")
        wall.schedule_checks()
        wall.assert_not_reloaded()
        wall.tab.screenshot(path=str(ARTIFACTS / "wall-after-quiet-hour-reload.png"))
    finally:
        wall.close()  # before the restore below reloads it
        set_reload_hour(page, base, original_hour)
        wall_time_zone(stack, original_zone)
