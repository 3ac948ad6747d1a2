"""1. Update-to-browser latency as a curve: simulator send time → arrival at 200 WebSocket clients.

The simulator stamps each update with its send time (the Stat Server ``timestamp``)
and offers 200, 2,000 and 10,000 updates/s spread over the subscribed statistics to two
deployments: the embedded default (``manage.py serve``: daphne + bridge + in-memory
layer) and ``runbridge`` + channels_redis (a separate bridge process, one web process
``serve --no-bridge``). 200 dashboard WebSocket clients in another process record
arrival − timestamp. Each point's p99 is a figure against the target (p99 ≤ 50 ms); the
curve is also a table of p50, p99, frames and the web process's (and bridge's) cores.
The fan-out is self-clocked (``statsbridge.clocking``): a dashboard's next batch leaves
once the previous one reached its sockets, no sooner than ``BRIDGE_FRAME_FLOOR_SECONDS``.
"""

import asyncio
from pathlib import Path

from bench.common import AT_MOST, Context, Result, Target
from bench.procs import BenchError, CpuWindow
from bench.profiling import profile_process
from bench.stack import Stack
from bench.swarm import histogram, histogram_percentiles, start_swarm

TARGET_P99_MS = 50.0
RATES = (200, 2000, 10000)
# Keeps every dashboard's sockets from idling while clients connect (channels_redis: see bench.scale).
TRICKLE_PER_DASHBOARD = 2.0


def runqueue_seconds(pids) -> float:
    """Seconds the threads of ``pids`` spent runnable but waiting for a CPU (``/proc/<pid>/task/*/schedstat``).

    Beside the CPU seconds, it tells a process that is slow from one the machine starves.
    """
    total = 0
    for pid in pids:
        for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(path.read_text().split()[1])
            except (OSError, ValueError, IndexError):  # A thread ended meanwhile.
                continue
    return total / 1e9


async def measure(stack: Stack, web, clients: int, rate: float, warmup: float, window: float,
                  swarm_name: str = "clients", trickle: float = 0.0, bridge_pid: int | None = None) -> dict:
    """Run a swarm against ``web`` (one or a list) under ``rate`` updates/s; latency over ``window``.

    ``trickle`` updates/s are offered while the clients connect (see ``bench.scale``).
    Returns percentiles, deliveries (values/s at the clients), and the web processes' cores
    (and ``bridge_pid``'s, when given).
    """
    webs = web if isinstance(web, list) else [web]
    await stack.set_load(trickle)
    swarm = await start_swarm(stack, webs, clients, swarm_name)
    await swarm.wait_ready()
    await stack.set_load(rate)
    await asyncio.sleep(warmup)  # Steady state before the window (a fixed measurement period, not a wait).
    before = swarm.report()
    pids = [w.proc.pid for w in webs]
    cpu = CpuWindow(pids)
    bridge_cpu = CpuWindow([bridge_pid] if bridge_pid else [])
    waited = runqueue_seconds(pids)
    cpu.start()
    bridge_cpu.start()
    sent_before = (await stack.sim_state())["loadUpdatesSent"]
    await asyncio.sleep(window)
    cpu.stop()
    bridge_cpu.stop()
    waited = runqueue_seconds(pids) - waited
    sent = (await stack.sim_state())["loadUpdatesSent"] - sent_before
    after = swarm.report()
    await stack.set_load(0)
    for w in webs:
        w.proc.check_alive()
    swarm.proc.check_alive()
    await stack.stop(swarm.proc)
    counts = histogram(after) - histogram(before)
    if not counts:
        raise BenchError(f"no fresh value reached the {clients} clients during the {window:g} s window")
    values = after["values"] - before["values"]
    return {"percentiles": histogram_percentiles(counts), "offered": sent, "web_cores": cpu.cores,
            "web_waiting_for_cpu": waited / cpu.wall if cpu.wall else 0.0,
            "frames": after["frames"] - before["frames"], "values": values,
            "snapshots": after["snapshots"] - before["snapshots"],
            "deliveries_per_second": values / cpu.wall, "wall": cpu.wall, "bridge_cores": bridge_cpu.cores}


def add_latency_figures(result: Result, measured: dict, label: str = "") -> None:
    """p50/p95/p99/max as figures against the 50 ms limit (the p99 with the target)."""
    p = measured["percentiles"]
    for key, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"), ("max", "max")):
        result.add(f"{label}{name} latency", p[key], "ms", "limit (target p99)", TARGET_P99_MS,
                   Target(AT_MOST, 1.0) if name == "p99" else None)


