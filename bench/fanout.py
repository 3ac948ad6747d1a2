"""3. Fan-out: values reaching WebSocket clients against the ideal, and CPU per delivered value.

A web process (daphne + the project's consumers, no bridge) runs a synthetic
publisher that offers a fixed number of updates/s through the coalescing ``Fanout``
(``bench/webproc.py``); client swarms in other processes count the values that reach
the clients. Every statistic is on one dashboard, so the ideal is offered updates/s ×
clients per dashboard; the web process's CPU seconds over the values delivered give
the CPU per value. Both layers: in-memory (embedded default) and channels_redis. Where
deliveries fall short, the window's accounting says where they went (updates the
publisher skipped, frames the layer dropped for full channels, queues that grew), the
client processes' CPU shows whether the load generator kept up, and a py-spy profile of
the 1,000-client web process shows where its CPU goes.

There is no naive peer any more: one ``group_send`` per update per dashboard saturated
the process at this rate and delivered nothing at 1,000 clients, so a ratio against it
measured its collapse (see ``bench/webproc.py``).

Then memory per idle connection, desk and wall sockets: RSS of the web process before
and after opening idle sockets.
"""

import asyncio
import json
import math
import signal

from bench.common import AT_LEAST, AT_MOST, Context, Result, Target
from bench.latency import runqueue_seconds
from bench.procs import BenchError, CpuWindow, wait_until
from bench.profiling import profile_process
from bench.stack import Stack
from bench.swarm import histogram, histogram_percentiles, start_swarm

IDLE_LIMIT_BYTES = 40 * 1024
IDEAL_SHARE_TARGET = 0.99
CPU_PER_VALUE_LIMIT_US = 5.0
# At most this many clients per client process: one process reading 1,000 sockets used
# ~0.3 cores at the ideal rate, but a single event loop must not be what limits deliveries.
CLIENTS_PER_SWARM_PROCESS = 500
PROFILE_SECONDS = 10
# Sockets each client process opens at once (handshake to snapshot): at the client's
# default of 50 (100 in flight over two processes) a machine at load ~10 queued their
# openings on the web process's one database thread past daphne's 5 s handshake limit,
# and 1,000 clients could not connect (see bench/scale.py).
CONNECT_CONCURRENCY = 10
# A client process this busy (cores) may itself be what limits deliveries.
CLIENT_SATURATED_CORES = 0.8


def _publisher_args(stack: Stack, mode: str, rate: float, name: str) -> tuple:
    report, go = stack.dir / f"{name}.publisher.json", stack.dir / f"{name}.go"
    return ["-m", "bench.webproc", "--mode", mode, "--rate", str(rate),
            "--report", str(report), "--go", str(go)], report, go


def window_figures(before: dict, after: dict, pub_before: dict, pub_after: dict, web_cpu: CpuWindow,
                   client_cores: list, clients_per_dashboard: float, web_waiting: float = 0.0) -> dict:
    """Pure: what one window measured, from the swarm's and the publisher's reports at its ends.

    ``ideal_per_second``: every update the publisher was due to offer (offered + skipped)
    × clients per dashboard. The shortfall is split into updates the publisher skipped
    (its loop too late), updates coalescing merged (a newer value of the statistic came
    before the flush: flushes further apart than the statistic's update period), frames
    the layer dropped for full channels, and the growth of the layer's queues (values
    published but still waiting for their socket); the rest is in flight (in daphne's or
    the kernel's buffers, or being read). ``web_waiting``: seconds the web process's
    threads waited for a CPU in the window (the machine starving it, not its own cost).
    """
    wall = web_cpu.wall
    delta = {key: pub_after.get(key, 0) - pub_before.get(key, 0)
             for key in ("offered", "skipped", "merged", "flushes", "flush_seconds", "layer_dropped",
                         "layer_over_capacity_sends")}
    values = after["values"] - before["values"]
    due = delta["offered"] + delta["skipped"]
    ideal = due * clients_per_dashboard
    latency = histogram_percentiles(histogram(after) - histogram(before))
    return {"values_in_window": values, "window_seconds": wall,
            "deliveries_per_second": values / wall, "ideal_per_second": ideal / wall,
            "share_of_ideal": values / ideal if ideal else None,
            "web_cpu_us_per_value": web_cpu.cpu / values * 1e6 if values else None,
            "frames_per_second": (after["frames"] - before["frames"]) / wall,
            "snapshots_in_window": after["snapshots"] - before["snapshots"],
            "offered_per_second": delta["offered"] / wall, "skipped_per_second": delta["skipped"] / wall,
            "lost_to_skips_per_second": delta["skipped"] * clients_per_dashboard / wall,
            "merged_per_second": delta["merged"] / wall,
            "lost_to_merges_per_second": delta["merged"] * clients_per_dashboard / wall,
            "flushes_per_second": delta["flushes"] / wall,
            "flush_ms_mean": delta["flush_seconds"] / delta["flushes"] * 1000 if delta["flushes"] else None,
            "flush_ms_max": pub_after.get("flush_seconds_max", 0) * 1000,
            "flush_gap_ms_max": pub_after.get("flush_gap_max", 0) * 1000,
            "web_waiting_for_cpu": web_waiting / wall,
            "layer_dropped_per_second": delta["layer_dropped"] / wall,
            "layer_over_capacity_sends": delta["layer_over_capacity_sends"],
            "layer_queued_growth": pub_after.get("layer_queued", 0) - pub_before.get("layer_queued", 0),
            "layer_queued_at_end": pub_after.get("layer_queued", 0),
            "p50_ms": latency[0.5], "p99_ms": latency[0.99], "web_cores": web_cpu.cores,
            "client_cores": sum(client_cores), "busiest_client_process_cores": max(client_cores, default=0.0)}


