"""3. Fan-out: value deliveries/s reaching WebSocket clients, coalescing vs one group_send per update.

A web process (daphne + the project's consumers, no bridge) runs a synthetic
publisher offering the same updates/s either through the coalescing ``Fanout`` or
through the naive path (the peer): one ``group_send`` per update per dashboard. A
client swarm in another process counts the values that reach the clients. Both
layers: in-memory (embedded default) and channels_redis. Then memory per idle
connection, desk and wall sockets: RSS of the web process before and after opening
idle sockets.
"""

import asyncio
import json
import signal

from bench.common import AT_LEAST, AT_MOST, Context, Result, Target
from bench.procs import BenchError, CpuWindow, wait_until
from bench.stack import Stack
from bench.swarm import histogram, histogram_percentiles, start_swarm

IDLE_LIMIT_BYTES = 40 * 1024
CONNECT_SECONDS = 240


def _publisher_args(stack: Stack, mode: str, rate: float, name: str, tick: float = 0.25) -> tuple:
    report, go = stack.dir / f"{name}.publisher.json", stack.dir / f"{name}.go"
    return ["-m", "bench.webproc", "--mode", mode, "--rate", str(rate), "--tick", str(tick),
            "--report", str(report), "--go", str(go)], report, go


async def deliveries(stack: Stack, mode: str, clients: int, rate: float, warmup: float, window: float,
                     name: str) -> dict:
    """Values/s reaching ``clients`` clients with ``mode`` publishing ``rate`` updates/s."""
    args, report_path, go = _publisher_args(stack, mode, rate, name)
    web = await stack.start_web(name, module=args, bridge=False)
    swarm = await start_swarm(stack, web, clients, f"{name}-clients")
    try:
        await swarm.wait_ready(CONNECT_SECONDS)
        go.touch()
        await asyncio.sleep(warmup)  # A fixed warm-up period before the window, not a wait for a condition.
        before, pub_before = swarm.report(), json.loads(report_path.read_text())
        cpu = CpuWindow([web.proc.pid])
        swarm_cpu = CpuWindow([swarm.proc.pid])
        cpu.start()
        swarm_cpu.start()
        await asyncio.sleep(window)
        cpu.stop()
        swarm_cpu.stop()
        after, pub_after = swarm.report(), json.loads(report_path.read_text())
        web.proc.check_alive()
        swarm.proc.check_alive()
    finally:
        await stack.stop(swarm.proc)
        await stack.stop(web.proc)
    latency = histogram_percentiles(histogram(after) - histogram(before))
    return {"values_in_window": after["values"] - before["values"], "window_seconds": cpu.wall,
            "deliveries_per_second": (after["values"] - before["values"]) / cpu.wall,
            "frames_per_second": (after["frames"] - before["frames"]) / cpu.wall,
            "snapshots_per_second": (after["snapshots"] - before["snapshots"]) / cpu.wall,
            "offered_per_second": (pub_after["offered"] - pub_before["offered"]) / cpu.wall,
            "skipped_per_second": (pub_after["skipped"] - pub_before["skipped"]) / cpu.wall,
            "group_sends_per_second": (pub_after["group_sends"] - pub_before["group_sends"]) / cpu.wall,
            "p99_ms": latency[0.99], "web_cores": cpu.cores, "client_cores": swarm_cpu.cores}


async def idle_memory(stack: Stack, clients: int, settle: float, trace: bool = False, walls: bool = False) -> dict:
    """RSS growth of a web process per idle WebSocket connection (``trace``: also where Python allocated)."""
    name = ("idle-walls" if walls else "idle") + ("-trace" if trace else "")
    args, _, _ = _publisher_args(stack, "idle", 0, name)
    traced = stack.dir / f"{name}.tracemalloc.txt"
    if trace:
        args += ["--tracemalloc", str(traced)]
    web = await stack.start_web(name, module=args, bridge=False)
    swarms = []
    try:
        # Warm the process (imports, first connection, caches) with a few sockets first.
        swarms.append(await start_swarm(stack, web, 5, f"{name}-warm", walls=walls))
        await swarms[-1].wait_ready()
        await asyncio.sleep(settle)  # Let allocations from start-up settle (fixed period, not a condition).
        before = web.proc.rss()
        if trace:
            web.proc.popen.send_signal(signal.SIGUSR1)
        swarms.append(await start_swarm(stack, web, clients, f"{name}-clients", walls=walls))
        await swarms[-1].wait_ready(CONNECT_SECONDS)
        await asyncio.sleep(settle)
        after = web.proc.rss()
        if trace:
            web.proc.popen.send_signal(signal.SIGUSR1)
            await wait_until(_exists(traced), 60, "the allocation diff", check=web.proc.check_alive)
        web.proc.check_alive()
    finally:
        for swarm in swarms:
            await stack.stop(swarm.proc)
        await stack.stop(web.proc)
    return {"rss_before": before, "rss_after": after, "per_connection": (after - before) / clients,
            "allocations": traced.read_text() if trace else None}