def curve_row(deployment: str, rate: int, measured: dict) -> list:
    """One point of the curve as a table row (see ``CURVE_COLUMNS``)."""
    p, wall = measured["percentiles"], measured["wall"]
    cores = measured["web_cores"]
    values = measured["values"]
    return [deployment, rate, round(measured["offered"] / wall) if wall else None, round(p[0.5], 1),
            round(p[0.99], 1), round(p["max"], 1), round(measured["frames"] / wall) if wall else None,
            round(values / wall) if wall else None, round(cores, 2), round(measured["web_waiting_for_cpu"], 2),
            round(measured["bridge_cores"], 2) if measured.get("bridge_cores") else None,
            round(1e6 * cores * wall / values, 1) if values else None]


CURVE_COLUMNS = ["deployment", "offered upd/s", "sent upd/s", "p50 ms", "p99 ms", "max ms", "frames/s",
                 "values/s at clients", "web cores", "web waiting for CPU (s/s)", "bridge cores",
                 "web CPU µs per value"]


async def measure_deployment(ctx: Context, result: Result, deployment: str, rates, rows: list) -> None:
    """Every rate of ``rates`` on one deployment (``embedded`` or ``runbridge``), added to ``result`` and ``rows``."""
    n, dashboards = ctx.pick(200, 1000), ctx.pick(4, 10)
    clients = ctx.pick(20, 200)
    warmup, window = ctx.pick(1.0, 5.0), ctx.pick(3.0, 20.0)
    redis = deployment == "runbridge"
    async with Stack(f"latency-{deployment}", redis=redis) as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        bridge = None
        if redis:
            bridge, _ = await stack.start_runbridge()
            await stack.wait_subscribed(n, check=bridge.check_alive)
        web = await stack.start_web(bridge=not redis)
        if not redis:
            await stack.wait_subscribed(n, check=web.proc.check_alive)
        trickle = TRICKLE_PER_DASHBOARD * dashboards if redis else 0.0
        for rate in rates:
            measured = await measure(stack, web, clients, rate, warmup, window, f"clients-{rate}", trickle=trickle,
                                     bridge_pid=bridge.pid if bridge else None)
            add_latency_figures(result, measured, f"{deployment}, {rate:,} upd/s: ")
            rows.append(curve_row(deployment, rate, measured))
            result.counts[f"{deployment} {rate} latency_samples"] = measured["percentiles"]["count"]
            result.counts.setdefault("latency_samples", 0)
            result.counts["latency_samples"] += measured["percentiles"]["count"]
            if not ctx.smoke and not redis and rate == 2000:
                await stack.set_load(rate)
                result.profile = await profile_process(web.proc.pid, 10, stack.dir / "web.profile.txt")
                await stack.set_load(0)
    result.counts.update({"statistics": n, "dashboards": dashboards, "clients": clients, "window_seconds": window})


async def run(ctx: Context, result: Result) -> None:
    """200 clients over 10 dashboards of 1,000 statistics at each rate, embedded then with ``runbridge``."""
    rows: list = []
    # Filled point by point: a point that fails still leaves the curve measured so far.
    result.tables.append({"title": "Latency curve", "columns": CURVE_COLUMNS, "rows": rows})
    for deployment, rates in ctx.pick([("embedded", (500,))], [("embedded", RATES), ("runbridge", RATES)]):
        await measure_deployment(ctx, result, deployment, rates, rows)
    n, dashboards, clients = (result.counts[k] for k in ("statistics", "dashboards", "clients"))
    result.notes.append(f"{clients} clients round-robin over {dashboards} dashboards of {n} statistics, "
                        f"{result.counts['window_seconds']:g} s window per point; `embedded`: `manage.py serve "
                        "--bridge` (in-memory layer); `runbridge`: `manage.py runbridge` + `serve --no-bridge` on "
                        "channels_redis and a Redis cache (a trickle of updates while clients connect).")
    result.notes.append("Latency = arrival at the client − the simulator's send stamp, same clock. The fan-out is "
                        "self-clocked: a dashboard's next batch leaves once its previous one was handed to every "
                        "socket (runbridge: once each web process acknowledged its sockets), no sooner than "
                        "BRIDGE_FRAME_FLOOR_SECONDS (default 0.015 s) after it.")
    result.notes.append("`web waiting for CPU`: seconds per second the web process's threads were runnable but "
                        "waiting for a CPU (/proc schedstat); near or above its cores, the machine starved it "
                        "and the latency is mostly that wait.")
