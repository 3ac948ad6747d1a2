"""With Redis configured, a channel-layer receive that waits longer than 5 s must keep
waiting. Every idle WebSocket consumer and the bridge's control loop do exactly that
(regression: redis-py 8's default 5 s socket timeout equals channels_redis's BZPOPMIN
timeout, which crashed idle consumers and restarted the bridge)."""

import subprocess
import sys

import pytest

from tests.reliability.stack import ROOT, PrivateRedis

pytestmark = pytest.mark.scaleout

IDLE_RECEIVE = r"""
import asyncio, django
django.setup()
from django.conf import settings
from channels_redis.core import RedisChannelLayer

async def main():
    layer = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    channel = await layer.new_channel()
    try:
        await asyncio.wait_for(layer.receive(channel), 7)
    except asyncio.TimeoutError:
        print("waited")
    except Exception as error:
        print(f"raised {type(error).__module__}.{type(error).__name__}: {error}")

asyncio.run(main())
"""


def test_an_idle_receive_on_the_redis_channel_layer_keeps_waiting(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        env = {"DJANGO_SETTINGS_MODULE": "contactboard.settings", "SECRET_KEY": "idle-receive-test-key-0123456789abcdef",
               "REDIS_URL": redis.url, "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-c", IDLE_RECEIVE], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
    finally:
        redis.kill()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "waited", done.stdout
