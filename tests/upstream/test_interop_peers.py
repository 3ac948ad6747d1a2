"""The Bayeux client against servers we did not write: Faye and the CometD Node server.

Each test starts a fresh server process on 127.0.0.1 (tests/peers/*.js), injects a
fault through its control API and checks that the client recovers, that no message
is lost except across a forced session loss, and that such a loss is announced.
"""

import pytest

from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux import (
    AdviceChanged,
    BayeuxClient,
    ConnectionState,
    Fatal,
    Message,
    MessagesLost,
    SessionEstablished,
)
from statsbridge.upstream.errors import BadApiKey
from statsbridge.upstream.http import create_session
from tests.upstream.helpers import Collector, NodePeer, wait_for, wait_for_async

pytestmark = pytest.mark.interop

UPDATES = "/statistics/v3/updates"
SERVICE = "/statistics/v3/service"
SERVERS = ["faye_server.js", "cometd_server.js"]


@pytest.fixture
def start_peer():
    peers = []

    def start(script, *args):
        peer = NodePeer(script, *args).start()
        peers.append(peer)
        return peer
    yield start
    for peer in peers:
        peer.stop()


@pytest.fixture
async def connect():
    resources = []

    async def make(peer, *, api_key="peer-key", allowance=2.0):
        session = create_session(api_key)
        client = BayeuxClient(session, peer.url, channels=[SERVICE, UPDATES], network_allowance=allowance,
                              backoff=Backoff(base=0.05, cap=0.5))
        resources.append((client, session))
        client.start()
        return client, Collector(client)
    yield make
    for client, session in resources:
        await client.disconnect()
        await session.close()


def assert_no_silent_loss(events: list, channel: str) -> list[int]:
    """Every message arrives once, in order; a gap is allowed only right after a resync event."""
    last, resync_since_last, seen = 0, False, []
    for event in events:
        if isinstance(event, MessagesLost) or (isinstance(event, SessionEstablished) and event.rehandshake):
            resync_since_last = True
        elif isinstance(event, Message) and event.channel == channel:
            seq = event.data["seq"]
            assert seq > last, f"duplicate or reordered message {seq} after {last}"
            assert seq == last + 1 or resync_since_last, f"messages {last + 1}..{seq - 1} lost silently"
            last, resync_since_last = seq, False
            seen.append(seq)
    return seen


async def publish(peer, count) -> int:
    return (await peer.control("publish", {"channel": UPDATES, "count": count}))["last"]


@pytest.mark.parametrize("script", SERVERS)
async def test_messages_flow_in_order(start_peer, connect, script):
    peer = start_peer(script)
    client, events = await connect(peer)
    await events.wait_sessions(1)
    last = await publish(peer, 50)
    await events.wait_seqs(UPDATES, last)
    assert assert_no_silent_loss(events.events, UPDATES) == list(range(1, 51))
    assert client.state is ConnectionState.CONNECTED


@pytest.mark.parametrize("script", SERVERS)
async def test_server_forgetting_the_client(start_peer, connect, script):
    peer = start_peer(script)
    client, events = await connect(peer)
    await events.wait_sessions(1)
    await events.wait_seqs(UPDATES, await publish(peer, 5))
    assert (await peer.control("forget"))["forgotten"] == 1
    await publish(peer, 3)  # published while the client is unknown: may be lost, must be announced
    await events.wait_sessions(2)
    assert events.sessions()[1].rehandshake is True
    last = await publish(peer, 4)
    await events.wait_seqs(UPDATES, last)
    seen = assert_no_silent_loss(events.events, UPDATES)
    assert seen[:5] == [1, 2, 3, 4, 5] and seen[-4:] == [9, 10, 11, 12]
    assert client.stats.handshakes == 2
    assert (await peer.state())["clients"] == 1


@pytest.mark.parametrize("script", SERVERS)
async def test_all_tcp_connections_dropped(start_peer, connect, script):
    peer = start_peer(script)
    client, events = await connect(peer)
    await events.wait_sessions(1)
    await events.wait_seqs(UPDATES, await publish(peer, 5))
    assert (await peer.control("drop"))["dropped"] >= 1
    await wait_for(lambda: client.stats.errors >= 1, message="the dropped connect noticed")
    await wait_for(lambda: client.stats.reconnects >= 1 and client.state is ConnectionState.CONNECTED,
                   message="connected again")
    last = await publish(peer, 5)
    await events.wait_seqs(UPDATES, last)
    assert assert_no_silent_loss(events.events, UPDATES) == list(range(1, 11))
    assert len(events.sessions()) == 1, "the session survived: no re-handshake needed"


