"""The bridge against the simulator: the simulator's control API over HTTP, a seeded
dashboard, a desk WebSocket, and waiting until what it shows is the simulator's truth."""

import asyncio

import aiohttp
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import transaction

from dashboard.models import Dashboard, Widget, WidgetStatistic
from dashboard.routing import websocket_urlpatterns
from statsbridge.decoding import Decoding, Hint
from statsbridge.host import BridgeHost
from statsbridge.lease import LocalLease
from statsbridge.models import Statistic
from tests.live import Browser, eventually


def genesys_for(simulator):
    """The GENESYS settings of a bridge talking to ``simulator``."""
    config = simulator.config
    return {
        "API_URL": simulator.url,
        "API_KEY": config.api_key,
        "CLIENT_ID": config.client_id,
        "CLIENT_SECRET": config.client_secret,
        "USERNAME": config.username,
        "PASSWORD": config.password,
    }


async def streaming_bridge(simulator):
    """(An async generator for fixtures.) A bridge host on ``simulator``, yielded once it
    streams, stopped after."""
    host = BridgeHost(genesys_for(simulator), lease=LocalLease())
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    await eventually(lambda: host.bridge and host.bridge.session_up, 10, "bridge streaming")
    yield host
    stop.set()
    await asyncio.wait_for(task, 20)


class Control:
    """The simulator's control API, over HTTP as an operator would use it."""

    def __init__(self, simulator):
        self.url = simulator.url + "/simulator"
        self.headers = {"x-simulator-key": simulator.config.control_key}

    async def call(self, method, path, body=None):
        async with (
            aiohttp.ClientSession(headers=self.headers) as session,
            session.request(method, self.url + path, json=body) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.json()

    async def state(self):
        return await self.call("GET", "/state")

    async def truth(self):
        """{statisticId: [items]} of every statistic subscribed upstream."""
        found = {}
        for item in (await self.call("GET", "/values"))["values"]:
            found.setdefault(item["statisticId"], []).append(item)
        return found


def seed(objects):
    """A staff user and one dashboard of queue, group and agent statistics, in one commit.

    One commit: a running bridge polls for edits and would otherwise subscribe a
    half-seeded dashboard in two rounds (three subscriptions instead of two).
    """
    with transaction.atomic():
        return _seed(objects)


def _seed(objects):
    user = User.objects.create_user("boss", password="x", is_staff=True)
    dashboard = Dashboard.objects.create(title="Floor", slug="floor")
    widget = Widget.objects.create(dashboard=dashboard, type=Widget.QUEUE_TABLE, label="Sales")
    agent = objects["Agent"][0]
    group = objects["GroupAgents"][0]
    queue = objects["Queue"][0]
    specs = [
        ("Queue", queue, "CallsWaiting", None),
        ("Queue", queue, "ServiceLevel", None),
        ("Queue", queue, "LongestWaitTime", None),
        ("GroupAgents", group, "AgentsReady", None),
        ("Agent", agent, "CurrentAgentState", None),
        ("Queue", queue, "", {"category": "TotalNumber", "subject": "DNAction", "mainMask": "CallAnswered",
                              "notificationMode": "Changes", "intervalType": "GrowingWindow"}),
    ]
    keys = []
    for position, (object_type, object_id, name, definition) in enumerate(specs):
        statistic = Statistic(object_type=object_type, object_id=object_id, name=name, definition=definition)
        statistic.full_clean()
        statistic.save()
        WidgetStatistic.objects.create(widget=widget, statistic=statistic, position=position)
        keys.append(statistic.key)
    return user, dashboard, widget, keys


async def open_desk(user, slug="floor"):
    """A connected desk WebSocket of ``user`` on dashboard ``slug``, as a Browser."""
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/dashboards/{slug}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return Browser(communicator)


def equal_to_truth(browser_values, truth, keys):
    """Every key fresh, and showing exactly what the simulator holds now."""
    decoding = Decoding()
    for key in keys:
        shown = browser_values.get(key)
        items = truth.get(key)
        if not shown or not items or shown["state"] != "fresh":
            return False
        expected = decoding.decode(items[0]["value"], Hint(key=key, name=items[0]["name"] or ""),
                                   timestamp=items[0]["timestamp"], received=0)
        if (shown["kind"] != expected["kind"] or shown["value"] != expected["value"]
                or shown.get("agent") != expected.get("agent")):
            return False
        if shown["timestamp"] != expected["timestamp"]:
            return False
    return True


async def truth_with(control, keys):
    """The truth, once the simulator holds exactly ``keys``; else None."""
    truth = await control.truth()
    return truth if set(truth) == set(keys) else None


async def until_equal(browser, control, keys, message):
    """Wait until the browser shows exactly what the simulator holds for ``keys``."""
    async def check():
        await browser.pump(0.02)
        return equal_to_truth(browser.values, await control.truth(), keys)

    # Generous: the truth moves every tick, so a loaded machine may need several looks.
    await eventually(check, 20, message, interval=0.05)
