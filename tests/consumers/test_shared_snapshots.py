"""dashboard.snapshots.SharedSnapshots: one read for the sockets asking at once, never a read that began before a sharer asked."""

import asyncio
import threading

import pytest

from dashboard.snapshots import SharedSnapshots

DEADLINE = 10.0


class GatedReads:
    """A read function that records each read and waits on the worker thread until let go."""

    def __init__(self):
        self.started = []  # (dashboard id, slug) of each read, in order
        self.started_event = threading.Event()
        self.go = threading.Event()
        self.fail: Exception | None = None

    def __call__(self, dashboard_id: int, slug: str):
        self.started.append((dashboard_id, slug))
        self.started_event.set()
        assert self.go.wait(DEADLINE), "the test never let the read go"
        if self.fail is not None:
            raise self.fail
        return {"dashboard": slug, "read": len(self.started)}


def in_thread(function):
    async def run(*args):
        return await asyncio.to_thread(function, *args)
    return run


async def wait_until_started(reads: GatedReads) -> None:
    assert await asyncio.to_thread(reads.started_event.wait, DEADLINE), "no read started"


async def test_sockets_asking_before_the_read_starts_share_it():
    reads = GatedReads()
    reads.go.set()
    shared = SharedSnapshots(reads, run_in_thread=in_thread)
    # All ask in the same turn of the loop (as the watcher's tasks do): the read starts
    # on the thread only after they are all registered.
    results = await asyncio.gather(*(shared(7, "sales") for _ in range(50)))
    assert shared.reads == 1
    assert all(result is results[0] for result in results)
    assert results[0] == {"dashboard": "sales", "read": 1}


async def test_a_socket_asking_after_the_read_started_gets_a_new_read():
    reads = GatedReads()
    shared = SharedSnapshots(reads, run_in_thread=in_thread)
    first = asyncio.ensure_future(shared(7, "sales"))
    await wait_until_started(reads)
    # The first read is already reading the store: a socket that joined its group just now
    # could miss a batch published before its join, so it must not get this read.
    second = asyncio.ensure_future(shared(7, "sales"))
    reads.go.set()
    async with asyncio.timeout(DEADLINE):
        one, two = await asyncio.gather(first, second)
    assert one == {"dashboard": "sales", "read": 1}
    assert two == {"dashboard": "sales", "read": 2}
    assert shared.reads == 2


async def test_dashboards_are_read_apart():
    reads = GatedReads()
    reads.go.set()
    shared = SharedSnapshots(reads, run_in_thread=in_thread)
    sales, support = await asyncio.gather(shared(7, "sales"), shared(8, "support"))
    assert sales["dashboard"] == "sales" and support["dashboard"] == "support"
    assert sorted(reads.started) == [(7, "sales"), (8, "support")]


async def test_a_failed_read_fails_every_sharer_and_the_next_ask_reads_again():
    reads = GatedReads()
    reads.fail = ConnectionError("redis is restarting")
    reads.go.set()
    shared = SharedSnapshots(reads, run_in_thread=in_thread)
    outcomes = await asyncio.gather(*(shared(7, "sales") for _ in range(3)), return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [ConnectionError] * 3
    reads.fail = None
    assert await shared(7, "sales") == {"dashboard": "sales", "read": 2}


async def test_the_first_asker_closing_does_not_cancel_the_read_of_the_others():
    reads = GatedReads()
    shared = SharedSnapshots(reads, run_in_thread=in_thread)
    first = asyncio.ensure_future(shared(7, "sales"))
    second = asyncio.ensure_future(shared(7, "sales"))
    await wait_until_started(reads)
    first.cancel()
    reads.go.set()
    async with asyncio.timeout(DEADLINE):
        assert await second == {"dashboard": "sales", "read": 1}
    with pytest.raises(asyncio.CancelledError):
        await first
