"""Hostile WebSocket clients against the full ASGI application (Origin check, session
auth, routing, consumer): every client frame, however broken, gets one schema-valid
answer in strict JSON and the socket stays open; floods are rate-limited without
hurting other clients; no session, a forged session or a foreign Origin gets nothing.
"""

import asyncio
import json
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactboard.asgi import application
from dashboard.models import Dashboard, Display, DisplayItem
from statsbridge import frames

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def strict_json(text: str):
    """Parse as a browser would: NaN/Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def seed() -> tuple[str, str]:
    """A staff user's session key and a wall token."""
    user = User.objects.create_user("boss", password="x", is_staff=True)
    dashboard = Dashboard.objects.create(title="Floor", slug="floor", owner=user)
    display = Display(name="TV")
    token = display.issue_token()
    display.save()
    DisplayItem.objects.create(display=display, dashboard=dashboard, position=0)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key, token


@pytest.fixture
def seeded(settings):
    settings.BRIDGE = {**settings.BRIDGE, "CLIENT_FRAMES_PER_SECOND": 5.0}
    return seed()


async def connect(path: str, headers) -> tuple[WebsocketCommunicator, bool, int | None]:
    communicator = WebsocketCommunicator(application, path, headers=[(b"host", b"127.0.0.1:8000"), *headers])
    connected, code = await communicator.connect()
    return communicator, connected, code


async def next_reply(communicator, timeout: float = 10.0) -> dict:
    """The next frame, parsed strictly and schema-checked (``timeout`` only bounds a failing
    test, so it is generous for a loaded machine)."""
    if await communicator.receive_nothing(timeout=timeout, interval=0.005):
        raise AssertionError(f"no reply within {timeout} s")
    message = await communicator.receive_output()
    assert message["type"] == "websocket.send", f"the server closed the socket: {message}"
    frame = strict_json(message["text"])
    frames.validate_frame(frame)
    return frame


fields = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**400) | st.floats()
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def frame_texts():
    """Garbage text, arbitrary JSON, and frames of known and unknown types with wrong fields."""
    typed = st.fixed_dictionaries({"type": st.sampled_from(["ping", "resync", "telemetry", "pong", "snapshot", "x", ""])},
                                  optional={"t": fields, "version": fields, "memory": fields, "latency": fields})
    return st.text(max_size=200) | fields.map(json.dumps) | typed.map(json.dumps)


async def _one_answer_each(session_key: str, texts: list[str]) -> None:
    headers = [ORIGIN, (b"cookie", f"sessionid={session_key}".encode())]
    communicator, connected, _ = await connect("/ws/dashboards/floor/", headers)
    assert connected
    assert (await next_reply(communicator))["type"] == "snapshot"
    for text in texts:
        # Straight onto the ASGI queue: send_to() refuses an empty text frame, a client need not.
        await communicator.send_input({"type": "websocket.receive", "text": text})
        reply = await next_reply(communicator)
        assert reply["type"] in ("error", "pong", "snapshot"), reply
    await communicator.send_to(text_data=json.dumps({"type": "ping", "t": 7}))
    assert (await next_reply(communicator))["t"] == 7, "the socket did not stay usable"
    await communicator.disconnect()


@given(texts=st.lists(frame_texts(), min_size=1, max_size=8))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_hostile_frame_gets_one_valid_answer_and_the_socket_stays_open(seeded, texts):
    asyncio.run(_one_answer_each(seeded[0], texts))


async def test_a_ping_with_a_huge_integer_is_answered_with_an_error(seeded):
    await _one_answer_each(seeded[0], ['{"type": "ping", "t": 1%s}' % ("0" * 400)])


async def test_oversized_frames_are_refused_and_the_socket_stays_open(seeded):
    await _one_answer_each(seeded[0], ["x" * 5000, json.dumps({"type": "ping", "t": 1, "pad": "y" * 1_000_000})])


async def test_a_flood_is_rate_limited_and_does_not_starve_another_client(seeded):
    session_key, _ = seeded
    headers = [ORIGIN, (b"cookie", f"sessionid={session_key}".encode())]
    flooder, _, _ = await connect("/ws/dashboards/floor/", headers)
    other, _, _ = await connect("/ws/dashboards/floor/", headers)
    await next_reply(flooder), await next_reply(other)
    started = last = time.monotonic()
    for i in range(500):
        await flooder.send_to(text_data=json.dumps({"type": "ping", "t": i}))
    await other.send_to(text_data=json.dumps({"type": "ping", "t": -1}))
    assert (await next_reply(other))["t"] == -1
    answers = []
    while not await flooder.receive_nothing(timeout=1.0, interval=0.005):
        answers.append(strict_json((await flooder.receive_output())["text"]))
        last = time.monotonic()
    # The bucket refills at 5/s and may warn once a second while the flood is handled:
    # the bounds grow with the time it took (a loaded machine handles it slowly).
    elapsed = last - started
    pongs = [a for a in answers if a["type"] == "pong"]
    limited = [a for a in answers if a.get("code") == "rate_limited"]
    assert 15 <= len(pongs) <= 20 + 5 * elapsed + 1, f"{len(pongs)} of 500 flooded pings were answered in {elapsed:.2f} s"
    assert 1 <= len(limited) <= 1 + int(elapsed), "a flood must be told once (per second) that it is limited, not echoed"
    await flooder.disconnect(), await other.disconnect()


@pytest.mark.parametrize("path, headers, why", [
    ("/ws/dashboards/floor/", [ORIGIN], "no session"),
    ("/ws/dashboards/floor/", [ORIGIN, (b"cookie", b"sessionid=forged0123456789abcdefghijklmnopqrstuv")], "forged session"),
    ("/ws/wall/not-a-token/", [ORIGIN], "unknown wall token"),
    ("/ws/wall/" + "a" * 5000 + "/", [ORIGIN], "oversized wall token"),
])
async def test_connections_without_auth_are_refused(seeded, path, headers, why):
    _communicator, connected, code = await connect(path, headers)
    assert (connected, code) == (False, 4403), why


@pytest.mark.parametrize("origin", [None, b"http://evil.example", b"http://127.0.0.1.evil.example", b"null"])
async def test_a_foreign_or_missing_origin_is_refused_even_with_a_valid_session_or_token(seeded, origin):
    session_key, token = seeded
    extra = [(b"origin", origin)] if origin else []
    for path, cookie in (("/ws/dashboards/floor/", [(b"cookie", f"sessionid={session_key}".encode())]),
                         (f"/ws/wall/{token}/", [])):
        communicator, connected, _ = await connect(path, extra + cookie)
        assert not connected, f"{path} accepted Origin {origin!r}"
    communicator, connected, _ = await connect(f"/ws/wall/{token}/", [ORIGIN])
    assert connected, "the same wall with its own Origin must get in (the test would prove nothing otherwise)"
    await communicator.disconnect()
