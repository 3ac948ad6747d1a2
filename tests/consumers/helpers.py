"""What the WebSocket consumer tests share: the WebSocket router, a seeded dashboard, users,
a desk socket, stored values and a beating bridge status."""

import asyncio
import contextlib

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from redis.exceptions import RedisError

from dashboard.models import Dashboard, Widget, WidgetStatistic
from dashboard.routing import websocket_urlpatterns
from statsbridge import frames, store
from statsbridge.models import Statistic

router = URLRouter(websocket_urlpatterns)


def make_dashboard(slug="floor", stats=("CallsWaiting", "ServiceLevel"), owner=None):
    """A dashboard with one KPI widget of queue ``VQ_<slug>``'s ``stats``; returns it and their keys."""
    dashboard = Dashboard.objects.create(title=slug.title(), slug=slug, owner=owner)
    widget = Widget.objects.create(dashboard=dashboard, type=Widget.KPI, label="Queue")
    keys = []
    for position, name in enumerate(stats):
        statistic = Statistic.objects.create(object_type="Queue", object_id=f"VQ_{slug}", name=name)
        WidgetStatistic.objects.create(widget=widget, statistic=statistic, position=position)
        keys.append(statistic.key)
    return dashboard, keys


def fresh(number, text=None):
    """A fresh number value."""
    return frames.value(kind="number", value=number, text=text or str(number), state="fresh", timestamp=1_700_000_000_000,
                        received=frames.now_ms())


def live_status():
    """A bridge status as a live, connected bridge writes it."""
    return {"connection": frames.connection(upstream="connected", service="AVAILABLE", bridge="up"), "heartbeat": frames.now_ms()}


async def beat(stop: asyncio.Event, every: float = 0.1) -> None:
    """Write a live bridge status every ``every`` s, as a bridge does, until ``stop``;
    a store that cannot be written (Redis killed by the test) is retried, as a bridge would."""
    while not stop.is_set():
        with contextlib.suppress(RedisError):
            await make_async(store.write, status=live_status())
        await asyncio.sleep(every)


async def desk(slug, user):
    """A desk WebSocket of ``user`` on dashboard ``slug``: (communicator, connected, close code)."""
    communicator = WebsocketCommunicator(router, f"/ws/dashboards/{slug}/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    return communicator, connected, code


def staff_user(name="boss"):
    """A staff user."""
    return User.objects.create_user(name, password="x", is_staff=True)


async def make_async(function, *args, **kwargs):
    """Run ``function`` (database work) from async code."""
    from channels.db import database_sync_to_async

    return await database_sync_to_async(function)(*args, **kwargs)


async def communicator_closed(communicator):
    """The close message if the socket was closed now, else None."""
    if await communicator.receive_nothing(0.02):
        return None
    message = await communicator.receive_output()
    if message["type"] == "websocket.close":
        return message
    return None
