"""Waiting on conditions with deadlines (never fixed sleeps), and free ports."""

import asyncio
import socket
import time

import pytest


def wait_for(condition, timeout: float, message: str, interval: float = 0.05):
    """Poll ``condition()`` until it returns something truthy and return that; fail the
    test with ``message`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout} s)")
        time.sleep(interval)


async def eventually(condition, timeout: float = 10.0, message: str = "condition", interval: float = 0.02):
    """Async form of ``wait_for``: ``condition`` may be sync or return an awaitable."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        await asyncio.sleep(interval)


def free_port() -> int:
    """A loopback port that was free a moment ago (for commands that need a concrete one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