def _exists(path):
    async def exists() -> bool:
        return path.exists()
    return exists


def compare(result: Result, layer: str, clients: int, coalesced: dict, naive: dict) -> None:
    """Add the coalescing-vs-naive figure; when the naive path delivered nothing in the
    window, its rate is taken as one value per window, so the ratio is a lower bound."""
    name = f"{layer} layer, {clients} clients: deliveries/s coalescing vs naive"
    reference = naive["deliveries_per_second"]
    if naive["values_in_window"] == 0:
        reference = 1 / naive["window_seconds"]
        name += f" (lower bound: naive delivered 0 values in {naive['window_seconds']:.0f} s, counted as 1)"
    result.add(name, coalesced["deliveries_per_second"], "values/s", "naive group_send per update", reference,
               Target(AT_LEAST, 10.0))


async def run(ctx: Context, result: Result) -> None:
    """Coalescing vs naive at 200 and 1,000 clients on both layers; idle memory per desk and wall connection."""
    n, dashboards, rate = ctx.pick(200, 1000), ctx.pick(4, 10), ctx.pick(500, 2000)
    client_counts = ctx.pick([20], [200, 1000])
    layers = ctx.pick(["memory"], ["memory", "redis"])
    # 30 s: the naive path's deliveries come in bursts (channels_redis at 1,000 clients
    # delivered nothing in a 10 s window), so a short window measures the burst, not the path.
    warmup, window = ctx.pick(1.0, 3.0), ctx.pick(2.0, 30.0)
    measured: dict = {}
    for layer in layers:
        async with Stack(f"fanout-{layer}", redis=layer == "redis") as stack:
            await stack.start_simulator(n)  # Only for the catalogue the seed uses.
            await stack.prepare(n, dashboards)
            for clients in client_counts:
                try:
                    for mode in ("coalesced", "naive"):
                        name = f"{layer}-{clients}-{mode}"
                        measured[name] = await deliveries(stack, mode, clients, rate, warmup, window, name)
                except BenchError as error:
                    result.notes.append(f"{layer} layer, {clients} clients could not be measured: {error}")
                    continue
                compare(result, layer, clients, measured[f"{layer}-{clients}-coalesced"],
                        measured[f"{layer}-{clients}-naive"])
    idle_clients, settle = ctx.pick(50, 1000), ctx.pick(0.5, 3.0)
    idle = {}
    async with Stack("fanout-idle") as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        for kind in ("desk", "wall"):
            idle[kind] = await idle_memory(stack, idle_clients, settle, walls=kind == "wall")
        worst = max(idle, key=lambda kind: idle[kind]["per_connection"])
        if idle[worst]["per_connection"] > IDLE_LIMIT_BYTES and not ctx.smoke:
            traced = await idle_memory(stack, 200, 3.0, trace=True, walls=worst == "wall")
            result.profile = f"Idle {worst} connections over the limit; 200 more sockets, {traced['allocations']}"
    for kind, figures in idle.items():
        label = "memory per idle WebSocket connection" + (" (wall display)" if kind == "wall" else "")
        result.add(label, figures["per_connection"] / 1024, "KB", "limit (target)", IDLE_LIMIT_BYTES / 1024,
                   Target(AT_MOST, 1.0))
    result.counts = {"statistics": n, "dashboards": dashboards, "offered_updates_per_second": rate,
                     "window_seconds": window, "idle_clients": idle_clients,
                     **{f"idle_{kind}_rss_{when}_mb": round(figures[f"rss_{when}"] / 2**20, 1)
                        for kind, figures in idle.items() for when in ("before", "after")}}
    for name, figures in measured.items():
        for key, value in figures.items():
            result.counts[f"{name} {key}"] = None if value is None else round(value, 2)
    result.notes.append("Statistics are updated round-robin, each less often than once per 0.25 s tick, so "
                        "coalescing merges nothing: the ideal is offered updates/s × clients per dashboard, "
                        f"= {rate * max(client_counts) // dashboards:,} values/s at {max(client_counts)} clients. "
                        "Where coalescing reaches the ideal, the ratio is capped at ideal ÷ naive.")
    result.notes.append(f"{rate} synthetic updates/s over {n} statistics on {dashboards} dashboards, published "
                        "inside the web process (`bench/webproc.py`); clients round-robin over the dashboards "
                        f"in one separate process; history recording off in both paths; each path measured over "
                        f"the same {window:g} s window after {warmup:g} s of warm-up. A naive update that reaches "
                        "only some clients counts the values that arrived.")
    result.notes.append("Offered updates the naive path could not hand to the layer within 0.1 s are dropped "
                        "(counted as skipped): an unbounded backlog would only hide the same limit as lag.")
    result.notes.append(f"Idle memory: {idle_clients} idle desk sockets (`ws/dashboards/`, session cookie), then "
                        f"{idle_clients} wall sockets (`ws/wall/<token>/`), each after 5 warm-up sockets.")
