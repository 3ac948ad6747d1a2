"""Test helpers: deadline-based waiting, an event collector, and the Node Bayeux peers."""

import asyncio
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import aiohttp

from statsbridge.upstream.bayeux import BayeuxClient, Message, SessionEstablished
from tests.waiting import eventually as wait_for
from tests.waiting import eventually as wait_for_async  # noqa: F401  (for async conditions)

PEERS_DIR = Path(__file__).resolve().parent.parent / "peers"
MOUNT = "/statistics/v3/notifications"


class Collector:
    """Consumes a client's events in the background and keeps them for assertions."""

    def __init__(self, client: BayeuxClient):
        self.client = client
        self.events: list = []
        self.task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self):
        async for event in self.client.events():
            self.events.append(event)

    def of(self, kind) -> list:
        """The collected events of type ``kind``."""
        return [e for e in self.events if isinstance(e, kind)]

    def seqs(self, channel: str) -> list[int]:
        """The ``seq`` of every data message received on ``channel``, in order."""
        return [e.data["seq"] for e in self.of(Message) if e.channel == channel]

    def sessions(self) -> list[SessionEstablished]:
        """The SessionEstablished events so far."""
        return self.of(SessionEstablished)

    async def wait_sessions(self, count: int, timeout: float = 15.0):
        """Wait until ``count`` sessions were announced."""
        await wait_for(lambda: len(self.sessions()) >= count, timeout=timeout,
                       message=f"{count} SessionEstablished events (got {len(self.sessions())})")

    async def wait_seqs(self, channel: str, last: int, timeout: float = 15.0):
        """Wait until a message with ``seq == last`` arrived on ``channel``."""
        await wait_for(lambda: last in self.seqs(channel), timeout=timeout,
                       message=f"seq {last} on {channel} (have {self.seqs(channel)[-5:]})")


class NodePeer:
    """A Node Bayeux server from tests/peers, restartable on the same port."""

    def __init__(self, script: str, *args: str):
        self.script = script
        self.args = list(args)
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The Bayeux endpoint URL."""
        return f"http://127.0.0.1:{self.port}{MOUNT}"

    @property
    def base(self) -> str:
        """The server's root URL (control API under /control/)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "NodePeer":
        """Start (or restart on the same port) and wait for the port line."""
        self.process = subprocess.Popen(
            ["node", str(PEERS_DIR / self.script), "--port", str(self.port), *self.args],
            cwd=PEERS_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if line:
                    self.port = json.loads(line)["port"]
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.script} exited: {self.process.stderr.read()}")
        self.stop()
        raise RuntimeError(f"{self.script} printed no port within {timeout} s")

    def stop(self) -> None:
        """Kill the server (like a crash: no goodbye to clients)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.process is not None:
            self.process.stdout.close()
            self.process.stderr.close()
        self.process = None

    async def control(self, name: str, body: dict | None = None, method: str = "POST") -> dict:
        """Call the control API."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self.base}/control/{name}", json=body) as response,
        ):
            assert response.status == 200, f"control {name}: HTTP {response.status}"
            return await response.json()

    async def state(self) -> dict:
        """The server's counters."""
        return await self.control("state", method="GET")
