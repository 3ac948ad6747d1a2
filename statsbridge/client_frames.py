"""Pure helpers of the WebSocket consumers: client frame parsing, rate limit, sequence filter."""

import json
import time
from dataclasses import dataclass, field

from statsbridge import frames


def parse_client_frame(text: str | None, data: bytes | None) -> tuple[dict | None, dict | None]:
    """Return ``(frame, None)`` for a valid client frame, else ``(None, error frame)``."""
    if data is not None and text is None:
        return None, frames.error("bad_message", "Send JSON text frames, not binary.")
    raw = text or ""
    if len(raw.encode("utf-8", "surrogatepass")) > frames.MAX_CLIENT_FRAME_BYTES:
        return None, frames.error("too_large", f"Frames are limited to {frames.MAX_CLIENT_FRAME_BYTES} bytes.")
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None, frames.error("bad_json", "The frame is not valid JSON.")
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None, frames.error("bad_message", 'A frame must be a JSON object with a "type".')
    if not frames.is_known_client_type(frame):
        return None, frames.error("unknown_type", f"Unknown frame type {frame['type'][:40]!r}.")
    try:
        frames.validate_client_frame(frame)
    except frames.FrameError as problem:
        return None, frames.error("bad_message", str(problem)[:200])
    return frame, None


@dataclass
class TokenBucket:
    """Allows ``rate`` frames per second with bursts of ``burst``; says when one is over."""

    rate: float
    burst: float
    clock: object = time.monotonic
    tokens: float = field(default=-1.0)
    updated: float = field(default=0.0)
    warned_at: float = field(default=-1e9)

    def allow(self) -> bool:
        """Take a token if one is left."""
        now = self.clock()
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def should_warn(self) -> bool:
        """At most one rate_limited error per second, so a flood is not echoed back."""
        now = self.clock()
        if now - self.warned_at >= 1.0:
            self.warned_at = now
            return True
        return False


class SeqFilter:
    """Forwards each dashboard's frames once and in order, after its snapshot."""

    def __init__(self):
        self._last: dict[str, int] = {}

    def snapshot_sent(self, frame: dict) -> None:
        """Remember the sequence number a snapshot carried."""
        self._last[frame["dashboard"]] = frame["seq"]

    def accept(self, frame: dict) -> bool:
        """Whether a batch/status frame is newer than what the client has (frames of
        dashboards without a snapshot yet are held back: the snapshot will cover them)."""
        last = self._last.get(frame["dashboard"])
        if last is None or frame["seq"] <= last:
            return False
        self._last[frame["dashboard"]] = frame["seq"]
        return True

    def forget(self, slug: str) -> None:
        """Stop tracking a dashboard the client no longer watches."""
        self._last.pop(slug, None)
