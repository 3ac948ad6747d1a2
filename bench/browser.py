"""5. Browser: a 48-tile wall in headless Chromium at 4 updates/s per tile; a 1,000-statistic snapshot.

The embedded default serves a wall display of one dashboard with 48 KPI tiles; the
simulator offers 192 updates/s round-robin over their 48 statistics (4 per tile per
second). Debian's Chromium, driven by Playwright over CDP, reports main-thread task
time (``Performance.getMetrics`` TaskDuration) and the JS heap after a forced GC at
each sample; the busy fraction excludes the forced GCs. Limits are the targets
(≤ 25 % busy, ≤ 5 MB/h heap growth); the same page idle (no updates) is measured first.

Then the snapshot of a big dashboard: the wall of one dashboard of 1,000 agent statistics
(ten agent grids of 100) is loaded ``SNAPSHOT_LOADS`` times; each load times, in the page,
WebSocket ``open`` → the snapshot frame's handler done (values stored) → the end of the
animation frame that drew them (every tile shows the snapshot's state). Target: the median
load ≤ 200 ms from open to drawn.
"""

import asyncio
import contextlib
import time
from typing import NamedTuple

from bench.common import AT_MOST, Context, Result, Target
from bench.procs import wait_until
from bench.profiling import summarise_cpu_profile
from bench.stack import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TILES = 48
UPDATES_PER_TILE = 4
BUSY_LIMIT = 0.25
HEAP_LIMIT_MB_PER_HOUR = 5.0
SNAPSHOT_STATISTICS = 1000
SNAPSHOT_LIMIT_MS = 200.0

# Times the first snapshot of the page's WebSocket: open, its message handler started and
# done (the page stored the values and asked for an animation frame), and the end of the
# next animation frame (ours runs after the page's, which draws the pending tiles).
SNAPSHOT_SCRIPT = """
(() => {
  const marks = window.__snapshot = {open: null, arrived: null, applied: null, drawn: null, tiles: null, bytes: 0};
  const Native = window.WebSocket;
  class Timed extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => { if (marks.open === null) marks.open = performance.now(); });
    }
    set onmessage(handler) {
      super.onmessage = typeof handler !== 'function' ? handler : (event) => {
        const arrived = performance.now();
        const result = handler.call(this, event);
        const text = typeof event.data === 'string' ? event.data : '';
        if (marks.arrived === null && (text.startsWith('{"type": "snapshot"') || text.startsWith('{"type":"snapshot"'))) {
          marks.arrived = arrived;
          marks.applied = performance.now();
          marks.bytes = text.length;
          requestAnimationFrame(() => {
            marks.tiles = document.querySelectorAll('[data-statistic]:not([data-state="unknown"])').length;
            marks.drawn = performance.now();
          });
        }
        return result;
      };
    }
    get onmessage() { return super.onmessage; }
  }
  window.WebSocket = Timed;
})();
"""

# Counts tile updates (each carries a new "as of" time; the load moves each value by one) and long
# tasks, so the run proves updates reached the tiles.
INIT_SCRIPT = """
window.__bench = {mutations: 0, longTasks: 0, longTaskMs: 0};
new MutationObserver(function (records) {
  for (const r of records) if (r.attributeName === 'data-as-of') window.__bench.mutations++;
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-as-of']});
try {
  new PerformanceObserver(function (list) {
    for (const e of list.getEntries()) { window.__bench.longTasks++; window.__bench.longTaskMs += e.duration; }
  }).observe({type: 'longtask', buffered: true});
} catch (e) {}
"""


def slope_per_hour(samples: list) -> float:
    """Least-squares slope of ``(seconds, MB)`` samples, in MB per hour."""
    count = len(samples)
    mean_t = sum(t for t, _ in samples) / count
    mean_v = sum(v for _, v in samples) / count
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if not spread:
        return 0.0
    return 3600 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread


class PageProbe:
    """CDP metrics of one page: main-thread task seconds (minus forced GCs) and heap after GC."""

    def __init__(self, cdp):
        self.cdp = cdp
        self.busy = 0.0
        self._last_task = None

    async def metric(self, name: str) -> float:
        """One value of ``Performance.getMetrics``."""
        metrics = (await self.cdp.send("Performance.getMetrics"))["metrics"]
        return next(m["value"] for m in metrics if m["name"] == name)

    async def sample(self) -> float:
        """Add task time since the last sample to ``busy``; force a GC; return the used heap (MB)."""
        task = await self.metric("TaskDuration")
        if self._last_task is not None:
            self.busy += task - self._last_task
        await self.cdp.send("HeapProfiler.collectGarbage")
        heap = await self.metric("JSHeapUsedSize")
        self._last_task = await self.metric("TaskDuration")
        return heap / 2**20


