"""Runs ``manage.py tail_notifications`` as a real process and reads its streams."""

import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


class TailProcess:
    """A running tail command; stdout JSON lines and stderr lines are collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.stdout: list[dict] = []
        self.stderr: list[str] = []
        self._readers = [asyncio.ensure_future(self._read(process.stdout, self._on_stdout)),
                         asyncio.ensure_future(self._read(process.stderr, self.stderr.append))]

    @classmethod
    async def start(cls, *args: str, env: dict | None = None) -> "TailProcess":
        """Start the command with ``args`` (after ``tail_notifications``)."""
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_LEVEL": "WARNING",
                       **(env or {})}
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "manage.py"), "tail_notifications", *args,
            cwd=ROOT, env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(process)

    def _on_stdout(self, line: str) -> None:
        self.stdout.append(json.loads(line))

    @staticmethod
    async def _read(stream, sink) -> None:
        while line := await stream.readline():
            sink(line.decode().rstrip("\n"))

    async def wait_stderr(self, fragment: str, *, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until ``count`` stderr lines contain ``fragment``."""
        deadline = time.monotonic() + timeout
        while sum(fragment in line for line in self.stderr) < count:
            if time.monotonic() > deadline or self.process.returncode is not None:
                raise AssertionError(f"no {count} x {fragment!r} on stderr: {self.stderr}")
            await asyncio.sleep(0.05)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit; returns its exit code."""
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"tail did not exit within {timeout} s; stderr: {self.stderr}") from None
        await asyncio.gather(*self._readers)
        return code

    async def kill(self) -> None:
        """Stop the process if it still runs."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
