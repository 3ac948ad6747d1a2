"""Helpers for tests that run the app as real processes: seeding, ports, a WebSocket client."""

import asyncio
import json

import aiohttp

from statsbridge import frames
from tests.waiting import free_port  # noqa: F401  (re-exported for the process tests)

SEED = """
import json, django
django.setup()
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from dashboard.models import Dashboard, Widget, WidgetStatistic
from statsbridge.models import Statistic
objects = json.loads(OBJECTS)
user = User.objects.create_user("boss", password="x", is_staff=True)
dashboard = Dashboard.objects.create(title="Floor", slug="floor")
widget = Widget.objects.create(dashboard=dashboard, type="queue_table", label="Queues")
keys = []
for position, (object_type, name) in enumerate([("Queue", "CallsWaiting"), ("Queue", "ServiceLevel"),
                                                ("GroupAgents", "AgentsReady"), ("Agent", "CurrentAgentState")]):
    statistic = Statistic.objects.create(object_type=object_type, object_id=objects[object_type][0], name=name)
    WidgetStatistic.objects.create(widget=widget, statistic=statistic, position=position)
    keys.append(statistic.key)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(json.dumps({"session": session.session_key, "keys": keys}))
"""


class RemoteBrowser:
    """A WebSocket client of one web process, applying schema-checked frames."""

    def __init__(self, port: int, session_key: str):
        self.port = port
        self.session_key = session_key
        self.values: dict = {}
        self.connection: dict | None = None
        self.frames = 0
        self.saw_bridge_down = False

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"Origin": f"http://127.0.0.1:{self.port}", "Cookie": f"sessionid={self.session_key}"}
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{self.port}/ws/dashboards/floor/", headers=headers) as ws,
        ):
            while not stop.is_set():
                try:
                    message = await ws.receive(timeout=0.2)
                except TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    return
                frame = json.loads(message.data)
                frames.validate_frame(frame)
                self.frames += 1
                if "values" in frame:
                    self.values.update(frame["values"])
                if "connection" in frame:
                    self.connection = frame["connection"]
                    self.saw_bridge_down |= self.connection["bridge"] == "down"


def _shown(value: dict) -> tuple:
    """What a browser shows of a value (its number, its time and an agent's state)."""
    return value["value"], value["timestamp"], value.get("agent")


def same_fresh_values(browsers, keys) -> bool:
    first = browsers[0].values
    for key in keys:
        if key not in first or first[key]["state"] != "fresh":
            return False
        for other in browsers[1:]:
            mine = other.values.get(key)
            if not mine or _shown(mine) != _shown(first[key]):
                return False
    return True


async def get_json(url: str, headers=None):
    async with aiohttp.ClientSession(headers=headers) as session, session.get(url) as response:
        return response.status, await response.json()


def seed_command(objects) -> list[str]:
    """Arguments after the Python executable that seed a database and print the session and keys."""
    return ["-c", f"OBJECTS = {json.dumps(json.dumps(objects))}\n{SEED}"]