async def observe(probe: PageProbe, seconds: float, interval: float) -> dict:
    """Sample for ``seconds``; busy fraction over the period and heap samples."""
    start = time.monotonic()
    probe.busy = 0.0
    heap = [(0.0, await probe.sample())]
    busy = []  # busy fraction of each interval, to show a trend with uptime
    while time.monotonic() - start < seconds:
        busy_before, at = probe.busy, time.monotonic()
        await asyncio.sleep(min(interval, max(0.0, seconds - (time.monotonic() - start))))
        heap.append((time.monotonic() - start, await probe.sample()))
        busy.append((probe.busy - busy_before) / (time.monotonic() - at))
    elapsed = time.monotonic() - start
    return {"busy_fraction": probe.busy / elapsed, "heap": heap, "seconds": elapsed, "busy_by_interval": busy}


async def cpu_profile(cdp, seconds: float) -> str:
    """A sampled JS CPU profile of the page under load, summarised by self time."""
    await cdp.send("Profiler.enable")
    await cdp.send("Profiler.setSamplingInterval", {"interval": 1000})
    await cdp.send("Profiler.start")
    await asyncio.sleep(seconds)  # The profile's length.
    profile = (await cdp.send("Profiler.stop"))["profile"]
    await cdp.send("Profiler.disable")
    return f"Chromium JS CPU profile, {seconds:g} s under load:\n" + summarise_cpu_profile(profile)


def median(values: list) -> float:
    """The middle value (upper middle of an even count)."""
    return sorted(values)[len(values) // 2]


async def launch(playwright, directory):
    """Headless Debian Chromium with a fresh profile in ``directory``."""
    return await playwright.chromium.launch_persistent_context(
        str(directory), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1920, "height": 1080})


class WallTab(NamedTuple):
    """What ``wall_tab`` opened."""

    page: object
    url: str
    web: object
    context: object
    stack: Stack


@contextlib.asynccontextmanager
async def wall_tab(name: str, statistics: int, init_script: str, **prepare):
    """A simulator and web process with one seeded dashboard of ``statistics``, and a Chromium
    tab running ``init_script`` in every document, opened on its wall: yields a ``WallTab``;
    closes them all after."""
    from playwright.async_api import async_playwright

    async with Stack(name) as stack:
        await stack.start_simulator(statistics)
        seed = await stack.prepare(statistics, 1, **prepare)
        web = await stack.start_web()
        await stack.wait_subscribed(statistics, check=web.proc.check_alive)
        url = f"{web.url}/wall/{seed['dashboards'][0]['wall_token']}/"
        async with async_playwright() as playwright:
            context = await launch(playwright, stack.dir / "chromium-profile")
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.add_init_script(init_script)
                await page.goto(url, wait_until="load")
                yield WallTab(page, url, web, context, stack)
            finally:
                await context.close()


async def snapshot_loads(statistics: int, loads: int) -> dict:
    """Load the wall of one ``statistics``-statistic dashboard ``loads`` times; in-page times (ms) of each."""
    runs = []
    async with wall_tab("browser-snapshot", statistics, SNAPSHOT_SCRIPT) as (page, url, web, _context, _stack):
        for number in range(loads + 1):  # the first load warms caches and is not counted
            await page.goto(url, wait_until="load")

            async def drawn() -> bool:
                return await page.evaluate("window.__snapshot && window.__snapshot.drawn !== null")

            await wait_until(drawn, 60, "the snapshot drawn", interval=0.05, check=web.proc.check_alive)
            marks = await page.evaluate("window.__snapshot")
            if number:
                runs.append(marks)
    return {
        "open_to_drawn": [m["drawn"] - m["open"] for m in runs],
        "open_to_arrived": [m["arrived"] - m["open"] for m in runs],
        "handler": [m["applied"] - m["arrived"] for m in runs],
        "applied_to_drawn": [m["drawn"] - m["applied"] for m in runs],
        "tiles": [m["tiles"] for m in runs], "bytes": runs[-1]["bytes"],
    }


