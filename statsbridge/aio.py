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
