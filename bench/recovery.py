"""4. Recovery: from the service's AVAILABLE to every statistic re-subscribed and fresh at the clients.

The embedded default holds 10,000 statistics (50 dashboards of 200); then the scale-out
deployment a large tenant runs (``manage.py runbridge`` beside a daphne without bridge,
Redis as shared store and channel layer) holds 100,000 (100 dashboards of 1,000, the
scale of a large Stat Server deployment). One WebSocket client follows each dashboard,
so every statistic is on a client. The simulator's service
goes UNAVAILABLE (it drops every subscription; clients turn stale), then AVAILABLE: the
clock runs from that POST until every client shows every statistic fresh again (a value
reaches a client only after it is in the shared value store, so this bounds the store's
recovery too). The limit is the target: 2 s at 10,000 statistics, 10 s at 100,000.
"""

import time

from bench.common import AT_MOST, Context, Result, Target
from bench.procs import BenchError, wait_until
from bench.stack import Stack
from bench.swarm import start_swarm

# From this many statistics on, the bridge runs as its own process (scale-out), as a
# deployment of that size would: the embedded web process would also serve the sockets.
SCALE_OUT_FROM = 50_000
# Statistics -> the recovery time limit (s), the target at that size.
TARGETS_SECONDS = {10_000: 2.0, 100_000: 10.0}


def target_for(n: int) -> float:
    """The limit (s) of the nearest size with a target at or above ``n``."""
    return next((limit for size, limit in sorted(TARGETS_SECONDS.items()) if n <= size), max(TARGETS_SECONDS.values()))


def per_dashboard(n: int) -> int:
    """Statistics per dashboard: big walls of 200, and 1,000 at the 100k scale (100 clients)."""
    return max(200, n // 100)


async def recover(n: int, rounds: int) -> dict:
    """``rounds`` UNAVAILABLE/AVAILABLE cycles with ``n`` statistics; seconds of each."""
    dashboards = clients = max(1, n // per_dashboard(n))
    times, resubscribed = [], []
    timeout = max(60, n / 1000)
    scale_out = n >= SCALE_OUT_FROM
    async with Stack(f"recovery-{n}", redis=scale_out) as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        web = await stack.start_web(bridge=not scale_out)
        procs = [web.proc]
        if scale_out:
            bridge, _metrics_port = await stack.start_runbridge()
            procs.append(bridge)

        def check() -> None:
            for proc in procs:
                proc.check_alive()

        await stack.wait_subscribed(n, timeout=max(120, n / 200), check=check)
        swarm = await start_swarm(stack, web, clients)
        await swarm.wait_ready(max(120, n / 500))

        async def all_fresh() -> bool:
            return swarm.report().get("clients_not_fresh", 1) == 0

        async def all_stale() -> bool:
            return swarm.report().get("clients_not_fresh", 0) == clients

        async def subscribed() -> bool:
            return (await stack.sim_state())["statistics"] >= n

        try:
            await wait_until(all_fresh, timeout, "every client to show every statistic fresh", check=check)
        except BenchError as error:
            report = swarm.report()
            raise BenchError(f"{error}: {report.get('values_not_fresh')} of {n} values never turned fresh "
                             f"on {report.get('clients_not_fresh')} of {clients} clients") from None
        for _ in range(rounds):
            await stack.sim_post("/simulator/service", {"state": "UNAVAILABLE"})
            await wait_until(all_stale, timeout, "every client to show stale values", check=check)
            started_ms = time.time() * 1000
            await stack.sim_post("/simulator/service", {"state": "AVAILABLE"})
            resubscribed.append(await wait_until(subscribed, timeout, f"{n} statistics re-subscribed",
                                                 interval=0.02, check=check))
            await wait_until(all_fresh, timeout, "every client fresh again after AVAILABLE", check=check)
            times.append((swarm.report()["all_fresh_at"] - started_ms) / 1000)
    return {"times": times, "resubscribed": resubscribed, "dashboards": dashboards, "clients": clients,
            "deployment": "runbridge + daphne, Redis" if scale_out else "embedded"}


async def run(ctx: Context, result: Result) -> None:
    """Measure recovery ``rounds`` times per size; report the worst and the median of each."""
    sizes = ctx.pick((200,), (10_000, 100_000))
    rounds = ctx.pick(1, 3)
    counts = {"statistics": max(sizes), "rounds": rounds}
    for n in sizes:
        measured = await recover(n, rounds)
        times = measured["times"]
        worst, median = max(times), sorted(times)[len(times) // 2]
        limit = target_for(n)
        result.add(f"recovery time at {n:,} statistics, worst round", worst, "s", "limit (target)", limit,
                   Target(AT_MOST, 1.0))
        result.add(f"recovery time at {n:,} statistics, median round", median, "s", "limit (target)", limit)
        result.add(f"re-subscribed upstream at {n:,} statistics, worst round", max(measured["resubscribed"]), "s",
                   "limit (target)", limit)
        counts.update({f"{n} dashboards": measured["dashboards"], f"{n} clients": measured["clients"],
                       f"{n} seconds_each_round": [round(t, 3) for t in times],
                       f"{n} seconds_to_resubscribed_upstream": [round(t, 3) for t in measured["resubscribed"]]})
        deployment = ("`manage.py runbridge` beside `manage.py serve --no-bridge`, Redis store and channel layer"
                      if measured["deployment"] != "embedded" else "embedded default (`manage.py serve --bridge`)")
        result.notes.append(f"{n:,} statistics: {deployment}, {measured['clients']} "
                            f"clients over {measured['dashboards']} dashboards of {per_dashboard(n):,}; time from "
                            "POST AVAILABLE to the last client's last statistic turning fresh (client-side clock, "
                            "same machine).")
    result.counts = counts
