"""A shared store that cannot be read (Redis restarting) must not leave pages showing
values as fresh: the web process's watcher calls the bridge down and the open sockets
close, so pages mark every tile STALE at once and reconnect.

Regression found by the fault matrix's long mode: during a Redis restart the watcher
logged the failed status read and kept calling the bridge up, and a wall showed fresh
values that were no longer true for 2.1 s.
"""

import asyncio
import contextlib

import pytest
from channels.testing import WebsocketCommunicator

from statsbridge import store
from statsbridge.watch import watcher
from tests.consumers.helpers import beat, fresh, live_status, make_async, make_dashboard, router, staff_user
from tests.live import Browser, eventually
from tests.reliability.stack import PrivateRedis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.scaleout]


@pytest.fixture
def redis_store(tmp_path, settings):
    """A private redis-server as the shared store (the cache), killable by the test."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    local = settings.CACHES
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis.url}}
    yield redis
    settings.CACHES = local  # before the autouse fixture clears the cache
    redis.kill()


async def test_an_unreadable_store_closes_the_sockets_instead_of_leaving_values_fresh(redis_store):
    dashboard, keys = await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, {keys[0]: fresh(7)}, {dashboard.pk: 1}, live_status())
    stop = asyncio.Event()
    beating = asyncio.create_task(beat(stop))
    communicator = WebsocketCommunicator(router, "/ws/dashboards/floor/")
    communicator.scope["user"] = user
    try:
        assert (await communicator.connect())[0]
        snapshot = await Browser(communicator).next_frame()
        assert snapshot["connection"]["bridge"] == "up" and snapshot["values"][keys[0]]["state"] == "fresh"
        await eventually(lambda: watcher().bridge_up is True, 5, "the watcher sees the bridge up")

        redis_store.kill()
        # Whatever arrives next must not claim fresh values: the socket closes (the page
        # then marks every tile STALE and reconnects).
        output = await communicator.receive_output(timeout=5)
        assert output["type"] == "websocket.close" and output["code"] == 1011, output
        assert watcher().bridge_up is False
    finally:
        stop.set()
        await beating
        with contextlib.suppress(Exception):
            await communicator.disconnect()
