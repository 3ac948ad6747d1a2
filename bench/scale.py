"""7. Scale: figures 1 (latency) and 3 (deliveries/s) with one vs two web processes on channels_redis.

Scale-out deployment: PostgreSQL, Redis (channel layer + cache), one ``runbridge``
and one or two ``manage.py serve --no-bridge`` web processes; the same clients (200,
then 1,000 on fresh processes) alternate between the web processes. The reference of
each figure is the same figure with one web process in the same run. Note the machine
has two cores that also run the simulator, the bridge and the clients: this shows the
cost of the second process more than its gain.
"""

import asyncio
import math
import time

from bench.common import Context, Result
from bench.procs import BenchError, CpuWindow
from bench.profiling import profile_process
from bench.stack import Stack
from bench.swarm import connect_deadline, histogram, histogram_percentiles, start_swarm

# Keeps every dashboard's sockets from idling while clients connect: with channels_redis
# on redis-py 8, a receive idle for 5 s hits redis-py's default socket timeout and the
# consumer dies (see docs/benchmarks.md).
TRICKLE_PER_DASHBOARD = 2.0
# Sockets opening at once per client process (handshake to snapshot). Each desk socket's
# opening reads its session, user, dashboard and snapshot on the web process's one
# database thread, within daphne's 5 s handshake limit: at 20 per process (40 in
# flight) on a machine at load 15, handshakes took 3.6 s median and 14 s at most,
# then timed out together and connecting stalled at 388 of 1,000 sockets. More in
# flight only queue in the server; fewer connect as fast (the thread is the limit).
CONNECT_CONCURRENCY = 5
CLIENTS_PER_SWARM_PROCESS = 500
PROFILE_SECONDS = 10


def pool_exhaustions(log_text: str) -> int:
    """Pure: how often a web process's log says its Redis connection pool ran out."""
    return log_text.count("MaxConnectionsError: Too many connections")


async def measure(stack: Stack, webs: list, clients: int, rate: float, warmup: float, window: float,
                  name: str, trickle: float, profile: bool = False) -> dict:
    """Connect ``clients`` to ``webs`` under a trickle (deadline: ``swarm.connect_deadline``), then
    offer ``rate`` updates/s; latency and deliveries over ``window``; how long connecting took.
    ``profile``: py-spy the first web process for ``PROFILE_SECONDS`` after the window, same load."""
    await stack.set_load(trickle)
    swarm = await start_swarm(stack, webs, clients, name, processes=math.ceil(clients / CLIENTS_PER_SWARM_PROCESS),
                              connect_concurrency=CONNECT_CONCURRENCY)
    try:
        started = time.monotonic()
        await swarm.wait_ready(connect_deadline(clients))
        connect_seconds = time.monotonic() - started
        connecting = swarm.report()
        await stack.set_load(rate)
        await asyncio.sleep(warmup)  # Steady state before the window (a fixed measurement period, not a wait).
        before = swarm.report()
        cpu = CpuWindow([w.proc.pid for w in webs])
        cpu.start()
        await asyncio.sleep(window)
        cpu.stop()
        after = swarm.report()
        spied = (await profile_process(webs[0].proc.pid, PROFILE_SECONDS, stack.dir / f"{name}.profile.txt")
                 if profile else None)
        await stack.set_load(0)
        for w in webs:
            w.proc.check_alive()
        swarm.check_alive()
    finally:
        await swarm.stop(stack)
    counts = histogram(after) - histogram(before)
    if not counts:
        raise BenchError(f"no fresh value reached the {clients} clients during the {window:g} s window")
    values = after["values"] - before["values"]
    return {"percentiles": histogram_percentiles(counts), "web_cores": cpu.cores,
            "deliveries_per_second": values / cpu.wall, "snapshots": after["snapshots"] - before["snapshots"],
            "connect_seconds": connect_seconds, "connect_retries": connecting["connect_retries"],
            "connect_ms_max": connecting["connect_ms_max"], "profile": spied,
            "redis_pool_exhausted": sum(pool_exhaustions(w.proc.tail(100_000)) for w in webs)}


