"""``python -m bench.wsclients``: many dashboard WebSocket clients in one process, recording arrivals.

Each client opens ``ws/dashboards/<slug>/`` with the benchmark user's session cookie
(or ``ws/wall/<token>/`` with ``--walls``) and parses every frame. The swarm counts
frames and values; for every fresh value in a batch it records the arrival latency
(arrival − the value's Stat Server ``timestamp``) in a 1 ms histogram, and it tracks
whether every client shows every statistic fresh, and since when. ``--report`` is
rewritten every ``REPORT_INTERVAL`` seconds and on SIGTERM.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp

REPORT_INTERVAL = 0.1
CONNECT_CONCURRENCY = 50
CONNECT_ATTEMPTS = 5


class ClientView:
    """What one client currently shows: the state of each statistic, and how many are not fresh."""

    __slots__ = ("not_fresh", "states")

    def __init__(self):
        self.states: dict = {}
        self.not_fresh = 0

    def apply(self, values: dict, replace: bool) -> None:
        """Take a snapshot's (``replace``) or a batch's values."""
        if replace:
            self.states = {}
            self.not_fresh = 0
        states = self.states
        for key, value in values.items():
            old = states.get(key)
            new = value.get("state")
            states[key] = new
            self.not_fresh += (new != "fresh") - (old is not None and old != "fresh")


class Swarm:
    """Shared counters of every client."""

    def __init__(self):
        self.connected = 0
        self.snapshots = 0
        self.frames = 0
        self.values = 0
        self.latency = Counter()
        self.errors = Counter()
        self.closed = 0
        self.retries = 0
        self.connect_ms: list = []  # per client: gate passed → first frame (handshake with retries, snapshot)
        self.views: list = []
        self.clients_not_fresh = 0
        self.all_fresh_at = None  # when every client last became all fresh (epoch ms)
        self.some_stale_at = None  # when some client last stopped being all fresh (epoch ms)

    def view(self) -> ClientView:
        """A new client's view (counted as not fresh until its snapshot says otherwise)."""
        view = ClientView()
        view.not_fresh = 1
        self.views.append(view)
        self.clients_not_fresh += 1
        return view

    def frame(self, view: ClientView, frame: dict, arrival_ms: float) -> None:
        """Count one frame, the latencies of its fresh values, and freshness changes."""
        self.frames += 1
        kind = frame.get("type")
        values = frame.get("values")
        if not values:
            return
        was_fresh = view.not_fresh == 0
        view.apply(values, replace=kind == "snapshot")
        if kind == "snapshot":
            self.snapshots += 1
        else:
            self.values += len(values)
            latency = self.latency
            for value in values.values():
                stamp = value.get("timestamp")
                if stamp and value.get("state") == "fresh":
                    latency[int(arrival_ms - stamp)] += 1
        is_fresh = view.not_fresh == 0
        if is_fresh != was_fresh:
            self.clients_not_fresh += -1 if is_fresh else 1
            if self.clients_not_fresh == 0:
                self.all_fresh_at = arrival_ms
            elif was_fresh and self.clients_not_fresh == 1:
                self.some_stale_at = arrival_ms

    def report(self) -> dict:
        """What the harness reads."""
        return {"connected": self.connected, "snapshots": self.snapshots, "frames": self.frames,
                "values": self.values, "closed": self.closed, "errors": dict(self.errors),
                "connect_retries": self.retries,
                "connect_ms_max": max(self.connect_ms, default=None),
                "connect_ms_median": sorted(self.connect_ms)[len(self.connect_ms) // 2] if self.connect_ms else None,
                "latency_ms": {str(k): v for k, v in sorted(self.latency.items())},
                "clients_not_fresh": self.clients_not_fresh, "all_fresh_at": self.all_fresh_at,
                "values_not_fresh": sum(view.not_fresh for view in self.views),
                "some_stale_at": self.some_stale_at, "at": time.time() * 1000}


async def client(session: aiohttp.ClientSession, url: str, swarm: Swarm, gate: asyncio.Semaphore) -> None:
    """One WebSocket client: connect, then read frames until closed.

    A client holds its place in ``gate`` until its first frame (the snapshot) arrives,
    not only until the handshake: the server's work for a new socket (session, user,
    dashboard, snapshot) runs on its one database thread, and handshakes let through
    faster than that thread serves them queue there until daphne's 5 s handshake limit
    kills them all, so connecting stalls (seen at 1,000 clients on a loaded machine).
    """
    origin = "http://" + url.split("://", 1)[1].split("/", 1)[0]
    await gate.acquire()
    holding = True
    try:
        started = time.monotonic()
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                socket = await session.ws_connect(url, origin=origin, heartbeat=None, max_msg_size=0)
                break
            except (aiohttp.ClientError, OSError) as error:
                # A loaded server may drop a handshake (daphne's 5 s limit); browsers retry too.
                if attempt == CONNECT_ATTEMPTS:
                    swarm.errors[f"{type(error).__name__}: {error}"] += 1
                    return
                swarm.retries += 1
                await asyncio.sleep(0.5 * attempt)
        swarm.connected += 1
        view = swarm.view()
        try:
            async for message in socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                swarm.frame(view, json.loads(message.data), time.time() * 1000)
                if holding:
                    swarm.connect_ms.append(round((time.monotonic() - started) * 1000))
                    gate.release()
                    holding = False
        finally:
            swarm.connected -= 1
            swarm.closed += 1
    finally:
        if holding:
            gate.release()


def write(path: Path, swarm: Swarm) -> None:
    """Atomically rewrite the report."""
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(swarm.report()))
    os.replace(temp, path)


async def main_async(args) -> None:
    """Run the clients until SIGTERM."""
    targets = json.loads(await asyncio.to_thread(Path(args.targets).read_text))
    swarm = Swarm()
    report = Path(args.report)
    cookies = {"sessionid": args.session} if args.session else {}
    gate = asyncio.Semaphore(args.connect_concurrency)
    connector = aiohttp.TCPConnector(limit=0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with aiohttp.ClientSession(cookies=cookies, connector=connector) as session:
        route = "ws/wall" if args.walls else "ws/dashboards"
        tasks = [asyncio.create_task(client(session, f"{args.url[i % len(args.url)]}/{route}/{target}/", swarm, gate))
                 for i, target in enumerate(targets[:args.clients])]
        while not stop.is_set():
            write(report, swarm)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPORT_INTERVAL)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    write(report, swarm)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, action="append",
                        help="ws://127.0.0.1:PORT (repeat: clients go round-robin over the servers)")
    parser.add_argument("--targets", required=True, help="JSON list: one slug (or wall token) per client")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--session", default="")
    parser.add_argument("--walls", action="store_true")
    parser.add_argument("--report", required=True)
    parser.add_argument("--connect-concurrency", type=int, default=CONNECT_CONCURRENCY,
                        help="handshakes in flight at once (more wait here, not in the server's accept queue)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
