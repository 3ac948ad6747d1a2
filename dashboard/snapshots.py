"""One snapshot read per dashboard for every socket of this process that asks at once.

When the bridge comes or goes, or the shared store is reset, every open socket sends
fresh snapshots (``LiveConsumer.bridge_changed``); at 1,000 sockets on ten dashboards
that was 1,000 store reads and 1,000 JSON encodings, queued on the one database thread,
while the same ten frames were being read over and over (a starved loop whose watcher
flapped re-snapshotted all sockets 6,510 times in one loaded benchmark run).

Sharing is only correct for sockets that joined the dashboard's group before the shared
read started: a batch published after the read is delivered to them with a higher
sequence number, one published before is in the snapshot. So a read is open to sharers
until its first step on the worker thread, which closes it; a socket asking later starts
(or joins) the next read.
"""

import asyncio
import threading

from channels.db import database_sync_to_async


class _Read:
    """A snapshot read open to sharers until it starts on the worker thread."""

    __slots__ = ("future", "loop", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.future = loop.create_future()
        self.task: asyncio.Task | None = None


class SharedSnapshots:
    """``await shared(dashboard_id, slug)``: ``read(dashboard_id, slug)``'s result, one read for all who ask meanwhile.

    ``read`` runs on a worker thread (``run_in_thread``, the database thread by default)
    and must return what every sharer may send as it is: sharers get the same objects.
    """

    def __init__(self, read, run_in_thread=database_sync_to_async):
        self._read = read
        self._run_in_thread = run_in_thread
        self._open: dict[tuple[int, str], _Read] = {}
        self._lock = threading.Lock()  # the loop adds entries, the worker thread closes them
        self.reads = 0  # how many reads ran (for tests)

    async def __call__(self, dashboard_id: int, slug: str):
        """The dashboard's snapshot, read after this call began (the caller joined its group first)."""
        key = (dashboard_id, slug)
        loop = asyncio.get_running_loop()
        with self._lock:
            read = self._open.get(key)
            if read is None or read.loop is not loop:  # (another loop's read: a test's leftover)
                read = self._open[key] = _Read(loop)
                # A task of its own: the socket that asked first may close meanwhile, and
                # cancelling it must not cancel the read the others wait for (hence shield).
                read.task = loop.create_task(self._run(key, read))
        return await asyncio.shield(read.future)

    async def _run(self, key: tuple[int, str], read: _Read) -> None:
        try:
            result = await self._run_in_thread(self._read_closing)(key, read)
        except Exception as error:
            self._close(key, read)  # (it may have failed before closing itself)
            read.future.set_exception(error)
            read.future.exception()  # retrieved: every sharer may have gone meanwhile
        else:
            read.future.set_result(result)

    def _read_closing(self, key: tuple[int, str], read: _Read):
        """(Worker thread.) Close ``read`` to new sharers, then read."""
        self._close(key, read)
        self.reads += 1
        return self._read(*key)

    def _close(self, key: tuple[int, str], read: _Read) -> None:
        with self._lock:
            if self._open.get(key) is read:
                del self._open[key]
