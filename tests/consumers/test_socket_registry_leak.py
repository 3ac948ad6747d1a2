"""A socket that has ended must leave nothing behind in the web process.

Regression found by the fault matrix's long runs: the runbridge web process grew
~15 MB over a hundred Redis restarts. A Redis restart makes every consumer's
channel-layer receive fail; the consumer then ends with that exception and channels
never calls ``disconnect``, so the bridge watcher kept each dead consumer as a listener
(and the open-sockets gauge counted it). At each later bridge change the watcher called
the dead consumers, which joined their channels to the dashboard groups again, and
channels_redis buffered every frame for them in queues nobody reads. Smaller leftovers
of the same kind: a group leave that failed on a pooled connection Redis had closed,
and channels_redis's queue of a channel whose consumer was cancelled while receiving
or was sent frames that arrived after it ended.
"""

import asyncio
import contextlib

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from redis import StrictRedis

from dashboard import consumers
from dashboard.consumers import LiveConsumer
from statsbridge import metrics, store
from statsbridge.fanout import dashboard_group
from statsbridge.watch import watcher
from tests.consumers.helpers import live_status, make_async, make_dashboard, router, staff_user
from tests.live import Browser, eventually
from tests.reliability.stack import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True)


def consumer_listeners() -> list:
    """The watcher's listeners that belong to socket consumers."""
    return [listener for listener in watcher().listeners if isinstance(getattr(listener, "__self__", None), LiveConsumer)]


def open_desk_sockets() -> float:
    """What the open-sockets gauge says about desk sockets."""
    return metrics.websocket_clients.labels(kind="desk")._value.get()


@pytest.fixture
def redis_layer(tmp_path, settings):
    """A private redis-server as the channel layer (as in runbridge mode), killable by the test."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [{"address": redis.url, "socket_timeout": 15.0}]}}}
    yield redis
    redis.kill()


async def connected_desk(slug: str, user) -> WebsocketCommunicator:
    """A desk socket past its first snapshot and following the bridge (a watcher listener)."""
    listening = len(consumer_listeners())
    communicator = WebsocketCommunicator(router, f"/ws/dashboards/{slug}/")
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    assert (await Browser(communicator).next_frame())["type"] == "snapshot"
    # The consumer joins the watcher only after its snapshots (and their alerts read) are
    # sent: on a loaded machine the snapshot reaches the test first.
    await eventually(lambda: len(consumer_listeners()) == listening + 1, 10, "the socket follows the bridge")
    return communicator


@pytest.mark.scaleout
async def test_consumers_ended_by_a_redis_restart_are_forgotten(redis_layer):
    """Sockets whose channel-layer receive failed leave the watcher and the gauge."""
    await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, status=live_status())
    gauge = open_desk_sockets()
    sockets = [await connected_desk("floor", user) for _ in range(3)]
    assert len(consumer_listeners()) == 3 and open_desk_sockets() == gauge + 3

    redis_layer.kill()
    try:
        # Each consumer's blocking receive fails; the consumer ends with that error.
        await eventually(lambda: all(s.future.done() for s in sockets), 20, "the consumers end")
        assert consumer_listeners() == []
        assert open_desk_sockets() == gauge
    finally:
        for communicator in sockets:
            with contextlib.suppress(Exception):
                await communicator.disconnect()


@pytest.mark.scaleout
async def test_closed_sockets_leave_no_queue_in_the_redis_layer(redis_layer):
    """channels_redis keeps a queue per channel until a receive empties it; a consumer
    cancelled while it waited on Redis for the whole process (the usual case of an idle
    socket) never does, and its queue would stay for the process's life."""
    await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, status=live_status())
    layer = get_channel_layer()
    channels = []
    for _ in range(5):
        communicator = await connected_desk("floor", user)
        [listener] = consumer_listeners()
        channels.append(listener.__self__.channel_name)
        await communicator.disconnect()
        await eventually(lambda communicator=communicator: communicator.future.done(), 10, "the consumer ends")
    assert [channel for channel in channels if channel in layer.receive_buffer] == []


