"""``python -m bench.webproc --mode coalesced|idle --rate R --report FILE --port P``: a web process with a
synthetic publisher.

daphne serves the project's ASGI application (``statsbridge.serve.serve``, no bridge);
in the same event loop a publisher offers ``R`` synthetic statistic updates per
second over every statistic a widget uses, and publishes them through the
coalescing ``Fanout`` and the bridge's own self-clocked publish loop
(``statsbridge.housekeeping.publish_loop``); it starts its full rate
once the ``--go`` file exists (after the harness's clients connected), offering a
trickle until then. In both modes a heartbeat task writes the status on its own runner
thread, as the bridge does, so clients see a live bridge.
``idle`` publishes nothing.
Offered updates the publisher could not even hand over in time are dropped and counted.
The report also counts the messages the channel layer dropped for full channels and
how many wait in its queues for this process's sockets (``LayerWatch``), so the harness
can tell where deliveries short of the ideal went.
"""

import argparse
import asyncio
import itertools
import json
import logging
import os
import signal
import time
from pathlib import Path

import django

TICK_INTERVAL = 0.01
# How late the offer loop may fall behind before it skips updates. The real bridge does not
# skip: a late event loop reads what queued in the long-poll meanwhile, all at once. A
# second late is lateness the latency figures show (p99); beyond that the process cannot
# keep up, and skipping (counted) keeps the backlog bounded.
MAX_BACKLOG_SECONDS = 1.0
TOP_ALLOCATIONS = 15
TRICKLE_PER_DASHBOARD = 2.0


class LayerWatch(logging.Handler):
    """Messages the channel layer dropped because a recipient's channel was full, and the
    messages queued for this process's sockets.

    In-memory layer: every ``ChannelFull`` its ``group_send`` swallows is one socket's
    frame lost. channels_redis: its ``group_send`` script drops a group message for a
    process whose Redis key is full and only logs it (INFO, "N of M channels over
    capacity"); with one web process every member shares that key, so the M members all
    lose the frame. Its per-socket receive buffers drop their oldest silently when full
    (not counted; their length is what ``queued`` adds up).
    """

    def __init__(self, layer):
        super().__init__(logging.INFO)
        from channels.exceptions import ChannelFull

        self.layer = layer
        self.dropped = 0
        self.over_capacity_sends = 0
        if hasattr(layer, "receive_buffer"):
            logger = logging.getLogger("channels_redis.core")
            logger.setLevel(logging.INFO)
            logger.propagate = False  # counted here, not logged once per dropped frame
            logger.addHandler(self)
            return
        send = layer.send

        async def counted_send(channel, message):
            try:
                await send(channel, message)
            except ChannelFull:
                self.dropped += 1
                raise
        layer.send = counted_send

    def emit(self, record: logging.LogRecord) -> None:
        """A channels_redis over-capacity log line: count the members that lost the frame."""
        if "over capacity" in record.msg and len(record.args) >= 2:
            self.over_capacity_sends += 1
            self.dropped += int(record.args[1])

    def queued(self) -> int:
        """Messages waiting in the layer for this process's sockets."""
        queues = getattr(self.layer, "receive_buffer", None)
        if queues is None:
            queues = getattr(self.layer, "channels", {})
        return sum(queue.qsize() for queue in list(queues.values()))


