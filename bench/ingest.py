"""2. Bridge ingest: statistic updates taken in (and published) per CPU-second of the reader.

The simulator offers the same load to three readers in turn, each alone on the same
statistics: the bare aiohttp long-poll reader (the limit: HTTP + ``json.loads`` only),
the ``aiocometd-noloop`` client (the peer), and the bridge (``manage.py runbridge``:
decoding, latest-value store, coalescing fan-out, history). Updates per CPU-second of
each reader's process (from /proc) make the figure; the bridge's count is its own
``ccdash_updates_in`` counter, the peers count what they parsed.
"""

import asyncio
import json

from bench.common import AT_LEAST, Context, Result, Target
from bench.procs import PYTHON, CpuWindow, wait_until
from bench.profiling import profile_process
from bench.stack import Stack

# Where the bridge's CPU goes, innermost stage first (``bench.profiling.stage_shares``).
BRIDGE_STAGES = [
    ("history inserts (statsbridge.history)", ("statsbridge/history.py",)),
    ("value store writes (statsbridge.store)", ("statsbridge/store.py",)),
    ("metrics", ("statsbridge/metrics.py", "prometheus_client")),
    ("decoding (statsbridge.decoding)", ("statsbridge/decoding.py",)),
    ("JSON parsing (json)", ("json/decoder.py", "json/__init__.py")),
    ("HTTP (aiohttp)", ("aiohttp/",)),
    ("publishing (frames, channel layer, clock)", ("statsbridge/fanout.py", "statsbridge/frames.py",
                                                   "statsbridge/housekeeping.py", "channels/layers.py")),
    ("per-update handling (statsbridge.bridge: routing, offer)", ("statsbridge/bridge.py",)),
    ("Bayeux protocol (statsbridge.upstream.bayeux)", ("statsbridge/upstream/bayeux",)),
    ("thread hand-offs (submit, wake-ups)", ("ThreadPoolExecutor.submit", "_write_to_self", "call_soon_threadsafe")),
    ("event loop", ("asyncio/",)),
]
BRIDGE_WAITING = ("EpollSelector.select", "_PollLikeSelector.select", "_worker (concurrent/futures/thread.py:81)",
                  "wait (threading.py")

CREDENTIALS = {"api_key": "demo-api-key", "client_id": "demo-client", "client_secret": "demo-secret"}


async def _measure(stack: Stack, proc, count, rate: float, warmup: float, window: float) -> dict:
    """Offer ``rate`` updates/s, then count updates and CPU over ``window`` seconds."""
    await stack.set_load(rate)
    await asyncio.sleep(warmup)  # Reach steady state before the window opens (not a wait for a condition).
    cpu = CpuWindow([proc.pid])
    before, sent_before = await count(), (await stack.sim_state())["loadUpdatesSent"]
    cpu.start()
    await asyncio.sleep(window)
    cpu.stop()
    after, state = await count(), await stack.sim_state()
    await stack.set_load(0)
    proc.check_alive()
    updates = after - before
    return {"updates": updates, "offered": state["loadUpdatesSent"] - sent_before, "cpu": cpu.cpu, "wall": cpu.wall,
            "per_cpu_second": updates / cpu.cpu if cpu.cpu else None, "dropped": state["droppedMessages"]}


async def _peer(stack: Stack, kind: str, stats_file, n: int, rate, warmup, window) -> dict:
    report = stack.dir / f"{kind}.report.json"
    proc = stack.spawn(kind, [PYTHON, "-m", "bench.readers", kind, "--api", stack.sim_url, "--stats", str(stats_file),
                              "--report", str(report)], {"BENCH_CREDENTIALS": json.dumps(CREDENTIALS)})

    def read() -> dict:
        try:
            return json.loads(report.read_text())
        except (OSError, ValueError):
            return {}

    async def ready() -> bool:
        return bool(read().get("ready"))

    async def count() -> int:
        return read().get("updates", 0)

    await wait_until(ready, 30, f"the {kind} reader to subscribe", check=proc.check_alive)
    await stack.wait_subscribed(n, check=proc.check_alive)
    figures = await _measure(stack, proc, count, rate, warmup, window)
    await stack.stop(proc)
    await stack.sim_post("/simulator/forget-clients", {})
    return figures


async def _bridge(stack: Stack, n: int, rate, warmup, window, profile_seconds: float) -> tuple:
    proc, metrics_port = await stack.start_runbridge()

    async def count() -> float:
        return await stack.get_metric(metrics_port, "ccdash_updates_in_total")

    await stack.wait_subscribed(n, check=proc.check_alive)
    figures = await _measure(stack, proc, count, rate, warmup, window)
    profile = None
    if profile_seconds:
        await stack.set_load(rate)
        profile = await profile_process(proc.pid, profile_seconds, stack.dir / "bridge.profile.txt",
                                        BRIDGE_STAGES, BRIDGE_WAITING)
        await stack.set_load(0)
    await stack.stop(proc)
    await stack.sim_post("/simulator/forget-clients", {})
    return figures, profile


async def run(ctx: Context, result: Result) -> None:
    """Measure the three readers in turn on the same statistics and load."""
    n = ctx.pick(200, 1000)
    rate = ctx.pick(1000, 5000)
    warmup, window = ctx.pick(1.0, 5.0), ctx.pick(3.0, 20.0)
    async with Stack("ingest") as stack:
        await stack.start_simulator(n)
        seed = await stack.prepare(n, 4)
        stats_file = stack.dir / "statistics.json"
        stats_file.write_text(json.dumps(seed["statistics"]))
        bare = await _peer(stack, "bare", stats_file, n, rate, warmup, window)
        peer = await _peer(stack, "aiocometd", stats_file, n, rate, warmup, window)
        bridge, profile = await _bridge(stack, n, rate, warmup, window, 0 if ctx.smoke else 10)
    result.counts = {"statistics": n, "offered_updates_per_second": rate, "window_seconds": window,
                     **{f"{name}_{k}": round(v, 3) if isinstance(v, float) else v
                        for name, figures in (("bare", bare), ("aiocometd", peer), ("bridge", bridge))
                        for k, v in figures.items()}}
    unit = "updates/CPU-s"
    result.add("bridge vs bare long-poll reader (limit)", bridge["per_cpu_second"], unit,
               "bare aiohttp long-poll reader", bare["per_cpu_second"], Target(AT_LEAST, 0.8))
    # At least the peer's rate (the old "at least 2x" is withdrawn, issue 20: aiocometd-noloop
    # measures ~0.8x the bare reader, so 2x it would be 1.6x the limit itself).
    result.add("bridge vs aiocometd-noloop", bridge["per_cpu_second"], unit,
               "aiocometd-noloop client", peer["per_cpu_second"], Target(AT_LEAST, 1.0))
    result.add("bridge updates taken in vs offered", bridge["updates"] / bridge["wall"], "updates/s",
               "offered by the simulator", bridge["offered"] / bridge["wall"], Target(AT_LEAST, 0.95))
    result.notes.append(f"Each reader alone on the simulator, {n} statistics, {rate} offered updates/s, "
                        f"{window:g} s window after {warmup:g} s warm-up; CPU from /proc of the reader's process.")
    result.notes.append("The bridge runs as `manage.py runbridge` (in-memory channel layer, local-memory cache, "
                        "SQLite history): the embedded default's code path without daphne.")
    if profile:
        result.profile = profile
