"""channels_redis' layer, able to acknowledge rounds across processes (``statsbridge.acks``).

Two additions to ``channels_redis.core.RedisChannelLayer`` (4.x), everything else is its own:

- ``group_send`` returns how many channels the message was queued for (the group's members
  after expiry trimming, less those whose queue was full), and ``group_send_counted`` the
  same per web process, so the bridge knows how many hand-backs a round waits for, and
  from whom. channels_redis queues one message per web process (its process-local
  channels share one Redis key, ``process_key``): the Lua script here returns which keys
  were full, and their channels are taken off;
- ``hand_back(tag)``: what a consumer calls after sending a batch that carried a round tag.
  Hand-backs are gathered (``acks.AckTally``) and sent as ONE ``round.ack`` per (reply
  channel, round) once the event loop went round without another one, at most
  ``acks.ACK_COALESCE_SECONDS`` later.
"""

import asyncio
import collections
import logging
import time

from channels_redis.core import RedisChannelLayer

from statsbridge.acks import ACK_COALESCE_SECONDS, AckTally, ack_message

log = logging.getLogger(__name__)

# Queues each key's message when it has room; returns the (1-based) indices of the full ones.
GROUP_SEND_LUA = """
    local full = {}
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            full[#full + 1] = i
        end
    end
    return full
"""


class _Departed:
    """Stands in for the receive buffer of a channel whose socket ended: what arrives for it
    is acknowledged and dropped (nobody will read it)."""

    __slots__ = ("layer",)

    def __init__(self, layer):
        self.layer = layer

    def put_nowait(self, message) -> None:
        """Acknowledge ``message``'s round, if it has one, instead of keeping it."""
        tag = message.get("round") if isinstance(message, dict) else None
        if tag is not None:
            self.layer.hand_back(tag)


class _Buffers(collections.defaultdict):
    """channels_redis' ``receive_buffer``, where a channel no socket of this process reads
    (never made here, or departed) gets a ``_Departed`` (not stored) instead of a new queue."""

    def __init__(self, factory, layer):
        super().__init__(factory)
        self.live: set[str] = set()  # channels made by new_channel() and not departed
        self.sink = _Departed(layer)

    def __missing__(self, channel):
        if channel not in self.live:
            return self.sink
        return super().__missing__(channel)


class AckingRedisChannelLayer(RedisChannelLayer):
    """``RedisChannelLayer`` whose ``group_send`` counts its recipients and that sends
    coalesced round acknowledgements (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tally = AckTally()
        self._settle_from = 0.0  # loop time of the first hand-back of the pending burst
        self._settle_seen = 0  # tally.added when the burst was last looked at
        self._ack_tasks: set[asyncio.Task] = set()
        self.acks_sent = 0
        self.receive_buffer = _Buffers(self.receive_buffer.default_factory, self)

    async def new_channel(self, prefix="specific"):
        """A new process-local channel name (channels_redis'), read by a socket of this process until it departs."""
        channel = await super().new_channel(prefix)
        self.receive_buffer.live.add(channel)
        return channel

    def depart(self, channel: str) -> None:
        """``channel``'s socket ended: what still arrives for it is acknowledged and dropped.

        For good, not for a while: a socket whose ``group_discard`` did not happen (cancelled
        while leaving, Redis blipped) stays a member of its groups for channels_redis' group
        expiry, a day, and each of its dashboard's rounds would otherwise wait for it until the
        round timeout (every round, while this process acknowledges the others: it never
        counts as absent). Two web processes at 1,000 clients ended every round that way.
        """
        self.receive_buffer.pop(channel, None)
        self.receive_buffer.live.discard(channel)

    async def group_send(self, group, message) -> int:
        """Send ``message`` to every member of ``group``; return how many channels it was queued for."""
        return sum((await self.group_send_counted(group, message)).values())

    async def group_send_counted(self, group, message) -> dict[str, int]:
        """``group_send``, returning the channels it was queued for per process key
        (the Redis key a process's channels share: ``process_key`` of that process)."""
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        # Discard old channels based on group_expiry (as channels_redis does).
        await connection.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        channel_names = [x.decode("utf8") for x in await connection.zrange(key, 0, -1)]
        by_connection, key_message, key_capacity = self._map_channel_keys_to_connection(channel_names, message)
        queued: dict[str, int] = {}
        for channel in channel_names:
            channel_key = self.prefix + (self.non_local_name(channel) if "!" in channel else channel)
            queued[channel_key] = queued.get(channel_key, 0) + 1
        for index, channel_keys in by_connection.items():
            connection = self.connection(index)
            pipe = connection.pipeline()
            for channel_key in channel_keys:
                pipe.zremrangebyscore(channel_key, min=0, max=int(time.time()) - int(self.expiry))
            await pipe.execute()
            args = [key_message[k] for k in channel_keys] + [key_capacity[k] for k in channel_keys]
            args += [time.time(), self.expiry]
            full = await connection.eval(GROUP_SEND_LUA, len(channel_keys), *channel_keys, *args)
            if full:
                lost = sum(queued.pop(channel_keys[int(i) - 1]) for i in full)
                log.info("%s of %s channels over capacity in group %s", lost, len(channel_names), group)
        return queued

    @property
    def process_key(self) -> str:
        """The Redis key this process's channels (``new_channel()``) share: names it in acks."""
        return f"{self.prefix}specific.{self.client_prefix}!"

    # ------------------------------------------------------------ acknowledgements

    def hand_back(self, tag) -> None:
        """A consumer sent (or dropped) a batch carrying round ``tag``: acknowledge it soon,
        together with the other hand-backs of the same burst."""
        if not self._tally.add(tag):
            return
        loop = asyncio.get_running_loop()
        self._settle_from = loop.time()
        self._settle_seen = self._tally.added
        loop.call_soon(self._settle)

    def _settle(self) -> None:
        """Send the gathered acks once a loop pass brought no new hand-back (or the burst is old enough)."""
        loop = asyncio.get_running_loop()
        if self._tally.added != self._settle_seen and loop.time() - self._settle_from < ACK_COALESCE_SECONDS:
            self._settle_seen = self._tally.added  # sockets are still handing back: one more pass
            loop.call_soon(self._settle)
            return
        acks = self._tally.take()
        if acks:
            task = loop.create_task(self._send_acks(acks))
            self._ack_tasks.add(task)  # (the loop keeps only weak references to tasks)
            task.add_done_callback(self._ack_tasks.discard)

    async def _send_acks(self, acks) -> None:
        """Send each ``(reply channel, round id, count)``; one that fails only makes its round time out."""
        for reply, round_id, count in acks:
            try:
                await self.send(reply, ack_message(round_id, count, self.process_key))
                self.acks_sent += 1
            except Exception:  # Redis blipped or the bridge's queue is full: the round times out.
                log.warning("could not acknowledge round %s to %s", round_id, reply, exc_info=True)
