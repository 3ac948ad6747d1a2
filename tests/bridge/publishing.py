"""Helpers of the fan-out tests: routes made by hand, and the next batch a channel receives."""

import asyncio
import time

from statsbridge.decoding import hint_for
from statsbridge.fanout import FRAME_MESSAGE
from statsbridge.wanted import Routes, Wanted


def routes_of(dashboards: dict[int, list[str]]) -> Routes:
    """Routes of ``{dashboard id: [statistic key, ...]}``, every statistic a CallsWaiting counter."""
    by_key: dict[str, set] = {}
    for dashboard_id, keys in dashboards.items():
        for key in keys:
            by_key.setdefault(key, set()).add(dashboard_id)
    wanted = {k: Wanted(k, {"statisticId": k}, hint_for(k, "CallsWaiting", None)) for k in by_key}
    return Routes(wanted=wanted, dashboards_by_key={k: frozenset(v) for k, v in by_key.items()},
                  slugs={d: f"d{d}" for d in dashboards})


async def next_batch_message(layer, channel: str, timeout: float):
    """The next batch on ``channel``: (frame, its receipt or None, when it arrived); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no batch on {channel} within {timeout} s")
        try:
            message = await asyncio.wait_for(layer.receive(channel), left)
        except TimeoutError:
            raise AssertionError(f"no batch on {channel} within {timeout} s") from None
        if message["type"] == FRAME_MESSAGE and message["frame"]["type"] == "batch":
            return message["frame"], message.get("receipt"), time.monotonic()


async def next_batch(layer, channel: str, timeout: float) -> tuple[dict, float]:
    """The next batch frame on ``channel`` and when it arrived (monotonic); fail after ``timeout``."""
    frame, _receipt, arrived = await next_batch_message(layer, channel, timeout)
    return frame, arrived
