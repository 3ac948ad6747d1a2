"""The channels_redis layer as settings configure it, on the machine's real Redis."""

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer

from dashboard.settings import redis_channel_layer

REDIS = "redis://127.0.0.1:6379/14"
# Longer than redis-py 8's default 5 s socket timeout and channels_redis's 5 s BZPOPMIN.
IDLE_SECONDS = 7


async def idle_then_deliver(socket_timeout: float):
    layer = RedisChannelLayer(**redis_channel_layer(REDIS, socket_timeout)["CONFIG"])
    try:
        channel = await layer.new_channel()
        receiver = asyncio.create_task(layer.receive(channel))
        # A consumer on a quiet dashboard waits like this between ticks.
        done, _ = await asyncio.wait({receiver}, timeout=IDLE_SECONDS)
        if done:
            return receiver.result()
        await layer.send(channel, {"type": "dash.frame", "frame": {"seq": 1}})
        return await asyncio.wait_for(receiver, 5)
    finally:
        await layer.flush()
        await layer.close_pools()


@pytest.mark.scaleout
async def test_an_idle_receive_outlives_the_default_socket_timeout():
    message = await idle_then_deliver(socket_timeout=15.0)
    assert message == {"type": "dash.frame", "frame": {"seq": 1}}


@pytest.mark.scaleout
async def test_a_socket_timeout_within_the_blocking_receive_breaks_idle_receives():
    """What the setting protects against (redis-py's default 5 s races the 5 s BZPOPMIN;
    3 s loses every time), so the test above can fail."""
    with pytest.raises(Exception) as err:
        await idle_then_deliver(socket_timeout=3.0)
    assert "Timeout" in type(err.value).__name__
