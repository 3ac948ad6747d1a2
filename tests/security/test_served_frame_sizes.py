"""Frame sizes through a real daphne (``manage.py serve``): the inbound limit refuses hostile
frames, while the server's own frames — a 1,000-statistic snapshot is ~135 KB — always go out.

The limit is autobahn's, which daphne applies to frames it sends as well as to frames it
receives unless ``statsbridge.serve`` splits the two; only a real server shows which.
"""

import json

import aiohttp
import pytest

from statsbridge.serve import MAX_MESSAGE_BYTES
from tests.security.served import serving
from tests.waiting import eventually

STATISTICS = 1000
# autobahn fails such a connection by dropping it (abnormal closure, 1006 at the client);
# with a close handshake it would say 1009, message too big.
REFUSED = {1006, 1009}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One 1,000-statistic dashboard and its wall, served by ``manage.py serve --no-bridge``
    on a free port; yields ``(port, seed)``."""
    with serving(tmp_path_factory.mktemp("served"), statistics=STATISTICS) as server:
        yield server.port, server.seed


async def open_socket(session: aiohttp.ClientSession, port: int, path: str):
    """A WebSocket to ``path`` with the server's own Origin and no client-side size limit."""
    return await session.ws_connect(f"ws://127.0.0.1:{port}{path}", origin=f"http://127.0.0.1:{port}",
                                    max_msg_size=0, heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=10))


async def first_frame(socket) -> dict:
    """The first message, which must be a text frame."""
    message = await socket.receive(timeout=20)
    assert message.type == aiohttp.WSMsgType.TEXT, f"no frame but {message.type.name} {message.data!r} {message.extra!r}"
    return json.loads(message.data)


async def expect_refused(socket) -> None:
    """The server closes the socket instead of answering (no pong, no error frame)."""
    message = await socket.receive(timeout=20)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), f"answered: {message!r}"
    await eventually(lambda: socket.closed, 10, "the socket to close")
    assert socket.close_code in REFUSED


async def expect_still_serving(session, port: int, seed: dict) -> None:
    """Another client still gets its snapshot: only the hostile socket went."""
    socket = await open_socket(session, port, f"/ws/dashboards/{seed['dashboards'][0]['slug']}/")
    assert (await first_frame(socket))["type"] == "snapshot"
    await socket.close()


@pytest.mark.parametrize("route", ["dashboard", "wall"])
async def test_a_snapshot_far_larger_than_the_inbound_limit_arrives_complete(served, route):
    port, seed = served
    dashboard = seed["dashboards"][0]
    path = f"/ws/dashboards/{dashboard['slug']}/" if route == "dashboard" else f"/ws/wall/{dashboard['wall_token']}/"
    async with aiohttp.ClientSession(cookies={"sessionid": seed["session"]}) as session:
        socket = await open_socket(session, port, path)
        message = await socket.receive(timeout=20)
        assert message.type == aiohttp.WSMsgType.TEXT, f"no snapshot but {message.type.name} {message.data!r}"
        assert len(message.data.encode()) > 2 * MAX_MESSAGE_BYTES, "the snapshot is too small to prove anything"
        snapshot = json.loads(message.data)
        assert snapshot["type"] == "snapshot"
        assert sorted(snapshot["values"]) == sorted(dashboard["keys"])
        await socket.send_str(json.dumps({"type": "ping", "t": 3}))
        pong = await first_frame(socket)
        assert (pong["type"], pong["t"]) == ("pong", 3)
        await socket.close()


async def test_a_client_frame_over_the_limit_closes_the_socket_as_too_big(served):
    port, seed = served
    async with aiohttp.ClientSession(cookies={"sessionid": seed["session"]}) as session:
        socket = await open_socket(session, port, f"/ws/dashboards/{seed['dashboards'][0]['slug']}/")
        assert (await first_frame(socket))["type"] == "snapshot"
        await socket.send_str(json.dumps({"type": "ping", "t": 1, "pad": "x" * (MAX_MESSAGE_BYTES + 1)}))
        await expect_refused(socket)
        await expect_still_serving(session, port, seed)


def client_frame(opcode: int, payload: bytes, final: bool) -> bytes:
    """One masked client frame (RFC 6455 5.2) with a zero mask, so the payload goes as is."""
    head = bytes([(0x80 if final else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 2**16:  # the shortest length encoding is required
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


async def test_a_fragmented_message_over_the_limit_is_refused_too(served):
    """Fragments each under the frame limit cannot add up to an unlimited message."""
    port, seed = served
    async with aiohttp.ClientSession(cookies={"sessionid": seed["session"]}) as session:
        socket = await open_socket(session, port, f"/ws/dashboards/{seed['dashboards'][0]['slug']}/")
        assert (await first_frame(socket))["type"] == "snapshot"
        # aiohttp always sends whole messages: write the fragments on its transport.
        transport = socket._writer.transport
        fragment = b"x" * (MAX_MESSAGE_BYTES // 4)
        transport.write(client_frame(0x1, fragment, final=False))
        for _ in range(8):
            transport.write(client_frame(0x0, fragment, final=False))
        await expect_refused(socket)
        await expect_still_serving(session, port, seed)
