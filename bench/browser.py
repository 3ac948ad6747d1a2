"""5. Browser: a 48-tile wall in headless Chromium at 4 updates/s per tile.

The embedded default serves a wall display of one dashboard with 48 KPI tiles; the
simulator offers 192 updates/s round-robin over their 48 statistics (4 per tile per
second). Debian's Chromium, driven by Playwright over CDP, reports main-thread task
time (``Performance.getMetrics`` TaskDuration) and the JS heap after a forced GC at
each sample; the busy fraction excludes the forced GCs. Limits are the targets
(≤ 25 % busy, ≤ 5 MB/h heap growth); the same page idle (no updates) is measured first.
"""

import asyncio
import time

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

# Counts tile updates (each carries a new "as of" time; the load repeats values) and long
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


async def run(ctx: Context, result: Result) -> None:
    """Idle page first, then the loaded wall for 10 minutes (1 hour with --hour; seconds in smoke)."""
    from playwright.async_api import async_playwright

    idle_seconds = ctx.pick(2.0, 60.0)
    warmup = ctx.pick(2.0, 30.0)
    duration = ctx.pick(6.0, 600.0, 3600.0)
    interval = ctx.pick(2.0, 30.0, 60.0)
    rate = TILES * UPDATES_PER_TILE
    async with Stack("browser") as stack:
        await stack.start_simulator(TILES)
        seed = await stack.prepare(TILES, 1, kpi_tiles=True)
        web = await stack.start_web()
        await stack.wait_subscribed(TILES, check=web.proc.check_alive)
        url = f"{web.url}/wall/{seed['dashboards'][0]['wall_token']}/"
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                str(stack.dir / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1920, "height": 1080})
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.add_init_script(INIT_SCRIPT)
                await page.goto(url, wait_until="load")
                cdp = await context.new_cdp_session(page)
                await cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
                probe = PageProbe(cdp)

                async def tiles_fresh() -> bool:
                    return await page.locator('[data-statistic][data-state="fresh"]').count() >= TILES

                await wait_until(tiles_fresh, 60, f"{TILES} fresh tiles on the wall", interval=0.2,
                                 check=web.proc.check_alive)
                idle = await observe(probe, idle_seconds, interval)
                await stack.set_load(rate)
                await asyncio.sleep(warmup)  # Let the page reach steady state under load (fixed period).
                mutations_before = await page.evaluate("window.__bench.mutations")
                loaded = await observe(probe, duration, interval)
                bench_counts = await page.evaluate("window.__bench")
                fresh_tiles = await page.locator('[data-statistic][data-state="fresh"]').count()
                profile = await cpu_profile(cdp, ctx.pick(2.0, 20.0))
                await stack.set_load(0)
            finally:
                await context.close()
    result.profile = profile
    heap_growth = slope_per_hour(loaded["heap"])
    result.add("main-thread busy fraction under load", 100 * loaded["busy_fraction"], "%", "limit (target)",
               100 * BUSY_LIMIT, Target(AT_MOST, 1.0))
    result.add("main-thread busy fraction under load vs idle page", 100 * loaded["busy_fraction"], "%",
               "same page, no updates", 100 * idle["busy_fraction"])
    result.add("JS heap growth (after GC)", heap_growth, "MB/h", "limit (target)", HEAP_LIMIT_MB_PER_HOUR,
               Target(AT_MOST, 1.0))
    result.counts = {
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
