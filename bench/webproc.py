"""``python -m bench.webproc --mode coalesced|naive|idle --rate R --report FILE --port P``: a web process with a synthetic publisher.

daphne serves the project's ASGI application (``statsbridge.serve.serve``, no bridge);
in the same event loop a publisher offers ``R`` synthetic statistic updates per
second over every statistic a widget uses, and publishes them either through the
coalescing ``Fanout`` (one batch per dashboard per tick) or naively (one
``group_send`` per update per dashboard), the peer of the fan-out benchmark; it
starts once the ``--go`` file exists (after the harness's clients connected). Both
keep the shared status alive so clients see a live bridge. ``idle`` publishes nothing.
Offered updates the publisher could not even hand over in time are dropped and counted.
"""

import argparse
import asyncio
import itertools
import json
import os
import time
from pathlib import Path

import django

TICK_INTERVAL = 0.01
HEARTBEAT_SECONDS = 0.5
MAX_BACKLOG_SECONDS = 0.1


class Publisher:
    """Synthetic updates at a fixed offered rate, published one of two ways."""

    def __init__(self, mode: str, rate: float, report: Path, tick: float, go: Path):
        from statsbridge.aio import SyncRunner

        self.mode = mode
        self.rate = rate
        self.report = report
        self.tick = tick
        self.go = go
        self.run_sync = SyncRunner("bench-publisher")
        self.offered = self.published = self.skipped = self.group_sends = 0

    def write_report(self) -> None:
        """Atomically rewrite the counters."""
        temp = self.report.with_suffix(".tmp")
        temp.write_text(json.dumps({"offered": self.offered, "published": self.published, "skipped": self.skipped,
                                    "group_sends": self.group_sends, "at": time.time()}))
        os.replace(temp, self.report)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop``."""
        from statsbridge.fanout import Fanout
        from statsbridge.wanted import load_routes

        routes = await self.run_sync(load_routes)
        fanout = Fanout(self.run_sync, record_history=False)
        await fanout.set_routes(routes)
        fanout.set_connection(upstream="connected", service="AVAILABLE")
        await fanout.flush(heartbeat=True)
        tasks = [asyncio.create_task(self._report_loop(stop)),
                 asyncio.create_task(self._heartbeat_loop(stop, fanout))]
        if self.mode != "idle":
            tasks.append(asyncio.create_task(self._offer_loop(stop, fanout, routes)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.write_report()
        await self.run_sync.close()

    async def _report_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.write_report()
            await asyncio.sleep(0.1)

    async def _heartbeat_loop(self, stop: asyncio.Event, fanout) -> None:
        # Coalesced: the tick flush publishes; naive: the flush only keeps the status alive.
        period = self.tick if self.mode == "coalesced" else HEARTBEAT_SECONDS
        while not stop.is_set():
            await asyncio.sleep(period)
            self.group_sends += await fanout.flush(heartbeat=True)

    async def _offer_loop(self, stop: asyncio.Event, fanout, routes) -> None:
        from channels.layers import get_channel_layer

        from statsbridge import events
        from statsbridge.fanout import FRAME_MESSAGE, dashboard_group

        layer = get_channel_layer()
        keys = itertools.cycle(sorted(routes.wanted))
        while not self.go.exists():  # The harness says go once its clients are connected.
            await asyncio.sleep(TICK_INTERVAL)
        seqs: dict = {}
        budget, last, number = 0.0, time.monotonic(), 0
        while not stop.is_set():
            await asyncio.sleep(TICK_INTERVAL)
            now = time.monotonic()
            budget += self.rate * (now - last)
            last = now
            if budget > self.rate * MAX_BACKLOG_SECONDS:
                # Publishing cannot keep up: drop what is too late rather than queue without bound.
                self.skipped += int(budget - self.rate * MAX_BACKLOG_SECONDS)
                budget = self.rate * MAX_BACKLOG_SECONDS
            count, budget = int(budget), budget - int(budget)
            stamp = events.now_ms()
            for _ in range(count):
                key = next(keys)
                number += 1
                value = events.value(kind="number", value=number, text=str(number), state="fresh",
                                     timestamp=stamp, received=stamp)
                self.offered += 1
                if self.mode == "coalesced":
                    fanout.offer(key, value)
                    self.published += 1
                    continue
                for dashboard_id in routes.dashboards_by_key.get(key, ()):
                    seqs[dashboard_id] = seqs.get(dashboard_id, 0) + 1
                    frame = events.batch(routes.slugs[dashboard_id], seqs[dashboard_id], {key: value})
                    await layer.group_send(dashboard_group(dashboard_id), {"type": FRAME_MESSAGE, "frame": frame})
                    self.group_sends += 1
                self.published += 1


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["coalesced", "naive", "idle"], required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--tick", type=float, default=0.25)
    parser.add_argument("--report", required=True)
    parser.add_argument("--go", required=True, help="start offering once this file exists")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    django.setup()
    from statsbridge.serve import serve

    publisher = Publisher(args.mode, args.rate, Path(args.report), args.tick, Path(args.go))
    serve("127.0.0.1", args.port, embedded_bridge=False, background=[publisher.run])


if __name__ == "__main__":
    main()
