"""A TCP proxy between the bridge and the simulator that can cut the network.

``cut()`` drops every open connection (both sides closed at once, like a failed
link) and refuses new ones (accepted and closed immediately, no bytes relayed) until
``restore()``. It runs its own event loop in a daemon thread so synchronous tests can
drive it.
"""

import asyncio
import threading


class CuttableProxy:
    """Relays 127.0.0.1:<port> to ``target_port``; ``cut()``/``restore()`` the link."""

    def __init__(self, target_port: int, port: int = 0):
        self.target_port = target_port
        self.port = port
        self.connections = 0
        self.refused = 0
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="cuttable-proxy", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the proxied HTTP service."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "CuttableProxy":
        """Listen, relaying to the target."""
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close everything and end the thread."""
        self._call(self._close_all(stop_server=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self._cut = True
        self._call(self._close_all(stop_server=False))

    def restore(self) -> None:
        """Relay new connections again."""
        self._cut = False

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _close_all(self, *, stop_server: bool) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if stop_server and self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        self._writers.difference_update((writer, upstream_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
