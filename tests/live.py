"""Test helpers shared by bridge and consumer tests: deadlines and a model browser."""

import asyncio
import time

from statsbridge import frames


async def eventually(predicate, timeout: float, message: str, interval: float = 0.02):
    """Poll an (a)sync predicate until it returns something truthy; fail with ``message``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{message} (not within {timeout} s; last: {last!r})")


class Browser:
    """What a browser would hold, built only from schema-checked frames."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.frames: list[dict] = []
        self.values: dict[str, dict] = {}
        self.seq: dict[str, int] = {}
        self.connection: dict | None = None
        self.gaps: list[tuple] = []

    def apply(self, frame: dict) -> None:
        """Validate and apply one server frame."""
        frames.validate_frame(frame)
        self.frames.append(frame)
        kind = frame["type"]
        if kind == "snapshot":
            self.seq[frame["dashboard"]] = frame["seq"]
            self.values.update(frame["values"])
            self.connection = frame["connection"]
        elif kind in ("batch", "status"):
            last = self.seq.get(frame["dashboard"])
            if last is not None and frame["seq"] != last + 1:
                self.gaps.append((frame["dashboard"], last, frame["seq"]))
            self.seq[frame["dashboard"]] = frame["seq"]
            if kind == "batch":
                self.values.update(frame["values"])
            else:
                self.connection = frame["connection"]

    async def pump(self, wait: float = 0.05) -> int:
        """Take every frame that arrives within ``wait`` of the previous one."""
        # receive_nothing never cancels the application, unlike a timed-out receive.
        count = 0
        while not await self.communicator.receive_nothing(timeout=wait, interval=0.005):
            self.apply(await self.communicator.receive_json_from())
            count += 1
        return count

    async def next_frame(self, timeout: float = 10.0) -> dict:
        """The next frame (validated and applied); ``timeout`` only bounds a test that
        fails, so it is generous for a loaded machine (a first snapshot reads the database)."""
        if await self.communicator.receive_nothing(timeout=timeout, interval=0.005):
            raise AssertionError(f"no frame within {timeout} s")
        frame = await self.communicator.receive_json_from()
        self.apply(frame)
        return frame

    async def until(self, predicate, timeout: float, message: str):
        """Pump frames until ``predicate(self)`` holds."""
        async def check():
            await self.pump(0.02)
            return predicate(self)

        return await eventually(check, timeout, message, interval=0)
