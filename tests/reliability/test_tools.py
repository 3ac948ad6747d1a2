"""The matrix's own instruments: the cuttable proxy and the observer's rules."""

import asyncio
import os
import threading

from tests.reliability.matrix import cpu_withheld
from tests.reliability.observer import Observer
from tests.reliability.proxy import CuttableProxy
from tests.reliability.stack import thread_cpu_wait


async def _echo(reader, writer):
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """Whether the other side closed or reset the connection (nothing relayed)."""
    try:
        return await asyncio.wait_for(reader.read(4), 2) == b""
    except ConnectionResetError:
        return True


async def test_the_proxy_relays_drops_refuses_and_restores():
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = CuttableProxy(server.sockets[0].getsockname()[1]).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.read(4), 2) == b"ping"
        await asyncio.to_thread(proxy.cut)
        assert await closed_by_peer(reader), "an open connection survived the cut"
        fresh_reader, fresh_writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        fresh_writer.write(b"ping")
        assert await closed_by_peer(fresh_reader), "a new connection was relayed during the cut"
        proxy.restore()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"back")
        assert await asyncio.wait_for(reader.read(4), 2) == b"back"
        writer.close()
        assert proxy.refused >= 1
    finally:
        await asyncio.to_thread(proxy.stop)
        server.close()


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_fresh_tile_during_an_outage_is_a_violation_only_after_the_deadline():
    clock = Clock()
    observer = Observer(lag=2.0, clock=clock)
    observer.outage("cut")
    clock.now += 1.9
    observer.sample({"wall": [["k", "3", "fresh"]]}, None)
    assert observer.violations == []
    clock.now += 0.2
    observer.sample({"wall": [["k", "3", "fresh"]]}, None)
    assert observer.violations and "still fresh 2.1 s into cut" in observer.violations[0]
    observer.sample({"wall": [["k", "3", "stale"]]}, None)
    assert len(observer.violations) == 1


def test_a_fresh_tile_behind_the_truth_is_a_violation_after_the_lag_not_before():
    clock = Clock()
    observer = Observer(lag=2.0, clock=clock)
    truth = {"k": {"value": {"value": 5}}}
    for _ in range(4):
        observer.sample({"desk": [["k", "4", "fresh"]]}, truth)
        clock.now += 0.5
    assert observer.violations == [], "1.5 s behind is latency, not a lie"
    clock.now += 0.6
    observer.sample({"desk": [["k", "4", "fresh"]]}, truth)
    assert "showed 4 (fresh) while the truth was 5" in observer.violations[0]
    observer.sample({"desk": [["k", "4", "stale"]]}, truth)
    clock.now += 5
    observer.sample({"desk": [["k", "4", "stale"]]}, truth)
    assert len(observer.violations) == 1, "a STALE tile may lag the truth"


def test_recovery_needs_every_tile_fresh_and_each_number_seen_equal():
    observer = Observer()
    truth = {"a": {"value": {"value": 1}}, "b": {"value": {"agentId": "x", "status": 4}}}
    tiles = {"desk": [["a", "2", "fresh"], ["b", "", "fresh"]]}
    observer.sample(tiles, truth)
    assert not observer.recovered(tiles, truth)
    tiles = {"desk": [["a", "1", "fresh"], ["b", "", "stale"]]}
    observer.sample(tiles, truth)
    assert not observer.recovered(tiles, truth)
    tiles = {"desk": [["a", "1", "fresh"], ["b", "", "fresh"]]}
    observer.sample(tiles, truth)
    assert observer.recovered(tiles, truth)
    assert not observer.recovered(tiles, None), "without the truth nothing is confirmed"


def test_the_cpu_withheld_from_the_stack_is_what_its_loops_waited_meanwhile():
    before = {(10, 10): 1.5, (20, 20): 0.25, (30, 31): 4.0}
    # (10, 10) waited 0.5 s more, (30, 31) 0.25 s; (20, 20) died; a bridge started meanwhile
    # (40, 40) waited while starting, which is not on the recovery's path.
    after = {(10, 10): 2.0, (30, 31): 4.25, (40, 40): 0.75}
    assert cpu_withheld(before, after) == 0.75
    assert cpu_withheld(after, after) == 0.0


def test_a_threads_cpu_wait_is_read_from_the_kernel_and_zero_once_it_is_gone():
    own = threading.get_native_id()
    waits = [thread_cpu_wait(os.getpid(), own) for _ in range(2)]
    assert 0.0 <= waits[0] <= waits[1]  # a counter since the thread started: never goes back
    assert thread_cpu_wait(os.getpid(), 2**31 - 1) == 0.0
