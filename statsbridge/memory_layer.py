"""The in-memory channel layer of the embedded default, without its per-message sweep.

channels' ``InMemoryChannelLayer.receive`` sweeps every channel's queue and every group's
members for expired entries on each message it hands out (``_clean_expired``), and
``send`` and ``receive`` build a new ``asyncio.Queue`` per call whether one exists or not
(``setdefault``'s argument). With 200 sockets that sweep was most of what one frame cost a
socket: the cost of a frame grew with the number of sockets, so the cost of a batch grew
with their square. Here the sweep runs at most once per ``SWEEP_SECONDS``: messages expire
after 60 s and group memberships after a day, so sweeping once a second removes the same
entries at most a second later. ``group_send`` queues the message for each member in
turn, where channels makes a task per member and awaits them through ``as_completed``:
a task, its first step and its completion per socket frame, for a ``send`` that never
waits (the queue's ``put_nowait``). Everything else is channels' own code.
"""

import asyncio
import time
from copy import deepcopy

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

SWEEP_SECONDS = 1.0


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    """``InMemoryChannelLayer`` whose expiry sweep runs at most once per ``SWEEP_SECONDS``."""

    _swept_at = 0.0

    def _queue(self, channel: str) -> asyncio.Queue:
        """The queue of ``channel``, made only when it has none."""
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    def _clean_expired(self) -> None:
        """Sweep expired messages and memberships, at most once per ``SWEEP_SECONDS``."""
        now = time.monotonic()
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        super()._clean_expired()

    async def send(self, channel, message):
        """Queue ``message`` on ``channel`` (as channels does, without a throw-away queue)."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        try:
            self._queue(channel).put_nowait((time.time() + self.expiry, deepcopy(message)))
        except asyncio.queues.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group, message):
        """Queue a copy of ``message`` for every member of ``group``, in turn (a full channel
        misses it, as in channels)."""
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        # A copy of the members: ``send`` never suspends, but a subclass's or a wrapper's might.
        for channel in list(self.groups.get(group, ())):
            try:  # noqa: SIM105  (not contextlib.suppress: no context manager per member)
                await self.send(channel, message)
            except ChannelFull:
                pass

    async def receive(self, channel):
        """The first message that arrives on ``channel`` (as channels does, swept at most once a second)."""
        self.require_valid_channel_name(channel)
        self._clean_expired()
        queue = self._queue(channel)
        try:
            _, message = await queue.get()
        finally:
            if queue.empty():
                self.channels.pop(channel, None)
        return message