def shortfall_note(name: str, figures: dict) -> str:
    """Pure: where the values missing from the ideal went, in words."""
    ideal, delivered = figures["ideal_per_second"], figures["deliveries_per_second"]
    missing = ideal - delivered
    skips, dropped = figures["lost_to_skips_per_second"], figures["layer_dropped_per_second"]
    merges = figures["lost_to_merges_per_second"]
    queued = figures["layer_queued_growth"] / figures["window_seconds"]
    rest = missing - skips - merges - dropped
    client = figures["busiest_client_process_cores"]
    return (f"{name}: {delivered:,.0f} of {ideal:,.0f} values/s ({figures['share_of_ideal'] or 0:.3f}×), "
            f"{missing:,.0f}/s missing: {skips:,.0f}/s from updates the publisher skipped "
            f"({figures['skipped_per_second']:.1f} updates/s: its event loop woke more than 1 s late), "
            f"{merges:,.0f}/s merged by coalescing ({figures['merged_per_second']:.1f} updates/s replaced before "
            f"their flush: {figures['flushes_per_second']:.2f} flushes/s, each {figures['flush_ms_mean'] or 0:.0f} ms "
            f"mean, {figures['flush_ms_max']:.0f} ms max, up to {figures['flush_gap_ms_max']:.0f} ms apart), "
            f"{dropped:,.0f}/s dropped by the layer for full channels, {rest:,.0f}/s published but not delivered "
            f"in the window (negative: more arrived from before it; layer queues grew by {queued:,.1f} "
            f"messages/s, {figures['layer_queued_at_end']:,} queued at the end); "
            f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms; "
            f"{figures['snapshots_in_window']:,} snapshots re-sent; web process {figures['web_cores']:.2f} cores, "
            f"waiting for a CPU {figures['web_waiting_for_cpu']:.2f} s/s; busiest client process {client:.2f} cores"
            + (" (saturated: the load generator may be the limit)" if client >= CLIENT_SATURATED_CORES else "")
            + ".")


async def deliveries(stack: Stack, clients: int, dashboards: int, rate: float, warmup: float, window: float,
                     name: str, profile: bool = False) -> dict:
    """Values/s reaching ``clients`` clients with ``rate`` updates/s offered; ``profile``: py-spy the
    web process for ``PROFILE_SECONDS`` after the window, under the same load."""
    if clients % dashboards:
        raise BenchError(f"{clients} clients do not divide evenly over {dashboards} dashboards")
    args, report_path, go = _publisher_args(stack, "coalesced", rate, name)
    web = await stack.start_web(name, module=args, bridge=False)
    swarm = await start_swarm(stack, web, clients, f"{name}-clients",
                              processes=math.ceil(clients / CLIENTS_PER_SWARM_PROCESS),
                              connect_concurrency=CONNECT_CONCURRENCY)
    try:
        await swarm.wait_ready()
        go.touch()
        await asyncio.sleep(warmup)  # A fixed warm-up period before the window, not a wait for a condition.
        before, pub_before = swarm.report(), json.loads(report_path.read_text())
        cpu = CpuWindow([web.proc.pid])
        client_cpus = [CpuWindow([proc.pid]) for proc in swarm.procs]
        waited = runqueue_seconds([web.proc.pid])
        for window_cpu in (cpu, *client_cpus):
            window_cpu.start()
        await asyncio.sleep(window)
        for window_cpu in (cpu, *client_cpus):
            window_cpu.stop()
        waited = runqueue_seconds([web.proc.pid]) - waited
        after, pub_after = swarm.report(), json.loads(report_path.read_text())
        web.proc.check_alive()
        swarm.check_alive()
        spied = (await profile_process(web.proc.pid, PROFILE_SECONDS, stack.dir / f"{name}.profile.txt")
                 if profile else None)
    finally:
        await swarm.stop(stack)
        await stack.stop(web.proc)
    figures = window_figures(before, after, pub_before, pub_after, cpu, [c.cores for c in client_cpus],
                             clients / dashboards, waited)
    return {**figures, "profile": spied}


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
        await swarms[-1].wait_ready()
        await asyncio.sleep(settle)
        after = web.proc.rss()
        if trace:
            web.proc.popen.send_signal(signal.SIGUSR1)
            await wait_until(_exists(traced), 60, "the allocation diff", check=web.proc.check_alive)
        web.proc.check_alive()
    finally:
        for swarm in swarms:
            await swarm.stop(stack)
        await stack.stop(web.proc)
    return {"rss_before": before, "rss_after": after, "per_connection": (after - before) / clients,
            "allocations": traced.read_text() if trace else None}