@pytest.mark.scaleout
async def test_frames_arriving_after_a_socket_ended_are_dropped(redis_layer, monkeypatch):
    """A frame sent to a socket's channel just before it left its groups can reach the process
    after the consumer ended; the queue channels_redis makes for it must not stay."""
    monkeypatch.setattr(consumers, "LATE_FRAMES_SECONDS", 0.5)
    await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, status=live_status())
    layer = get_channel_layer()
    ended = await connected_desk("floor", user)
    [listener] = consumer_listeners()
    channel = listener.__self__.channel_name
    await ended.disconnect()
    await eventually(lambda: ended.future.done(), 10, "the consumer ends")
    # A live socket keeps the process reading its queue from Redis, as in production.
    alive = await connected_desk("floor", user)
    try:
        await layer.send(channel, {"type": "dash.frame", "frame": {"late": True}})
        await eventually(lambda: channel in layer.receive_buffer, 5, "the late frame reaches the process")
        await eventually(lambda: channel not in layer.receive_buffer, 5, "the late frame's queue is dropped")
    finally:
        await alive.disconnect()


def kill_idle_clients(redis: PrivateRedis) -> int:
    """Close, server side, every client connection but those blocked in a receive: what a
    Redis restart does to the idle connections of the layer's pool, without losing the groups."""
    client = StrictRedis(port=redis.port)
    try:
        killed = 0
        for connection in client.client_list():
            if connection["cmd"] not in ("bzpopmin", "client|list", "client"):
                killed += client.client_kill_filter(_id=connection["id"])
        return killed
    finally:
        client.close()


def group_members(redis: PrivateRedis, layer, group: str) -> list[str]:
    """The channels Redis holds in a channel-layer group."""
    client = StrictRedis(port=redis.port)
    try:
        return [member.decode() for member in client.zrange(layer._group_key(group), 0, -1)]
    finally:
        client.close()


async def one_open_desk():
    """One desk socket open on a fresh dashboard: its communicator, watcher listener,
    channel name, the channel layer and the dashboard's group."""
    dashboard, _ = await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, status=live_status())
    communicator = await connected_desk("floor", user)
    [listener] = consumer_listeners()
    return communicator, listener, listener.__self__.channel_name, get_channel_layer(), dashboard_group(dashboard.pk)


@pytest.mark.scaleout
async def test_a_socket_closed_after_the_layers_connections_dropped_still_leaves_its_group(redis_layer):
    """The first command on a connection the server closed fails; leaving a group must not
    be that command alone, or the dead channel stays a member and is sent every frame."""
    communicator, _listener, channel, layer, group = await one_open_desk()
    assert await asyncio.to_thread(group_members, redis_layer, layer, group) == [channel]
    assert await asyncio.to_thread(kill_idle_clients, redis_layer) >= 1

    await communicator.disconnect()
    await eventually(lambda: communicator.future.done(), 10, "the consumer ends")
    assert await asyncio.to_thread(group_members, redis_layer, layer, group) == []


async def test_a_bridge_change_noticed_as_a_socket_ends_does_not_join_it_again():
    """The watcher calls listeners in tasks of their own: one started just before its socket
    closed must not put the dead channel back into the groups (it would be sent every frame)."""
    communicator, listener, channel, layer, group = await one_open_desk()
    assert channel in layer.groups.get(group, {})

    await communicator.disconnect()
    await listener(store.connection_from_status(live_status()))
    await asyncio.sleep(0)
    assert channel not in layer.groups.get(group, {})
    assert consumer_listeners() == []


async def test_many_connect_and_disconnect_cycles_leave_nothing_registered():
    """Ordinary reconnects (page reloads) leave no listener, group member or count behind."""
    dashboard, _ = await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, status=live_status())
    gauge = open_desk_sockets()
    layer = get_channel_layer()
    for _ in range(30):
        communicator = await connected_desk("floor", user)
        await communicator.disconnect()
    assert consumer_listeners() == []
    assert layer.groups.get(dashboard_group(dashboard.pk), {}) == {}
    assert open_desk_sockets() == gauge