async def run(ctx: Context, result: Result) -> None:
    """Idle page first, then the loaded wall for 10 minutes (1 hour with --hour; seconds in smoke);
    then the snapshot of a 1,000-statistic dashboard (100 in smoke)."""

    idle_seconds = ctx.pick(2.0, 60.0)
    warmup = ctx.pick(2.0, 30.0)
    duration = ctx.pick(6.0, 600.0, 3600.0)
    interval = ctx.pick(2.0, 30.0, 60.0)
    rate = TILES * UPDATES_PER_TILE
    async with wall_tab("browser", TILES, INIT_SCRIPT, kpi_tiles=True) as (page, _url, web, context, stack):
        cdp = await context.new_cdp_session(page)
        await cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        probe = PageProbe(cdp)

        async def tiles_fresh() -> bool:
            return await page.locator('[data-statistic][data-state="fresh"]').count() >= TILES

        await wait_until(tiles_fresh, 60, f"{TILES} fresh tiles on the wall", interval=0.2,
                         check=web.proc.check_alive)
        idle = await observe(probe, idle_seconds, interval)
        # Changing values: a value repeated with a new time redraws no figure (figures.js),
        # so a repeating load would measure a wall with nothing to draw.
        await stack.set_load(rate, changing=True)
        await asyncio.sleep(warmup)  # Let the page reach steady state under load (fixed period).
        mutations_before = await page.evaluate("window.__bench.mutations")
        loaded = await observe(probe, duration, interval)
        bench_counts = await page.evaluate("window.__bench")
        fresh_tiles = await page.locator('[data-statistic][data-state="fresh"]').count()
        profile = await cpu_profile(cdp, ctx.pick(2.0, 20.0))
        await stack.set_load(0)
    result.profile = profile
    snap_statistics, snap_loads = ctx.pick(100, SNAPSHOT_STATISTICS), ctx.pick(2, 7)
    snapshots = await snapshot_loads(snap_statistics, snap_loads)
    heap_growth = slope_per_hour(loaded["heap"])
    result.add("main-thread busy fraction under load", 100 * loaded["busy_fraction"], "%", "limit (target)",
               100 * BUSY_LIMIT, Target(AT_MOST, 1.0))
    result.add("main-thread busy fraction under load vs idle page", 100 * loaded["busy_fraction"], "%",
               "same page, no updates", 100 * idle["busy_fraction"])
    result.add("JS heap growth (after GC)", heap_growth, "MB/h", "limit (target)", HEAP_LIMIT_MB_PER_HOUR,
               Target(AT_MOST, 1.0))
    result.add(f"snapshot of a {snap_statistics:,}-statistic dashboard, WebSocket open to drawn (median)",
               median(snapshots["open_to_drawn"]), "ms", "limit (target)", SNAPSHOT_LIMIT_MS, Target(AT_MOST, 1.0))
    result.add(f"snapshot of a {snap_statistics:,}-statistic dashboard, worst load", max(snapshots["open_to_drawn"]),
               "ms", "limit (target)", SNAPSHOT_LIMIT_MS)
    result.counts = {
        "snapshot_statistics": snap_statistics, "snapshot_loads": snap_loads, "snapshot_bytes": snapshots["bytes"],
        "snapshot_tiles_drawn": min(snapshots["tiles"]),
        **{f"snapshot_{part}_ms": [round(t, 1) for t in snapshots[part]]
           for part in ("open_to_drawn", "open_to_arrived", "handler", "applied_to_drawn")},
        "tiles": TILES, "offered_updates_per_second": rate, "seconds_under_load": round(loaded["seconds"], 1),
        "tile_updates_per_second": round((bench_counts["mutations"] - mutations_before) / loaded["seconds"], 1),
        "fresh_tiles_at_end": fresh_tiles, "long_tasks": bench_counts["longTasks"],
        "long_task_ms": round(bench_counts["longTaskMs"], 1),
        "heap_mb_first": round(loaded["heap"][0][1], 2), "heap_mb_last": round(loaded["heap"][-1][1], 2),
        "heap_samples": len(loaded["heap"]),
        "busy_pct_first_interval": round(100 * loaded["busy_by_interval"][0], 1),
        "busy_pct_last_interval": round(100 * loaded["busy_by_interval"][-1], 1),
    }
    result.notes.append(f"Debian Chromium headless ({' '.join(CHROMIUM_ARGS)}), fresh profile, 1920×1080, "
                        f"wall page `/wall/<token>/`; {rate} updates/s for {duration:g} s after {warmup:g} s "
                        f"warm-up; heap = JSHeapUsedSize after HeapProfiler.collectGarbage every {interval:g} s, "
                        "growth = least-squares slope.")
    result.notes.append(f"Snapshot: wall of one dashboard of {snap_statistics:,} agent statistics (grids of 100), "
                        f"loaded {snap_loads} times after one warm-up load; in-page performance.now() marks of "
                        "WebSocket open, the snapshot's message handler, and the end of the next animation frame "
                        "(after the page's own, which draws the pending tiles).")
