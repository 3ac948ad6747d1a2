"""4. Recovery: from the service's AVAILABLE to every statistic re-subscribed and fresh at the clients.

The embedded default holds 10,000 statistics (50 dashboards of 200) with one WebSocket
client on each dashboard, so every statistic is on a client: the clock runs from the
simulator's POST AVAILABLE (after UNAVAILABLE dropped every subscription and the clients
turned stale) until every client shows every statistic fresh again.

Then 100,000 statistics (100 dashboards of 1,000, the scale of a large Stat Server
deployment) in the deployment such a tenant runs: ``manage.py runbridge`` with Redis as
the shared value store. The clock runs from POST AVAILABLE until every one of the 100,000
values in the shared store (read from Redis as the web processes read it) is fresh again.

The limit is the target: 2 s at 10,000 statistics, 10 s at 100,000.
"""

import asyncio
import pickle
import time

import redis.asyncio as aioredis

from bench.common import AT_MOST, Context, Result, Target
from bench.procs import BenchError, wait_until
from bench.profiling import profile_process
from bench.stack import Stack
from bench.swarm import start_swarm

# From this many statistics on, the bridge runs as its own process with Redis (scale-out), as
# a deployment of that size would, and freshness is read from the shared store: 100 sockets
# on 1,000-statistic dashboards measure the web process's snapshots, not the recovery.
SCALE_OUT_FROM = 50_000
MGET_CHUNK = 5000
PROFILE_SECONDS = 15
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
    async with Stack(f"recovery-{n}") as stack:
        await stack.start_simulator(n)
        await stack.prepare(n, dashboards)
        web = await stack.start_web()
        await stack.wait_subscribed(n, timeout=max(120, n / 200), check=web.proc.check_alive)
        swarm = await start_swarm(stack, web, clients)
        await swarm.wait_ready(120)
        check = web.proc.check_alive

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
            "deployment": "embedded"}


class StoreWatch:
    """Reads the shared value store in Redis as Django's RedisCache wrote it (pickled Values)."""

    def __init__(self, stack: Stack, keys: list):
        self.client = aioredis.from_url(stack.redis_url)
        # Django's cache key "<KEY_PREFIX>:<version>:<key>" around statsbridge.store.value_key.
        self.names = [f"{stack.prefix}:1:sb:v:{key}" for key in keys]

    async def not_fresh(self, names: list) -> list:
        """Those of ``names`` whose stored Value is missing or not fresh."""
        left = []
        for start in range(0, len(names), MGET_CHUNK):
            chunk = names[start:start + MGET_CHUNK]
            for name, raw in zip(chunk, await self.client.mget(chunk), strict=True):
                if raw is None or pickle.loads(raw).get("state") != "fresh":
                    left.append(name)
        return left

    async def all_fresh(self) -> bool:
        """Every value fresh."""
        return not await self.not_fresh(self.names)

    async def none_fresh(self) -> bool:
        """No value fresh."""
        return len(await self.not_fresh(self.names)) == len(self.names)

    async def until_fresh(self, timeout: float, check) -> float:
        """Once every value is fresh (re-reading only those that were not), the monotonic time."""
        names = self.names
        deadline = time.monotonic() + timeout
        while names:
            check()
            if time.monotonic() > deadline:
                raise BenchError(f"{len(names)} of {len(self.names)} values still not fresh after {timeout:g} s")
            names = await self.not_fresh(names)
        return time.monotonic()


