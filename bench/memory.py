"""6. Bridge memory: RSS of ``manage.py runbridge`` holding 1,000 and 10,000 statistics.

Each size gets a fresh stack; the bridge subscribes everything, takes 1,000 updates/s
for a while (latest values, history, fan-out all populated), and its resident memory
is read from /proc. The limit is the target (200 MB at 10,000 statistics).
"""

import asyncio

from bench.common import AT_MOST, Context, Result, Target
from bench.stack import Stack

LIMIT_MB = 200.0
SAMPLES = 5


async def bridge_rss(n: int, dashboards: int, rate: float, settle: float) -> dict:
    """Peak RSS (MB) of a runbridge process holding ``n`` statistics under ``rate`` updates/s."""
    async with Stack(f"memory-{n}") as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        proc, metrics_port = await stack.start_runbridge()
        await stack.wait_subscribed(n, timeout=120, check=proc.check_alive)
        start_rss = proc.rss()
        await stack.set_load(rate)
        peak = 0
        for _ in range(SAMPLES):
            await asyncio.sleep(settle / SAMPLES)  # Sampling period of a fixed-length run.
            peak = max(peak, proc.rss())
        updates = await stack.get_metric(metrics_port, "ccdash_updates_in_total")
        await stack.set_load(0)
        proc.check_alive()
    return {"rss_mb": peak / 2**20, "rss_after_subscribe_mb": start_rss / 2**20, "updates_in": updates}


async def run(ctx: Context, result: Result) -> None:
    """1k and 10k statistics (smoke: 100 and 300)."""
    small, large = ctx.pick(100, 1000), ctx.pick(300, 10_000)
    rate, settle = ctx.pick(200, 1000), ctx.pick(2.0, 30.0)
    measured = {}
    for n in (small, large):
        measured[n] = await bridge_rss(n, 10, rate, settle)
    result.add(f"bridge RSS at {small:,} statistics", measured[small]["rss_mb"], "MB", "limit (target at 10k)",
               LIMIT_MB)
    result.add(f"bridge RSS at {large:,} statistics", measured[large]["rss_mb"], "MB", "limit (target at 10k)",
               LIMIT_MB, Target(AT_MOST, 1.0))
    per_stat = (measured[large]["rss_mb"] - measured[small]["rss_mb"]) * 2**20 / (large - small)
    result.counts = {"updates_per_second": rate, "settle_seconds": settle,
                     "bytes_per_extra_statistic": round(per_stat),
                     **{f"{n} {k}": round(v, 1) for n, m in measured.items() for k, v in m.items()}}
    result.notes.append(f"`manage.py runbridge` (in-memory layer, local-memory cache, SQLite history) per size, "
                        f"peak of {SAMPLES} /proc samples over {settle:g} s at {rate} updates/s after every "
                        "statistic was subscribed.")