class Publisher:
    """Synthetic updates at a fixed offered rate, published through the coalescing ``Fanout``.

    (There was a naive mode, one ``group_send`` per update per dashboard, as the fan-out
    benchmark's peer. It was removed: at the benchmark's 2,000 updates/s it saturated the
    process, skipped ~95 % of the offered updates and at 1,000 clients delivered nothing,
    so the ratio against it measured its collapse, not the fan-out. The benchmark now
    compares deliveries with the ideal, offered updates × clients per dashboard.)
    """

    def __init__(self, mode: str, rate: float, report: Path, go: Path):
        from statsbridge.aio import SyncRunner

        self.mode = mode
        self.rate = rate
        self.report = report
        self.go = go
        self.run_sync = SyncRunner("bench-publisher")
        self.run_status = SyncRunner("bench-status")
        self.offered = self.published = self.skipped = self.group_sends = 0
        # Offers that replaced one of the same statistic not yet flushed: coalescing merged
        # them, so that update never reaches a client (by design: the latest value goes).
        self.merged = 0
        self.unflushed: set = set()
        self.flushes = 0
        self.flush_seconds = self.flush_seconds_max = self.flush_gap_max = 0.0
        self.watch: LayerWatch | None = None

    def write_report(self) -> None:
        """Atomically rewrite the counters."""
        temp = self.report.with_suffix(f".{os.getpid()}.tmp")
        watch = self.watch
        temp.write_text(json.dumps({"offered": self.offered, "published": self.published, "skipped": self.skipped,
                                    "group_sends": self.group_sends, "at": time.time(),
                                    "merged": self.merged, "flushes": self.flushes,
                                    "flush_seconds": self.flush_seconds, "flush_seconds_max": self.flush_seconds_max,
                                    "flush_gap_max": self.flush_gap_max,
                                    "layer_dropped": watch.dropped if watch else 0,
                                    "layer_over_capacity_sends": watch.over_capacity_sends if watch else 0,
                                    "layer_queued": watch.queued() if watch else 0}))
        os.replace(temp, self.report)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop``."""
        from statsbridge.fanout import Fanout
        from statsbridge.wanted import load_routes

        routes = await self.run_sync(load_routes)
        fanout = Fanout(self.run_sync, run_status=self.run_status, record_history=False)
        self.watch = LayerWatch(fanout.layer)
        await fanout.set_routes(routes)
        fanout.set_connection(upstream="connected", service="AVAILABLE")
        await fanout.flush(heartbeat=True)
        tasks = [asyncio.create_task(self._report_loop(stop)),
                 asyncio.create_task(self._heartbeat_loop(stop, fanout))]
        if self.mode == "coalesced":
            tasks.append(asyncio.create_task(self._flush_loop(stop, fanout)))
        if self.mode != "idle":
            tasks.append(asyncio.create_task(self._offer_loop(stop, fanout, routes)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.write_report()
        await self.run_sync.close()
        await self.run_status.close()

    async def _report_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.write_report()
            await asyncio.sleep(0.1)

    async def _heartbeat_loop(self, stop: asyncio.Event, fanout) -> None:
        # Apart from publishing, like Bridge._heartbeat_loop: a slow flush must not delay it.
        from statsbridge.conf import bridge_settings

        period = bridge_settings().heartbeat_seconds
        while not stop.is_set():
            await fanout.beat()
            await asyncio.sleep(period)

    async def _flush_loop(self, stop: asyncio.Event, fanout) -> None:
        """The bridge's publish loop, unchanged, with each publish it makes timed."""
        from statsbridge.housekeeping import publish_loop

        flush_due = fanout.flush_due
        last = time.monotonic()

        async def timed_flush_due(extra_status=None) -> int:
            nonlocal last
            started = time.monotonic()
            # (A publish takes what is pending before its first await: clear with it. Only
            # due dashboards go, so ``merged`` is a lower bound of what coalescing merged.)
            self.unflushed.clear()
            sent = await flush_due(extra_status)
            self.group_sends += sent
            took = time.monotonic() - started
            self.flushes += 1
            self.flush_seconds += took
            self.flush_seconds_max = max(self.flush_seconds_max, took)
            self.flush_gap_max = max(self.flush_gap_max, started - last)
            last = started
            return sent

        fanout.flush_due = timed_flush_due
        await publish_loop(fanout, None, stop)

    async def _offer_loop(self, stop: asyncio.Event, fanout, routes) -> None:
        from statsbridge import frames

        keys = itertools.cycle(sorted(routes.wanted))
        # Until the harness says go (its clients are connected), a trickle keeps every
        # dashboard's sockets from idling: with channels_redis on redis-py 8 an idle
        # receive outlives the 5 s default socket timeout and the consumer dies.
        trickle = TRICKLE_PER_DASHBOARD * len(routes.slugs)
        going = False
        budget, last, number = 0.0, time.monotonic(), 0
        while not stop.is_set():
            await asyncio.sleep(TICK_INTERVAL)
            going = going or self.go.exists()
            rate = self.rate if going else trickle
            now = time.monotonic()
            budget += rate * (now - last)
            last = now
            if budget > rate * MAX_BACKLOG_SECONDS:
                # Publishing cannot keep up: drop what is too late rather than queue without bound.
                self.skipped += int(budget - rate * MAX_BACKLOG_SECONDS)
                budget = rate * MAX_BACKLOG_SECONDS
            count, budget = int(budget), budget - int(budget)
            stamp = frames.now_ms()
            unflushed = self.unflushed
            values = {}
            for _ in range(count):
                number += 1
                key = next(keys)
                if key in unflushed or key in values:
                    self.merged += 1
                values[key] = frames.value(kind="number", value=number, text=str(number), state="fresh",
                                           timestamp=stamp, received=stamp)
            unflushed.update(values)
            # In bulk, as the bridge offers each CometD message's values.
            fanout.offer_many(values, count)
            self.offered += count
            self.published += count


class AllocationDiff:
    """With ``--tracemalloc FILE``: SIGUSR1 takes a snapshot; the second one writes the growth by line."""

    def __init__(self, path: Path):
        import tracemalloc

        self.path = path
        self.first = None
        tracemalloc.start(1)

    def on_signal(self, signum, frame) -> None:
        """Take a snapshot; from the second on, write the top growth since the first to the file."""
        import tracemalloc

        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        if self.first is None:
            self.first = snapshot
            return
        stats = snapshot.compare_to(self.first, "lineno")
        total = sum(stat.size_diff for stat in stats)
        lines = [f"tracemalloc: {total / 1024:.0f} KB more Python allocations; top lines:"]
        lines += [f"  {stat.size_diff / 1024:8.0f} KB  {stat.count_diff:+7d} blocks  {stat.traceback[0]}"
                  for stat in stats[:TOP_ALLOCATIONS]]
        self.path.write_text("\n".join(lines) + "\n")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["coalesced", "idle"], required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--report", required=True)
    parser.add_argument("--go", required=True, help="start offering once this file exists")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tracemalloc", help="trace allocations; SIGUSR1 snapshots, the second writes this file")
    args = parser.parse_args()
    if args.tracemalloc:
        signal.signal(signal.SIGUSR1, AllocationDiff(Path(args.tracemalloc)).on_signal)
    django.setup()
    from statsbridge.serve import serve

    publisher = Publisher(args.mode, args.rate, Path(args.report), Path(args.go))
    serve("127.0.0.1", args.port, embedded_bridge=False, background=[publisher.run])


if __name__ == "__main__":
    main()