async def recover_scaled_out(n: int, rounds: int) -> dict:
    """``rounds`` UNAVAILABLE/AVAILABLE cycles with ``n`` statistics held by ``runbridge`` on
    Redis; seconds from AVAILABLE to every value fresh in the shared store."""
    dashboards = max(1, n // per_dashboard(n))
    times, resubscribed, cpu, profile = [], [], [], None
    timeout = max(60, n / 1000)
    async with Stack(f"recovery-{n}", redis=True) as stack:
        await stack.start_simulator(n)
        seed = await stack.prepare(n, dashboards)
        bridge, _metrics_port = await stack.start_runbridge()
        check = bridge.check_alive
        await stack.wait_subscribed(n, timeout=max(120, n / 200), check=check)
        watch = StoreWatch(stack, [s["statisticId"] for s in seed["statistics"]])

        async def subscribed() -> bool:
            return (await stack.sim_state())["statistics"] >= n

        try:
            await wait_until(watch.all_fresh, timeout, "every stored value fresh", interval=0.5, check=check)
            for number in range(rounds):
                await stack.sim_post("/simulator/service", {"state": "UNAVAILABLE"})
                await wait_until(watch.none_fresh, timeout, "every stored value stale", interval=0.2, check=check)
                cpu_before = bridge.cpu(), stack.sim_proc.cpu()
                profiling = None
                if number == rounds - 1:  # the last round is profiled (py-spy samples the bridge)
                    profiling = asyncio.create_task(profile_process(bridge.pid, PROFILE_SECONDS,
                                                                    stack.dir / "bridge-profile.txt"))
                    await asyncio.sleep(0.5)  # py-spy attaches before the clock starts
                started = time.monotonic()
                await stack.sim_post("/simulator/service", {"state": "AVAILABLE"})
                fresh, upstream = await asyncio.gather(
                    watch.until_fresh(timeout, check),
                    wait_until(subscribed, timeout, f"{n} statistics re-subscribed", interval=0.02, check=check))
                times.append(fresh - started)
                resubscribed.append(upstream)
                cpu.append((round(bridge.cpu() - cpu_before[0], 2), round(stack.sim_proc.cpu() - cpu_before[1], 2)))
                if profiling is not None:
                    profile = await profiling
        finally:
            await watch.client.aclose()
    return {"times": times, "resubscribed": resubscribed, "dashboards": dashboards, "clients": 0,
            "deployment": "runbridge, Redis", "cpu_seconds_bridge_simulator": cpu, "profile": profile}


async def run(ctx: Context, result: Result) -> None:
    """Measure recovery ``rounds`` times per size; report the worst and the median of each."""
    sizes = ctx.pick((200,), (10_000, 100_000))
    rounds = ctx.pick(1, 3)
    counts = {"statistics": max(sizes), "rounds": rounds}
    for n in sizes:
        measured = await (recover_scaled_out if n >= SCALE_OUT_FROM else recover)(n, rounds)
        times = measured["times"]
        worst, median = max(times), sorted(times)[len(times) // 2]
        limit = target_for(n)
        result.add(f"recovery time at {n:,} statistics, worst round", worst, "s", "limit (target)", limit,
                   Target(AT_MOST, 1.0))
        result.add(f"recovery time at {n:,} statistics, median round", median, "s", "limit (target)", limit)
        result.add(f"re-subscribed upstream at {n:,} statistics, worst round", max(measured["resubscribed"]), "s",
                   "limit (target)", limit)
        if measured.get("profile"):
            result.profile = f"py-spy of runbridge, first {PROFILE_SECONDS} s after AVAILABLE ({n:,} statistics):\n" \
                + measured["profile"]
        if "cpu_seconds_bridge_simulator" in measured:
            counts[f"{n} cpu_seconds_each_round_bridge_simulator"] = measured["cpu_seconds_bridge_simulator"]
        counts.update({f"{n} dashboards": measured["dashboards"], f"{n} clients": measured["clients"],
                       f"{n} seconds_each_round": [round(t, 3) for t in times],
                       f"{n} seconds_to_resubscribed_upstream": [round(t, 3) for t in measured["resubscribed"]]})
        if measured["deployment"] == "embedded":
            result.notes.append(f"{n:,} statistics: embedded default (`manage.py serve --bridge`), "
                                f"{measured['clients']} clients over {measured['dashboards']} dashboards of "
                                f"{per_dashboard(n):,}; time from POST AVAILABLE to the last client's last statistic "
                                "turning fresh (client-side clock, same machine).")
        else:
            result.notes.append(f"{n:,} statistics: `manage.py runbridge`, Redis shared store, {measured['dashboards']} "
                                f"dashboards of {per_dashboard(n):,}; time from POST AVAILABLE to the last of the "
                                f"{n:,} values read fresh from the shared store (MGET of the values not yet fresh, "
                                "over and over: the figure includes up to one read pass).")
    result.counts = counts