async def one_then_two(stack: Stack, bridge, metrics_port: int, clients: int, rate: float, warmup: float,
                       window: float, trickle: float) -> dict:
    """The same clients on one, then two fresh web processes: ``{1: measured, 2: measured}``."""
    measured, webs = {}, []
    try:
        for count in (1, 2):
            webs.append(await stack.start_web(f"web{count}-{clients}", bridge=False))
            bridge_cpu = CpuWindow([bridge.pid])
            bridge_cpu.start()
            try:
                measured[count] = await measure(stack, list(webs), clients, rate, warmup, window,
                                                f"clients{count}-{clients}", trickle,
                                                profile=count == 1 and clients >= 1000)
            except BenchError as error:
                sessions = await stack.get_metric(metrics_port, "ccdash_bayeux_handshakes_total")
                raise BenchError(f"{error} ({count} web process(es), {clients} clients; the bridge opened "
                                 f"{sessions:g} upstream sessions so far: more than one means it restarted)") from None
            bridge_cpu.stop()
            measured[count]["bridge_cores"] = bridge_cpu.cores
    finally:
        for web in webs:
            await stack.stop(web.proc)
    return measured


async def run(ctx: Context, result: Result) -> None:
    """One, then two web processes, same bridge, load and clients; at 200 and (full mode) 1,000 clients."""
    n, dashboards, rate = ctx.pick(200, 1000), ctx.pick(4, 10), ctx.pick(500, 2000)
    client_counts = ctx.pick([20], [200, 1000])
    warmup, window = ctx.pick(1.0, 5.0), ctx.pick(3.0, 20.0)
    measured = {}
    async with Stack("scale", redis=True, postgres=True) as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        bridge, metrics_port = await stack.start_runbridge()
        await stack.wait_subscribed(n, check=bridge.check_alive)
        for clients in client_counts:
            try:
                measured[clients] = await one_then_two(stack, bridge, metrics_port, clients, rate, warmup, window,
                                                       TRICKLE_PER_DASHBOARD * dashboards)
            except BenchError as error:
                if clients == client_counts[0]:
                    raise
                result.notes.append(f"{clients} clients could not be measured: {error}")
        result.profile = "\n\n".join(
            f"web process 1 of {count}, {clients} clients, {PROFILE_SECONDS} s under the same load:\n{m['profile']}"
            for clients, runs in measured.items() for count, m in runs.items() if m.get("profile")) or None
        # More than one means the bridge lost its upstream session or restarted during the run.
        handshakes = await stack.get_metric(metrics_port, "ccdash_bayeux_handshakes_total")
    for clients, (one, two) in ((c, (m[1], m[2])) for c, m in measured.items()):
        for key, name in ((0.5, "p50"), (0.99, "p99")):
            result.add(f"{clients} clients: {name} latency, 2 web processes", two["percentiles"][key], "ms",
                       "same with 1 web process", one["percentiles"][key])
        result.add(f"{clients} clients: deliveries/s, 2 web processes", two["deliveries_per_second"], "values/s",
                   "same with 1 web process", one["deliveries_per_second"])
    result.counts = {"bridge_upstream_handshakes": handshakes, "statistics": n, "dashboards": dashboards,
                     "clients": max(measured),
                     "offered_updates_per_second": rate, "window_seconds": window,
                     **{f"{clients} clients, {k} web {name}": round(v, 2)
                        for clients, runs in measured.items() for k, m in runs.items()
                        for name, v in (("cores", m["web_cores"]), ("bridge cores", m["bridge_cores"]),
                                        ("p99_ms", m["percentiles"][0.99]),
                                        ("deliveries_per_second", m["deliveries_per_second"]),
                                        ("snapshots", m["snapshots"]), ("connect_seconds", m["connect_seconds"]),
                                        ("connect_retries", m["connect_retries"]),
                                        ("connect_ms_max", m["connect_ms_max"] or 0),
                                        ("redis_pool_exhausted", m["redis_pool_exhausted"]))}}
    result.notes.append(f"channels_redis + Redis cache + PostgreSQL, one `runbridge`, "
                        f"{' and '.join(map(str, client_counts))} clients alternating between the web processes "
                        f"(fresh processes for each client count), {rate} updates/s over {n} statistics (a trickle "
                        f"of {TRICKLE_PER_DASHBOARD:g} updates/s per dashboard while clients connect). The ideal is "
                        f"{rate:,} × clients ÷ {dashboards} dashboards values/s.")
    result.notes.append(f"Clients connect from processes of at most {CLIENTS_PER_SWARM_PROCESS}, each opening "
                        f"{CONNECT_CONCURRENCY} sockets at a time (handshake to snapshot), within a deadline of "
                        f"{connect_deadline(max(client_counts)):g} s for {max(client_counts)} clients; `connect_seconds` "
                        "is how long it took, `redis_pool_exhausted` the web processes' MaxConnectionsError count "
                        "during the measurement.")