@pytest.mark.parametrize("script", SERVERS)
async def test_server_restarted_after_being_down(start_peer, connect, script):
    peer = start_peer(script)
    client, events = await connect(peer)
    await events.wait_sessions(1)
    await events.wait_seqs(UPDATES, await publish(peer, 3))
    peer.stop()
    errors = client.stats.errors
    # Waited on together: polled at an arbitrary moment, the client may be inside its next
    # (failing) attempt, HANDSHAKING, rather than between attempts.
    await wait_for(lambda: client.stats.errors >= errors + 3 and client.state is ConnectionState.BACKING_OFF,
                   message="three failed attempts while down, backing off")
    peer.start()
    await events.wait_sessions(2, timeout=20)
    assert events.sessions()[1].rehandshake is True
    await events.wait_seqs(UPDATES, await publish(peer, 3))  # a new server counts from 1 again
    assert client.state is ConnectionState.CONNECTED


@pytest.mark.parametrize("script", SERVERS)
async def test_burst_of_503_html_replies(start_peer, connect, script):
    peer = start_peer(script)
    client, events = await connect(peer)
    await events.wait_sessions(1)
    errors = client.stats.errors
    await peer.control("fail", {"count": 5, "status": 503})
    await peer.control("publish", {"channel": SERVICE, "count": 1})  # ends the held connect: the burst starts
    await wait_for(lambda: client.stats.errors >= errors + 1, message="the first 503")
    last = await publish(peer, 5)  # published during the burst: queued in the session
    await events.wait_seqs(UPDATES, last)
    assert (await peer.state())["failed"] == 5
    assert client.stats.errors >= errors + 5
    assert assert_no_silent_loss(events.events, UPDATES) == [1, 2, 3, 4, 5]
    assert len(events.sessions()) == 1


@pytest.mark.parametrize("script", SERVERS)
async def test_advice_interval_2000_ms(start_peer, connect, script):
    peer = start_peer(script, "--interval-ms", "2000", "--max-interval-ms", "10000")
    _client, events = await connect(peer)
    await events.wait_sessions(1)
    state = {}

    async def gaps():
        state.update(await peer.state())
        return len(state["connectGapsMs"]) >= 2
    await wait_for_async(gaps, timeout=15, message="two connect gaps")
    assert all(1900 <= gap < 4000 for gap in state["connectGapsMs"]), state["connectGapsMs"]
    assert any(isinstance(e, AdviceChanged) and e.interval_ms == 2000 for e in events.events)


@pytest.mark.parametrize("script", SERVERS)
async def test_reconnect_none_stops_the_client(start_peer, connect, script):
    peer = start_peer(script)
    client, events = await connect(peer)
    await events.wait_sessions(1)
    await peer.control("reconnect-none")
    await wait_for(lambda: events.task.done(), timeout=10, message="the event stream to end")
    [fatal] = events.of(Fatal)
    assert "reconnect none" in fatal.reason
    assert client.state is ConnectionState.DISCONNECTED


@pytest.mark.parametrize("script", SERVERS)
async def test_wrong_api_key_is_fatal(start_peer, connect, script):
    peer = start_peer(script, "--api-key", "the-right-key")
    _client, events = await connect(peer, api_key="a-wrong-key")
    await wait_for(lambda: events.task.done(), message="the event stream to end")
    [fatal] = events.of(Fatal)
    assert isinstance(fatal.error, BadApiKey)
    assert (await peer.state())["forbidden"] == 1
    _ok_client, ok_events = await connect(peer, api_key="the-right-key")
    await ok_events.wait_sessions(1)


@pytest.mark.parametrize("script", SERVERS)
async def test_request_held_past_session_expiry(start_peer, connect, script):
    peer = start_peer(script, "--timeout-ms", "1000", "--max-interval-ms", "1000")
    _client, events = await connect(peer, allowance=2.0)  # connect HTTP timeout: 1 s + 2 s > expiry
    await events.wait_sessions(1)
    await events.wait_seqs(UPDATES, await publish(peer, 2))
    await peer.control("hold", {"count": 1})
    await events.wait_sessions(2, timeout=20)
    assert events.sessions()[1].rehandshake is True
    assert (await peer.state())["held"] == 1
    last = await publish(peer, 2)
    await events.wait_seqs(UPDATES, last)
    assert_no_silent_loss(events.events, UPDATES)

