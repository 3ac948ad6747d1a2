"""Sessions end everywhere: through a real ``manage.py serve`` (Redis channel layer, as a
scaled-out deployment runs it), an open desk socket closes with a clear code within 5 s
when its user logs out in another tab (4401), is deactivated (4401), is removed from the
dashboard's group (4403), or the dashboard is deleted (4404); other sockets stay open.

The changes are made the way people make them: logout over HTTP in another tab of the
same browser, the rest by saving models in another process (as the admin or a shell does).
"""

import asyncio
import json
import time
import uuid

import aiohttp
import pytest
import yarl

from tests.security.served import serving

CLOSE_WITHIN = 5.0
MEMBER = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
from dashboard.models import Dashboard
name = {name!r}
user = User.objects.create_user(name, password="pw-" + name + "-8421")
group = Group.objects.create(name="team-" + name)
user.groups.add(group)
dashboard = Dashboard.objects.create(title="Board " + name, slug="board-" + name)
dashboard.groups.add(group)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    run = uuid.uuid4().hex[:10]
    with serving(tmp_path_factory.mktemp("sessions"), REDIS_URL="redis://127.0.0.1:6379/9",
                 CHANNEL_LAYER_PREFIX=f"sessions-test-{run}", CACHE_KEY_PREFIX=f"sessions-test-{run}") as server:
        yield server


def member(served, name: str) -> str:
    """A user who may view ``board-<name>`` through group ``team-<name>``; their session key."""
    return served.django(MEMBER.format(name=name)).strip().splitlines()[-1]


async def open_desk(session: aiohttp.ClientSession, port: int, slug: str):
    """A desk socket with the page's own Origin, past its first snapshot."""
    socket = await session.ws_connect(f"ws://127.0.0.1:{port}/ws/dashboards/{slug}/", origin=f"http://127.0.0.1:{port}",
                                      heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=10))
    first = await socket.receive(timeout=20)
    assert first.type == aiohttp.WSMsgType.TEXT and json.loads(first.data)["type"] == "snapshot", first
    return socket


async def closed_with(socket, since: float) -> int:
    """The close code of a socket that must close within ``CLOSE_WITHIN`` of ``since``."""
    while True:
        left = CLOSE_WITHIN - (time.monotonic() - since)
        assert left > 0, "the socket stayed open"
        message = await socket.receive(timeout=left)
        if message.type == aiohttp.WSMsgType.CLOSE:  # the server's close frame: its code
            return message.data
        assert message.type == aiohttp.WSMsgType.TEXT, f"closed without a code: {message!r}"


async def still_open(socket) -> None:
    """A ping is answered: the socket serves on."""
    await socket.send_str(json.dumps({"type": "ping", "t": 7}))
    while True:
        message = await socket.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.TEXT, f"closed: {message!r}"
        if json.loads(message.data)["type"] == "pong":
            return


async def form_token(session: aiohttp.ClientSession, url: str) -> str:
    """GET a page for its CSRF cookie, as a browser tab would."""
    async with session.get(url) as page:
        assert page.status == 200
    return session.cookie_jar.filter_cookies(yarl.URL(url))["csrftoken"].value


async def test_logging_out_in_another_tab_closes_the_desk_socket_as_signed_out(served):
    port = served.port
    base = f"http://127.0.0.1:{port}"
    member(served, "alice")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:  # its tabs share cookies
        token = await form_token(browser, f"{base}/accounts/login/")
        async with browser.post(f"{base}/accounts/login/", data={"username": "alice", "password": "pw-alice-8421",
                                "csrfmiddlewaretoken": token}, headers={"Referer": f"{base}/accounts/login/"},
                                allow_redirects=False) as login:
            assert login.status == 302
        socket = await open_desk(browser, port, "board-alice")
        async with aiohttp.ClientSession(cookies={"sessionid": member(served, "bob")}) as other_user:
            bystander = await open_desk(other_user, port, "board-bob")
            token = await form_token(browser, f"{base}/")
            started = time.monotonic()
            async with browser.post(f"{base}/accounts/logout/", data={"csrfmiddlewaretoken": token},
                                    headers={"Referer": f"{base}/"}, allow_redirects=False) as logout:
                assert logout.status in (200, 302)
            assert await closed_with(socket, started) == 4401
            await still_open(bystander)
            await bystander.close()


@pytest.mark.parametrize("change, code", [
    ("user = User.objects.get(username=NAME); user.is_active = False; user.save()", 4401),
    ("user = User.objects.get(username=NAME); user.set_password('changed-8421'); user.save()", 4401),
    ("User.objects.get(username=NAME).groups.remove(Group.objects.get(name='team-' + NAME))", 4403),
    ("Group.objects.get(name='team-' + NAME).user_set.clear()", 4403),
    ("Dashboard.objects.get(slug='board-' + NAME).groups.clear()", 4403),
    ("Group.objects.get(name='team-' + NAME).delete()", 4403),
    ("Dashboard.objects.get(slug='board-' + NAME).delete()", 4404),
], ids=["deactivated", "password-changed", "group-removed", "group-emptied", "dashboard-unshared", "group-deleted",
        "dashboard-deleted"])
async def test_an_access_change_closes_the_desk_socket_within_5_s(served, change, code):
    name = "u" + uuid.uuid4().hex[:8]
    other = "o" + uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession(cookies={"sessionid": member(served, name)}) as browser, \
            aiohttp.ClientSession(cookies={"sessionid": member(served, other)}) as bystanders:
        socket = await open_desk(browser, served.port, f"board-{name}")
        bystander = await open_desk(bystanders, served.port, f"board-{other}")
        await asyncio.to_thread(served.django, "from django.contrib.auth.models import Group, User\n"
                                f"from dashboard.models import Dashboard\nNAME = {name!r}\n{change}\n")
        assert await closed_with(socket, time.monotonic()) == code
        await still_open(bystander)
        await bystander.close()
