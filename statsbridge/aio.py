"""Running blocking work (ORM, cache) off the event loop, in order, on one thread."""

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from django.db import connections


class SyncRunner:
    """One worker thread for a component's blocking calls.

    One thread keeps calls in submission order (a cache write lands before the
    message announcing it) and gives the component one database connection, kept
    open across calls (whatever ``CONN_MAX_AGE`` says: opening one per call cost a
    fifth of the bridge's CPU) and released by ``close()``.
    """

    def __init__(self, name: str):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def __call__(self, function, *args, **kwargs):
        """Run ``function(*args, **kwargs)`` on the worker thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(_with_usable_connection, function, *args, **kwargs))

    async def close(self) -> None:
        """Close the thread's database connections and stop the thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, connections.close_all)
        self._executor.shutdown(wait=False)


def drop_unusable_connections() -> None:
    """Close this thread's connections that saw an error or were left mid-transaction.

    ``django.db.close_old_connections`` without its age limit, and stricter about
    errors: a connection whose autocommit was not restored, or on which a database
    error other than a data or integrity error occurred, is closed (the next query
    opens a new one); a healthy one stays open. Django would keep an errored
    connection that passes ``is_usable()``, but SQLite's always passes, even closed;
    errors are rare, so reconnecting after each costs nothing in practice.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        if connection.errors_occurred or connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
            connection.close()


def _with_usable_connection(function, *args, **kwargs):
    drop_unusable_connections()
    return function(*args, **kwargs)


async def serial_dispatch(receivers, dispatch) -> None:
    """Pass what each of ``receivers`` returns to ``dispatch``, one message at a time, until
    a dispatch raises (that exception is raised here); the receivers are then cancelled.

    What channels' ``await_many_dispatch`` does, cheaper per message: channels makes a new
    task per received message and an ``asyncio.wait`` (a future, done-callbacks added and
    removed on every task) per round, about four event-loop callbacks a message. A socket
    shown a frame every 15 ms paid that on every frame (py-spy, 200 sockets at 200
    updates/s: ~7 % of the web process besides the handler). Here each receiver has one
    long-lived task that receives and then dispatches under a lock: dispatches never
    overlap, run in the order their messages were taken (the lock is first-come,
    first-served), and each receiver holds at most one message not yet dispatched, as in
    channels.
    """
    lock = asyncio.Lock()

    async def pump(receive):
        while True:
            message = await receive()
            async with lock:
                await dispatch(message)

    tasks = [asyncio.ensure_future(pump(receive)) for receive in receivers]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # (a pump only ends by raising)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
