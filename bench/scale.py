"""7. Scale: figures 1 (latency) and 3 (deliveries/s) with one vs two web processes on channels_redis.

Scale-out deployment: PostgreSQL, Redis (channel layer + cache), one ``runbridge``
and one or two ``manage.py serve --no-bridge`` web processes; the same clients
alternate between the web processes. The reference of each figure is the same
figure with one web process in the same run. Note the machine has two cores that
also run the simulator, the bridge and the clients: this shows the cost of the
second process more than its gain.
"""

from bench.common import Context, Result
from bench.latency import measure
from bench.procs import BenchError, CpuWindow
from bench.stack import Stack

# Keeps every dashboard's sockets from idling while clients connect: with channels_redis
# on redis-py 8, a receive idle for 5 s hits redis-py's default socket timeout and the
# consumer dies (see docs/benchmarks.md).
TRICKLE_PER_DASHBOARD = 2.0


async def run(ctx: Context, result: Result) -> None:
    """One, then two web processes, same bridge, load and clients."""
    n, dashboards = ctx.pick(200, 1000), ctx.pick(4, 10)
    clients, rate = ctx.pick(20, 200), ctx.pick(500, 2000)
    warmup, window = ctx.pick(1.0, 5.0), ctx.pick(3.0, 20.0)
    measured = {}
    async with Stack("scale", redis=True, postgres=True) as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        bridge, metrics_port = await stack.start_runbridge()
        await stack.wait_subscribed(n, check=bridge.check_alive)
        webs = []
        for count in (1, 2):
            webs.append(await stack.start_web(f"web{count}", bridge=False))
            bridge_cpu = CpuWindow([bridge.pid])
            bridge_cpu.start()
            try:
                measured[count] = await measure(stack, list(webs), clients, rate, warmup, window,
                                                f"clients{count}", trickle=TRICKLE_PER_DASHBOARD * dashboards)
            except BenchError as error:
                sessions = await stack.get_metric(metrics_port, "ccdash_bayeux_handshakes_total")
                raise BenchError(f"{error} ({count} web process(es); the bridge opened {sessions:g} upstream "
                                 "sessions so far: more than one means it restarted)") from None
            bridge_cpu.stop()
            measured[count]["bridge_cores"] = bridge_cpu.cores
        # More than one means the bridge lost its upstream session or restarted during the run.
        handshakes = await stack.get_metric(metrics_port, "ccdash_bayeux_handshakes_total")
    one, two = measured[1], measured[2]
    for key, name in ((0.5, "p50"), (0.99, "p99")):
        result.add(f"{name} latency, 2 web processes", two["percentiles"][key], "ms", "same with 1 web process",
                   one["percentiles"][key])
    result.add("deliveries/s, 2 web processes", two["deliveries_per_second"], "values/s", "same with 1 web process",
               one["deliveries_per_second"])
    result.counts = {"bridge_upstream_handshakes": handshakes, "statistics": n, "dashboards": dashboards, "clients": clients,
                     "offered_updates_per_second": rate, "window_seconds": window,
                     **{f"{k} web {name}": round(v, 2) for k, m in measured.items()
                        for name, v in (("cores", m["web_cores"]), ("bridge cores", m["bridge_cores"]),
                                        ("p99_ms", m["percentiles"][0.99]),
                                        ("deliveries_per_second", m["deliveries_per_second"]))}}
    result.notes.append(f"channels_redis + Redis cache + PostgreSQL, one `runbridge`, {clients} clients alternating "
                        f"between the web processes, {rate} updates/s over {n} statistics (a trickle of "
                        f"{TRICKLE_PER_DASHBOARD:g} updates/s per dashboard while clients connect).")
