"""Running blocking work (ORM, cache) off the event loop, in order, on one thread."""

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections


class SyncRunner:
    """One worker thread for a component's blocking calls.

    One thread keeps calls in submission order (a cache write lands before the
    message announcing it) and gives the component one database connection, which
    ``close()`` releases.
    """

    def __init__(self, name: str):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def __call__(self, function, *args, **kwargs):
        """Run ``function(*args, **kwargs)`` on the worker thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(_with_fresh_connection, function, *args, **kwargs))

    async def close(self) -> None:
        """Close the thread's database connections and stop the thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, connections.close_all)
        self._executor.shutdown(wait=False)


def _with_fresh_connection(function, *args, **kwargs):
    # Drops connections the server closed or that outlived CONN_MAX_AGE, as Django
    # does around each request.
    close_old_connections()
    return function(*args, **kwargs)
