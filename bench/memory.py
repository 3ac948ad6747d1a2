"""6. Bridge memory: RSS of ``manage.py runbridge`` holding 10,000 and 100,000 statistics.

Each size gets a fresh stack; the bridge subscribes everything, takes 1,000 updates/s
for a while (latest values, history, fan-out all populated), and its resident memory
is read from /proc. Each size has its own limit as the target: 200 MB at 10,000
statistics, 400 MB at 100,000 (the scale a large Stat Server deployment holds).
"""

import asyncio

from bench.common import AT_MOST, Context, Result, Target
from bench.stack import Stack

SAMPLES = 5
STATISTICS_PER_DASHBOARD = 1000
# Statistics -> RSS limit (MB), the target at that size.
LIMITS_MB = {10_000: 200.0, 100_000: 400.0}


async def bridge_rss(n: int, dashboards: int, rate: float, settle: float) -> dict:
    """Peak RSS (MB) of a runbridge process holding ``n`` statistics under ``rate`` updates/s."""
    async with Stack(f"memory-{n}") as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        proc, metrics_port = await stack.start_runbridge()
        subscribe_seconds = await stack.wait_subscribed(n, timeout=max(120, n / 200), check=proc.check_alive)
        start_rss = proc.rss()
        await stack.set_load(rate)
        peak = 0
        for _ in range(SAMPLES):
            await asyncio.sleep(settle / SAMPLES)  # Sampling period of a fixed-length run.
            peak = max(peak, proc.rss())
        updates = await stack.get_metric(metrics_port, "ccdash_updates_in_total")
        await stack.set_load(0)
        proc.check_alive()
    return {"rss_mb": peak / 2**20, "rss_after_subscribe_mb": start_rss / 2**20, "updates_in": updates,
            "seconds_to_subscribe": subscribe_seconds}


def limit_for(n: int) -> float:
    """The RSS limit (MB) of the nearest size with a target at or above ``n``."""
    return next((limit for size, limit in sorted(LIMITS_MB.items()) if n <= size), max(LIMITS_MB.values()))


async def run(ctx: Context, result: Result) -> None:
    """10k and 100k statistics (smoke: 100 and 300, each held to the 10k limit)."""
    sizes = ctx.pick((100, 300), (10_000, 100_000))
    rate, settle = ctx.pick(200, 1000), ctx.pick(2.0, 30.0)
    measured = {}
    for n in sizes:
        measured[n] = await bridge_rss(n, max(1, n // STATISTICS_PER_DASHBOARD), rate, settle)
    for n in sizes:
        limit = limit_for(n)
        result.add(f"bridge RSS at {n:,} statistics", measured[n]["rss_mb"], "MB",
                   f"limit (target at {n:,})", limit, Target(AT_MOST, 1.0))
    small, large = sizes
    per_stat = (measured[large]["rss_mb"] - measured[small]["rss_mb"]) * 2**20 / (large - small)
    result.counts = {"updates_per_second": rate, "settle_seconds": settle,
                     "statistics_per_dashboard": STATISTICS_PER_DASHBOARD,
                     "bytes_per_extra_statistic": round(per_stat),
                     **{f"{n} {k}": round(v, 1) for n, m in measured.items() for k, v in m.items()}}
    result.notes.append(f"`manage.py runbridge` (in-memory layer, local-memory cache, SQLite history) per size, "
                        f"dashboards of {STATISTICS_PER_DASHBOARD:,} statistics, peak of {SAMPLES} /proc samples "
                        f"over {settle:g} s at {rate} updates/s after every statistic was subscribed.")