def _exists(path):
    async def exists() -> bool:
        return path.exists()
    return exists


def add_delivery_figures(result: Result, layer: str, clients: int, figures: dict) -> None:
    """Deliveries against the ideal, and web CPU per delivered value against its limit."""
    label = f"{layer} layer, {clients} clients"
    result.add(f"{label}: values delivered vs the ideal", figures["deliveries_per_second"], "values/s",
               "ideal (offered × clients per dashboard)", figures["ideal_per_second"],
               Target(AT_LEAST, IDEAL_SHARE_TARGET))
    result.add(f"{label}: web CPU per delivered value", figures["web_cpu_us_per_value"], "µs",
               "limit (target)", CPU_PER_VALUE_LIMIT_US, Target(AT_MOST, 1.0))


async def run(ctx: Context, result: Result) -> None:
    """Deliveries vs the ideal at 200 and 1,000 clients on both layers; idle memory per desk and wall connection."""
    n, dashboards, rate = ctx.pick(200, 1000), ctx.pick(4, 10), ctx.pick(500, 2000)
    client_counts = ctx.pick([20], [200, 1000])
    layers = ctx.pick(["memory"], ["memory", "redis"])
    warmup, window = ctx.pick(1.0, 3.0), ctx.pick(2.0, 30.0)
    measured: dict = {}
    profiles = []
    for layer in layers:
        async with Stack(f"fanout-{layer}", redis=layer == "redis") as stack:
            await stack.start_simulator(n)  # Only for the catalogue the seed uses.
            await stack.prepare(n, dashboards)
            for clients in client_counts:
                name = f"{layer}-{clients}"
                try:
                    measured[name] = await deliveries(stack, clients, dashboards, rate, warmup, window, name,
                                                      profile=clients >= 1000 and not ctx.smoke)
                except BenchError as error:
                    result.notes.append(f"{layer} layer, {clients} clients could not be measured: {error}")
                    continue
                add_delivery_figures(result, layer, clients, measured[name])
                result.notes.append(shortfall_note(name, measured[name]))
                if measured[name]["profile"]:
                    profiles.append(f"web process, {layer} layer, {clients} clients, "
                                    f"{PROFILE_SECONDS} s under the same load:\n{measured[name]['profile']}")
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
            profiles.append(f"Idle {worst} connections over the limit; 200 more sockets, {traced['allocations']}")
    for kind, figures in idle.items():
        label = "memory per idle WebSocket connection" + (" (wall display)" if kind == "wall" else "")
        result.add(label, figures["per_connection"] / 1024, "KB", "limit (target)", IDLE_LIMIT_BYTES / 1024,
                   Target(AT_MOST, 1.0))
    result.profile = "\n\n".join(profiles) or None
    result.counts = {"statistics": n, "dashboards": dashboards, "offered_updates_per_second": rate,
                     "window_seconds": window, "idle_clients": idle_clients,
                     **{f"idle_{kind}_rss_{when}_mb": round(figures[f"rss_{when}"] / 2**20, 1)
                        for kind, figures in idle.items() for when in ("before", "after")}}
    for name, figures in measured.items():
        for key, value in figures.items():
            if key != "profile":
                result.counts[f"{name} {key}"] = None if value is None else round(value, 2)
    result.notes.append(f"Statistics are updated round-robin, each every {n / rate:g} s, so "
                        "coalescing merges nothing while a dashboard's (self-clocked) publish round lasts less "
                        "than that, and every "
                        "update is due to every client of its dashboard: the "
                        "ideal is (offered + skipped) updates/s × clients per dashboard, "
                        f"{rate:,} × {max(client_counts) // dashboards} = "
                        f"{rate * max(client_counts) // dashboards:,} values/s at {max(client_counts)} clients. "
                        "CPU per delivered value = the web process's CPU seconds in the window ÷ values delivered.")
    result.notes.append(f"{rate} synthetic updates/s over {n} statistics on {dashboards} dashboards, published "
                        "inside the web process (`bench/webproc.py`, coalescing `Fanout` with the bridge's self-clocked "
                        f"publish loop, history off); clients round-robin over the dashboards in client processes of at most "
                        f"{CLIENTS_PER_SWARM_PROCESS} clients each; a {window:g} s window after {warmup:g} s of "
                        "warm-up. The publisher offers each 10 ms tick's updates in bulk, as the bridge "
                        "offers a CometD message's; updates it could not hand over within 1 s are skipped "
                        "(counted): up to that, a late loop catches up as the bridge reading a queued long-poll "
                        "would (the p99 shows the lateness). No naive peer: one `group_send` "
                        "per update per dashboard delivered 0 values at 1,000 clients, so a ratio against it "
                        "measured nothing.")
    result.notes.append(f"Idle memory: {idle_clients} idle desk sockets (`ws/dashboards/`, session cookie), then "
                        f"{idle_clients} wall sockets (`ws/wall/<token>/`), each after 5 warm-up sockets.")
