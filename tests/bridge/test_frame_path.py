"""The per-socket-frame path's own helpers: direct socket writes and the consumers' dispatch loop."""

import asyncio

import pytest
from channels.exceptions import StopConsumer

from statsbridge.aio import serial_dispatch
from statsbridge.serve import write_now


class FakeTransport:
    """The parts of Twisted's ``tcp.Connection`` that ``write_now`` reads; sends ``accept`` bytes at most."""

    TLS = False

    def __init__(self, accept: int | None = None, lost: bool = False):
        self.accept = accept
        self.lost = lost
        self.connected = True
        self.disconnecting = False
        self._writeDisconnected = False
        self.producer = None
        self.streamingProducer = False
        self._tempDataBuffer: list = []
        self.dataBuffer = b""
        self.offset = 0
        self.on_wire = b""
        self.written: list = []  # what went through transport.write (buffered)

    def writeSomeData(self, data):
        if self.lost:
            return ConnectionError("lost")
        n = len(data) if self.accept is None else min(self.accept, len(data))
        self.on_wire += bytes(data[:n])
        return n

    def write(self, data):
        self.written.append(bytes(data))
        self._tempDataBuffer.append(data)


def test_an_idle_socket_is_written_at_once():
    transport = FakeTransport()
    write_now(transport, b"frame")
    assert transport.on_wire == b"frame" and transport.written == []


def test_a_socket_with_a_streaming_producer_is_written_at_once():
    transport = FakeTransport()
    transport.producer, transport.streamingProducer = object(), True  # (daphne's HTTP channel)
    write_now(transport, b"frame")
    assert transport.on_wire == b"frame" and transport.written == []


def test_what_the_socket_does_not_take_is_buffered_after_what_it_took():
    transport = FakeTransport(accept=3)
    write_now(transport, b"frame")
    assert transport.on_wire == b"fra" and transport.written == [b"me"]
    write_now(transport, b"next")  # data is waiting now: behind it, not around it
    assert transport.on_wire == b"fra" and transport.written == [b"me", b"next"]


@pytest.mark.parametrize("change", [
    {"TLS": True}, {"connected": False}, {"disconnecting": True}, {"_writeDisconnected": True},
    {"producer": object(), "streamingProducer": False}, {"_tempDataBuffer": [b"x"]}, {"dataBuffer": b"xy", "offset": 1},
])
def test_anything_but_an_idle_plain_socket_goes_through_twisted(change):
    transport = FakeTransport()
    for name, value in change.items():
        setattr(transport, name, value)
    write_now(transport, b"frame")
    assert transport.on_wire == b"" and transport.written == [b"frame"]


def test_a_lost_connection_is_left_to_twisted():
    transport = FakeTransport(lost=True)
    write_now(transport, b"frame")
    assert transport.written == [b"frame"]


async def test_serial_dispatch_never_overlaps_and_keeps_each_receivers_order():
    a, b = asyncio.Queue(), asyncio.Queue()
    running, seen = [], []

    async def dispatch(message):
        running.append(message)
        assert len(running) == 1, "two dispatches at once"
        await asyncio.sleep(0)  # let the other receiver's message arrive meanwhile
        running.remove(message)
        seen.append(message)
        if message == "stop":
            raise StopConsumer

    for i in range(5):
        a.put_nowait(f"a{i}")
        b.put_nowait(f"b{i}")
    a.put_nowait("stop")
    with pytest.raises(StopConsumer):
        await asyncio.wait_for(serial_dispatch([a.get, b.get], dispatch), 5)
    assert [m for m in seen if m.startswith("a")] == [f"a{i}" for i in range(5)]
    from_b = [m for m in seen if m.startswith("b")]
    assert from_b == [f"b{i}" for i in range(5)][:len(from_b)]
    assert seen[-1] == "stop"


class NeverReceives:
    """A receiver that blocks for good; records that it started and that it was cancelled."""

    def __init__(self):
        self.started = asyncio.Event()
        self.cancelled = False

    async def __call__(self):
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_serial_dispatch_cancels_its_receivers_when_it_ends():
    never = NeverReceives()
    queue = asyncio.Queue()

    async def dispatch(message):
        raise RuntimeError(message)

    task = asyncio.ensure_future(serial_dispatch([never, queue.get], dispatch))
    await asyncio.wait_for(never.started.wait(), 5)
    queue.put_nowait("boom")
    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(task, 5)
    assert never.cancelled


async def test_serial_dispatch_cancelled_from_outside_cancels_its_receivers():
    never = NeverReceives()

    async def dispatch(message):
        pass

    task = asyncio.ensure_future(serial_dispatch([never], dispatch))
    await asyncio.wait_for(never.started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert never.cancelled


async def test_group_send_queues_a_copy_for_each_member_and_a_full_channel_only_misses_it():
    from statsbridge.memory_layer import SweepingInMemoryChannelLayer

    layer = SweepingInMemoryChannelLayer(capacity=1)
    full, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("dash.1", full)
    await layer.group_add("dash.1", other)
    await layer.send(full, {"type": "x", "n": 0})  # its one place taken
    message = {"type": "x", "n": 1, "inner": {"a": 1}}
    await layer.group_send("dash.1", message)
    got = await asyncio.wait_for(layer.receive(other), 5)
    assert got == message and got["inner"] is not message["inner"], "a copy, as channels makes"
    assert (await asyncio.wait_for(layer.receive(full), 5))["n"] == 0
    await layer.group_send("dash.1", {"type": "x", "n": 2})
    assert (await asyncio.wait_for(layer.receive(full), 5))["n"] == 2
    await layer.group_send("nobody", {"type": "x"})  # a group without members: nothing, no error
