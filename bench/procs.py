"""Child processes of a benchmark: start, wait for readiness, read CPU and RSS from /proc, stop.

Every wait is bounded by a deadline and fails with a message naming what did not happen.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import REPO

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


class BenchError(RuntimeError):
    """A benchmark could not run; the message says what went wrong."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (from /proc/<pid>/statm)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


class Proc:
    """A child process whose output goes to a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, name: str, args: list, *, env: dict | None = None, log_dir: Path, cwd: Path = REPO):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (the child writes to it until stop() closes it)
        full_env = {**os.environ, **(env or {})}
        self.popen = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def cpu(self) -> float:
        """CPU seconds used so far."""
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        """Resident memory in bytes."""
        return rss_bytes(self.pid)

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log, for error messages."""
        self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        """Raise :class:`BenchError` with the log's tail if the process has exited."""
        if not self.alive():
            raise BenchError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str,
                     interval: float = 0.05, check: Callable[[], None] | None = None) -> float:
    """Poll ``predicate`` until true; return seconds taken, or raise naming ``what``."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if check is not None:
            check()
        if await predicate():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


class CpuWindow:
    """CPU seconds and wall seconds a set of processes used between ``start`` and ``stop``."""

    def __init__(self, pids: list):
        self.pids = pids
        self._cpu0 = self._wall0 = 0.0
        self.cpu = self.wall = 0.0

    def start(self) -> None:
        """Begin the window."""
        self._cpu0 = sum(cpu_seconds(p) for p in self.pids)
        self._wall0 = time.monotonic()

    def stop(self) -> None:
        """End the window."""
        self.cpu = sum(cpu_seconds(p) for p in self.pids) - self._cpu0
        self.wall = time.monotonic() - self._wall0

    @property
    def cores(self) -> float:
        """Average cores used over the window."""
        return self.cpu / self.wall if self.wall else 0.0
