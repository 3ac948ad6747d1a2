"""Acknowledged rounds on channels_redis (``runbridge``), on the machine's Redis: a round ends
when every web process acknowledged its sockets' hand-backs (one ack per process and
round), and a round whose socket never reads ends at the timeout.

Rounds here end only by acks where the round timeout is an hour: a test that passes
cannot have been let through by a timer (and ``RoundLedger`` counts how each ended)."""

import asyncio
import contextlib
import uuid

import pytest
from channels.layers import get_channel_layer

from statsbridge.aio import SyncRunner
from statsbridge.fanout import Fanout, dashboard_group
from statsbridge.redis_layer import AckingRedisChannelLayer
from tests.bridge.test_publishing_paths import routes_of
from tests.consumers.helpers import fresh, make_async, make_dashboard, staff_user
from tests.consumers.test_clocked_frames import beating, clocked_rounds_to_two_sockets, routes_for
from tests.waiting import eventually

pytestmark = pytest.mark.scaleout

REDIS = "redis://127.0.0.1:6379/7"  # (the benchmarks claim and empty databases 8-15)


def layer_config(prefix: str) -> dict:
    """The Redis channel layer's config, as settings build it, under a prefix of this test's own."""
    return {"hosts": [{"address": REDIS, "socket_timeout": 15.0}], "prefix": prefix, "capacity": 1000, "expiry": 30}


@contextlib.asynccontextmanager
async def processes(count: int):
    """``count`` layers on one Redis, each as a process of its own sees it (its own
    process-local channels and receive loop); flushed and closed afterwards."""
    prefix = f"acks{uuid.uuid4().hex[:8]}"
    layers = [AckingRedisChannelLayer(**layer_config(prefix)) for _ in range(count)]
    try:
        yield layers
    finally:
        await layers[0].flush()
        for layer in layers:
            await layer.close_pools()


async def batch(layer, channel: str) -> dict:
    """The next batch message on ``channel`` (status frames skipped); fail after 10 s."""
    while True:
        message = await asyncio.wait_for(layer.receive(channel), 10)
        if message["frame"]["type"] == "batch":
            return message


async def bridge_on(layer, round_timeout: float) -> tuple[Fanout, SyncRunner]:
    """A fan-out publishing dashboard 1 (statistic "a") over ``layer``, nothing yet in flight."""
    runner = SyncRunner("test-acks")
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=0.0)
    fanout.clock.round_timeout = round_timeout
    await fanout.set_routes(routes_of({1: ["a"]}))
    await fanout.flush()  # the start's status frame (not clocked)
    return fanout, runner


async def test_a_round_ends_once_each_web_process_acknowledged_its_sockets_one_ack_per_process():
    async with processes(3) as (bridge_layer, web_a, web_b):
        fanout, runner = await bridge_on(bridge_layer, round_timeout=3600.0)
        a1, a2, b1 = await web_a.new_channel(), await web_a.new_channel(), await web_b.new_channel()
        for layer, channel in ((web_a, a1), (web_a, a2), (web_b, b1)):
            await layer.group_add(dashboard_group(1), channel)
        try:
            fanout.offer("a", fresh(1))
            assert await fanout.flush_due() == 1
            got = {channel: await batch(layer, channel) for layer, channel in ((web_a, a1), (web_a, a2), (web_b, b1))}
            [round_] = fanout.rounds.rounds.values()
            assert round_.expected == {web_a.process_key: 2, web_b.process_key: 1}, "sockets per web process"
            web_a.hand_back(got[a1]["round"])
            web_a.hand_back(got[a2]["round"])  # same burst: one ack for both
            await eventually(lambda: round_.acked == {web_a.process_key: 2}, 10, "web process A's ack arrives")
            assert web_a.acks_sent == 1
            fanout.offer("a", fresh(2))
            assert await fanout.flush_due() == 0 and 1 in fanout.clock.in_flight, "B's socket has not acked"
            web_b.hand_back(got[b1]["round"])
            await eventually(lambda: not fanout.clock.in_flight, 10, "web process B's ack ends the round")
            assert (fanout.rounds.by_ack, fanout.rounds.by_timeout) == (1, 0)
            assert await fanout.flush_due() == 1
            assert (await batch(web_b, b1))["frame"]["values"]["a"]["value"] == 2
        finally:
            await fanout.close()
            await runner.close()


async def test_a_round_whose_socket_never_reads_ends_at_the_timeout():
    async with processes(2) as (bridge_layer, web):
        fanout, runner = await bridge_on(bridge_layer, round_timeout=0.3)
        await web.group_add(dashboard_group(1), await web.new_channel())  # never read
        try:
            fanout.offer("a", fresh(1))
            assert await fanout.flush_due() == 1
            fanout.offer("a", fresh(2))
            assert await fanout.flush_due() == 0, "in flight until acked or timed out"

            async def sent_again():
                return await fanout.flush_due() == 1

            await eventually(sent_again, 10, "the next batch leaves once the round timed out")
            assert (fanout.rounds.by_ack, fanout.rounds.by_timeout) == (0, 1)
        finally:
            await fanout.close()
            await runner.close()


@pytest.mark.django_db(transaction=True)
async def test_desk_sockets_on_channels_redis_hand_back_and_each_batch_leaves_by_their_acks(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "statsbridge.redis_layer.AckingRedisChannelLayer",
                                           "CONFIG": layer_config(f"acks{uuid.uuid4().hex[:8]}")}}
    layer = get_channel_layer()
    dashboard, keys = await make_async(make_dashboard)
    user = await make_async(staff_user)
    runner = SyncRunner("test-acks-desks")
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=0.001)
    fanout.clock.round_timeout = 3600.0  # only acks can let a batch go
    await fanout.set_routes(routes_for(dashboard, keys))
    await fanout.flush(heartbeat=True)
    try:
        async with beating(fanout):
            await clocked_rounds_to_two_sockets(fanout, user, keys)
        assert fanout.rounds.by_ack >= 6 and fanout.rounds.by_timeout == 0
        assert layer.acks_sent >= fanout.rounds.by_ack
    finally:
        await fanout.close()
        await runner.close()
        await layer.flush()
        await layer.close_pools()


async def test_frames_for_a_socket_that_ended_or_a_channel_never_made_here_are_acknowledged_for_good():
    async with processes(2) as (bridge_layer, web):
        fanout, runner = await bridge_on(bridge_layer, round_timeout=3600.0)
        staying, leaving = await web.new_channel(), await web.new_channel()
        # A member this process never made (a socket of an earlier process with its key) is
        # not read by anybody here either.
        stranger = f"specific.{web.client_prefix}!left-behind"
        for channel in (staying, leaving, stranger):
            await web.group_add(dashboard_group(1), channel)
        web.depart(leaving)  # its socket ended while still in the group (its group_discard never happened)
        try:
            for number in (1, 2, 3):  # every round, however long after the departure
                fanout.offer("a", fresh(number))
                assert await fanout.flush_due() == 1
                message = await batch(web, staying)  # this receive also brings in the others' copies
                web.hand_back(message["round"])
                await eventually(lambda: not fanout.clock.in_flight, 10, f"round {number} acknowledged by all three")
                assert (fanout.rounds.by_ack, fanout.rounds.by_timeout) == (number, 0)
            assert not {leaving, stranger} & set(web.receive_buffer), "nothing kept for channels nobody reads"
        finally:
            await fanout.close()
            await runner.close()
