"""BayeuxClient (the aiohttp transport) against a scripted Bayeux server on 127.0.0.1."""

import asyncio
import itertools
import logging
import time

import pytest

from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux import (
    AdviceChanged,
    BayeuxClient,
    ConnectionState,
    Fatal,
    Message,
    MessagesLost,
    SessionEstablished,
    StateChanged,
)
from statsbridge.upstream.errors import AuthenticationError, BadApiKey, BadClientCredentials
from statsbridge.upstream.statistics import StatisticsClient
from tests.upstream.fake_bayeux import PATH, FakeBayeux
from tests.upstream.helpers import Collector, wait_for
from tests.upstream.scripted_server import Scripted
from tests.upstream.token_endpoint import API_KEY, TOKEN, counting_issuer

UPDATES = "/statistics/v3/updates"
SERVICE = "/statistics/v3/service"
FAST = Backoff(base=0.02, cap=0.1)


@pytest.fixture
def bayeux(server):
    return FakeBayeux(server)


@pytest.fixture
def tokens(server, session):
    server.default("POST", TOKEN, counting_issuer())
    return TokenProvider(session, Credentials(server.url, "cid", "client-secret-xyz"))


@pytest.fixture
async def make_client(session):
    clients = []

    def make(url, **kwargs):
        kwargs.setdefault("channels", [SERVICE, UPDATES])
        kwargs.setdefault("network_allowance", 1.0)
        kwargs.setdefault("backoff", FAST)
        client = BayeuxClient(session, url, **kwargs)
        clients.append(client)
        client.start()
        return client, Collector(client)
    yield make
    for client in clients:
        await client.disconnect()


async def test_session_setup_follows_the_bayeux_sequence(bayeux, make_client, tokens, server, session):
    client, events = make_client(bayeux.url, token_provider=tokens)
    await events.wait_sessions(1)
    [established] = events.sessions()
    assert established.rehandshake is False and established.channels == (SERVICE, UPDATES)
    await wait_for(lambda: len(bayeux.requests("/meta/connect")) >= 3, message="held connects")
    handshake = bayeux.requests("/meta/handshake")[0]
    assert handshake["supportedConnectionTypes"] == ["long-polling"]
    connects = bayeux.requests("/meta/connect")
    assert connects[0]["advice"] == {"timeout": 0}
    assert all("advice" not in c for c in connects[1:])
    assert bayeux.subscribed == [SERVICE, UPDATES]
    posts = server.received("POST", PATH)
    assert [m["channel"] for m in posts[2].json()] == ["/meta/subscribe", "/meta/subscribe"]
    assert all(r.headers["x-api-key"] == API_KEY and r.headers["Authorization"] == "Bearer token-1" for r in posts)
    assert posts[1].cookies == {"BAYEUX_BROWSER": "b1"}, "the session cookie is sent back"
    assert server.max_active == 1, "never more than one request (so one /meta/connect) at a time"
    assert client.state is ConnectionState.CONNECTED
    states = [e.state for e in events.of(StateChanged)]
    assert states == [ConnectionState.HANDSHAKING, ConnectionState.CONNECTED]
    # The REST client on the same session sends the CometD cookie: the service ties them together.
    server.default("GET", "/statistics/v3/statistic-values/X", lambda r: Scripted(json={"status": {"code": 0}}))
    await StatisticsClient(session, server.url, tokens).get_statistic_value("X", "o", "Agent")
    assert server.received("GET", "/statistics/v3/statistic-values/X")[0].cookies == {"BAYEUX_BROWSER": "b1"}


async def test_data_messages_from_connect_replies_are_delivered_in_order(bayeux, make_client, server):
    client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    bayeux.publish(UPDATES, 5)
    await events.wait_seqs(UPDATES, 5)
    bayeux.publish(UPDATES, 3, start=6)
    bayeux.publish(SERVICE, 1)
    await events.wait_seqs(UPDATES, 8)
    assert events.seqs(UPDATES) == list(range(1, 9))
    assert events.seqs(SERVICE) == [1]
    assert client.stats.messages == 9
    assert client.stats.last_message_at == pytest.approx(time.time(), abs=5)


async def test_connect_reply_with_data_before_and_after_the_meta_reply(bayeux, make_client, server):
    _client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    connect_id = str(int(bayeux.requests("/meta/connect")[-1]["id"]) + 1)
    server.queue("POST", PATH, Scripted(json=[
        {"channel": UPDATES, "data": {"seq": 1}},
        {"channel": "/meta/connect", "id": connect_id, "successful": True},
        {"channel": UPDATES, "data": {"seq": 2}},
    ]))
    await events.wait_seqs(UPDATES, 2)
    assert events.seqs(UPDATES) == [1, 2]


@pytest.mark.parametrize("hostile", [
    Scripted(json={"channel": "/meta/connect", "successful": True}),
    Scripted(json=[1, 2, 3]),
    Scripted(json=[{"channel": None}]),
    Scripted(json=[{"channel": "/x", "data": 1}] * 50),  # more than max_messages
    Scripted(text="<html><body>Gateway says hi</body></html>"),
    Scripted(status=500, text="<html>Internal error</html>"),
    Scripted(status=502, text="bad gateway"),
    Scripted(json=[{"channel": "/meta/connect", "id": "nope", "successful": True, "advice": "x"}]),
])
async def test_hostile_replies_are_retried_and_the_client_recovers(bayeux, make_client, server, hostile, caplog):
    client, events = make_client(bayeux.url, max_messages=20)
    await events.wait_sessions(1)
    errors_before = client.stats.errors
    server.queue("POST", PATH, hostile, hostile)
    bayeux.publish(UPDATES, 1)
    await events.wait_seqs(UPDATES, 1)
    assert client.stats.errors >= errors_before + 2
    assert client.state is ConnectionState.CONNECTED
    assert not events.of(Fatal)
    assert events.seqs(UPDATES) == [1], "no half-parsed hostile data was delivered"


async def test_oversized_reply_body_is_refused(bayeux, make_client, server):
    client, events = make_client(bayeux.url, max_reply_bytes=10_000)
    await events.wait_sessions(1)
    server.queue("POST", PATH, Scripted(json=[{"channel": "/x", "data": "y" * 20_000}]))
    bayeux.publish(UPDATES, 1)
    await events.wait_seqs(UPDATES, 1)
    assert client.stats.errors >= 1
    assert not [e for e in events.of(Message) if e.channel == "/x"]


async def test_held_connect_times_out_at_advice_timeout_plus_allowance(bayeux, make_client, server):
    client, events = make_client(bayeux.url, network_allowance=0.3)  # advice timeout 200 ms
    await events.wait_sessions(1)
    server.queue("POST", PATH, Scripted(hang=True))
    before = len(server.requests)
    await wait_for(lambda: len(server.requests) > before + 1, message="a request after the hung one")
    hung, after = server.requests[before], server.requests[before + 1]
    assert hung.json()[0]["channel"] == "/meta/connect"
    # 200 ms advised hold + 300 ms allowance, then an immediate retry (first failure).
    assert 0.45 <= after.arrived - hung.arrived < 1.5
    assert client.stats.errors == 1


async def test_advice_interval_is_milliseconds(bayeux, make_client, server):
    bayeux.advice["interval"] = 300
    bayeux.hold = 0.0
    stamps = []
    original = bayeux._answer

    def stamping(recorded):
        stamps.append((time.monotonic(), recorded.json()[0]["channel"]))
        return original(recorded)
    server.default("POST", PATH, stamping)
    _client, events = make_client(bayeux.url)
    await wait_for(lambda: len([s for s in stamps if s[1] == "/meta/connect"]) >= 4, message="4 connects")
    connects = [t for t, channel in stamps if channel == "/meta/connect"]
    gaps = [b - a for a, b in itertools.pairwise(connects[1:])]
    assert all(0.29 <= gap < 2.0 for gap in gaps), gaps
    assert AdviceChanged("retry", 300, 200) in events.events


async def test_application_falling_behind_gets_an_explicit_resync_event(bayeux, session, server):
    client = BayeuxClient(session, bayeux.url, channels=[UPDATES], buffer_size=5, backoff=FAST)
    client.start()
    try:
        iterator = client.events()
        # Nobody reads while 40 messages arrive: polling must go on regardless.
        await wait_for(lambda: len(bayeux.requests("/meta/subscribe")) == 1, message="subscribed")
        bayeux.publish(UPDATES, 20)
        await wait_for(lambda: client.stats.messages == 20, message="20 messages received")
        bayeux.publish(UPDATES, 20, start=21)
        await wait_for(lambda: client.stats.messages == 40, message="40 messages received")
        connects = len(bayeux.requests("/meta/connect"))
        await wait_for(lambda: len(bayeux.requests("/meta/connect")) > connects + 2, message="polling continues")
        got = []
        async for event in iterator:
            got.append(event)
            if isinstance(event, MessagesLost):
                break
        seqs = [e.data["seq"] for e in got if isinstance(e, Message)]
        lost = got[-1]
        assert seqs == [1, 2, 3, 4, 5]
        assert lost == MessagesLost(35)
        assert client.stats.dropped == 35
        bayeux.publish(UPDATES, 1, start=41)
        async for event in iterator:
            if isinstance(event, Message):
                assert event.data == {"seq": 41}
                break
    finally:
        await client.disconnect()


async def test_401_on_cometd_invalidates_the_token_and_retries(bayeux, make_client, server, tokens):
    _client, events = make_client(bayeux.url, token_provider=tokens)
    await events.wait_sessions(1)
    server.queue("POST", PATH, Scripted(status=401, json={"message": "Unauthorized"}))
    bayeux.publish(UPDATES, 1)
    await events.wait_seqs(UPDATES, 1)
    posts = server.received("POST", PATH)
    auth = [r.headers["Authorization"] for r in posts]
    first_new = auth.index("Bearer token-2")
    assert set(auth[:first_new]) == {"Bearer token-1"} and set(auth[first_new:]) == {"Bearer token-2"}
    assert len(server.received("POST", TOKEN)) == 2
    assert not events.of(Fatal)


async def test_401_with_a_fixed_token_is_fatal(bayeux, make_client, server):
    server.queue("POST", PATH, Scripted(status=401, json={}))
    client, events = make_client(bayeux.url, token="fixed-token-value")
    await events.task
    [fatal] = events.of(Fatal)
    assert isinstance(fatal.error, AuthenticationError)
    assert "fixed-token-value" not in fatal.reason
    assert client.state is ConnectionState.DISCONNECTED


async def test_403_bad_api_key_is_fatal_and_polling_stops(bayeux, make_client, server):
    server.queue("POST", PATH, Scripted(status=403, json={"message": "Forbidden"}))
    _client, events = make_client(bayeux.url)
    await events.task  # the iterator ends after Fatal
    [fatal] = events.of(Fatal)
    assert isinstance(fatal.error, BadApiKey)
    assert "API key" in fatal.reason
    assert len(server.received("POST", PATH)) == 1


async def test_403_in_the_envelope_is_not_a_bad_api_key_and_polling_goes_on(bayeux, make_client, server, caplog):
    client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    server.queue("POST", PATH, Scripted(status=403, json={"status": {"code": 403, "message": "Not allowed now"}}))
    before = len(bayeux.requests("/meta/connect"))
    await wait_for(lambda: len(bayeux.requests("/meta/connect")) >= before + 3, message="connects after the 403")
    assert not events.of(Fatal), "an ApiResponse 403 must not stop the client"
    assert client.state is ConnectionState.CONNECTED
    bayeux.publish(UPDATES, 2)
    await events.wait_seqs(UPDATES, 2)
    assert any("HTTP 403 code 403: Not allowed now" in e.reason for e in events.of(StateChanged))


async def test_a_malformed_message_does_not_lose_the_rest_of_the_reply(bayeux, make_client, server, caplog):
    client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    caplog.set_level(logging.DEBUG, logger="statsbridge.upstream.bayeux.client")
    for _ in range(2):
        connect_id = str(int(bayeux.requests("/meta/connect")[-1]["id"]) + 1)
        seq = len(events.seqs(UPDATES))
        server.queue("POST", PATH, Scripted(json=[
            {"channel": UPDATES, "data": {"seq": seq + 1}},
            "not a message",
            {"data": {"seq": -1}},
            {"channel": "statistics/v3/service", "data": {"serviceState": "AVAILABLE"}},
            {"channel": "/meta/connect", "id": connect_id, "successful": True},
            {"channel": UPDATES, "data": {"seq": seq + 2}},
        ]))
        await events.wait_seqs(UPDATES, seq + 2)
    assert events.seqs(UPDATES) == [1, 2, 3, 4]
    service = [e for e in events.of(Message) if e.channel == SERVICE]
    assert [e.data for e in service] == [{"serviceState": "AVAILABLE"}] * 2, "channel normalised"
    assert client.stats.rejected == 4 and not events.of(Fatal)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "malformed" in r.getMessage()]
    assert len(warnings) == 1, "logged once"


async def test_token_configuration_error_is_fatal(bayeux, make_client, server, session):
    server.default("POST", TOKEN, lambda r: Scripted(status=401, json={"error": "Unauthorized"}))
    tokens = TokenProvider(session, Credentials(server.url, "cid", "wrong"))
    _client, events = make_client(bayeux.url, token_provider=tokens)
    await events.task
    assert isinstance(events.of(Fatal)[0].error, BadClientCredentials)
    assert server.received("POST", PATH) == []


async def test_reconnect_none_stops_the_client(bayeux, make_client, server):
    client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    bayeux.connect_advice = {"reconnect": "none"}
    await events.task
    [fatal] = events.of(Fatal)
    assert "reconnect none" in fatal.reason
    count = len(server.requests)
    assert client.state is ConnectionState.DISCONNECTED
    assert events.of(StateChanged)[-1].state is ConnectionState.DISCONNECTED
    assert len(server.requests) == count


async def test_server_forgetting_the_client_leads_to_a_rehandshake_and_resubscription(bayeux, make_client):
    client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    bayeux.clients.clear()
    await events.wait_sessions(2)
    second = events.sessions()[1]
    assert second.rehandshake is True and second.channels == (SERVICE, UPDATES)
    assert bayeux.subscribed == [SERVICE, UPDATES, SERVICE, UPDATES]
    assert client.stats.handshakes == 2 and client.stats.reconnects == 1


async def test_refused_subscription_retries_the_session_with_backoff(bayeux, make_client):
    bayeux.refuse_subscribe = 1
    client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    assert events.sessions()[0].rehandshake is False
    assert len(bayeux.requests("/meta/handshake")) == 2
    assert client.stats.errors == 1


async def test_disconnect_says_goodbye_and_ends_the_events(bayeux, session, server):
    client = BayeuxClient(session, bayeux.url, channels=[UPDATES], backoff=FAST)
    async with client:
        events = Collector(client)
        await events.wait_sessions(1)
    await events.task
    assert bayeux.requests("/meta/disconnect")[0]["clientId"] == events.sessions()[0].client_id
    assert client.state is ConnectionState.DISCONNECTED


async def test_unreachable_server_backs_off_without_spinning(make_client):
    client, events = make_client("http://127.0.0.1:9/cometd", backoff=Backoff(base=0.1, cap=0.2))
    await wait_for(lambda: client.stats.errors >= 4, message="four failed attempts")
    delays = [e.delay for e in events.of(StateChanged) if e.state is ConnectionState.BACKING_OFF]
    assert len(delays) >= 3 and all(0.05 <= d <= 0.2 for d in delays[1:]), delays
    assert client.stats.errors < 30, "capped backoff, not a tight loop"


async def test_secrets_never_reach_logs_or_reprs(bayeux, make_client, tokens, server, caplog):
    caplog.set_level(logging.DEBUG)
    server.queue("POST", PATH, Scripted(status=503, text="busy"), Scripted(status=401, json={}))
    client, events = make_client(bayeux.url, token_provider=tokens)
    await events.wait_sessions(1)
    text = " ".join(r.getMessage() for r in caplog.records) + repr(client) + repr(events.events)
    for secret in ("token-1", "token-2", API_KEY, "client-secret-xyz"):
        assert secret not in text


def test_token_and_provider_are_exclusive():
    with pytest.raises(ValueError):
        BayeuxClient(None, "http://x", token="a", token_provider=object())


async def test_session_established_precedes_messages_of_the_new_session(bayeux, make_client):
    _client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    bayeux.clients.clear()
    bayeux.publish(UPDATES, 1)  # delivered on the new session's first connect
    await events.wait_seqs(UPDATES, 1)
    kinds = [type(e) for e in events.events if isinstance(e, (SessionEstablished, Message))]
    assert kinds == [SessionEstablished, SessionEstablished, Message]


async def test_data_in_the_subscribe_reply_follows_session_established(bayeux, make_client):
    bayeux.data_on_subscribe = True
    bayeux.publish(UPDATES, 2)
    _client, events = make_client(bayeux.url)
    await events.wait_seqs(UPDATES, 2)
    kinds = [type(e) for e in events.events if isinstance(e, (SessionEstablished, Message))]
    assert kinds == [SessionEstablished, Message, Message]


async def test_failed_subscribe_request_starts_a_new_session(bayeux, make_client, server):
    _client, events = make_client(bayeux.url)
    await events.wait_sessions(1)
    bayeux.clients.clear()
    # The re-handshake's subscribe request meets a 503: handshake again.
    original = bayeux._answer
    failed = []

    def failing_subscribe(recorded):
        if recorded.json()[0]["channel"] == "/meta/subscribe" and not failed:
            failed.append(recorded)
            return Scripted(status=503, text="busy")
        return original(recorded)
    server.default("POST", PATH, failing_subscribe)
    await events.wait_sessions(2)
    assert failed and len(bayeux.requests("/meta/handshake")) == 3
    assert events.sessions()[1].rehandshake is True


async def test_cometd_401_twice_is_retried_with_backoff(bayeux, make_client, server, tokens):
    client, events = make_client(bayeux.url, token_provider=tokens)
    await events.wait_sessions(1)
    errors = client.stats.errors
    server.queue("POST", PATH, Scripted(status=401, json={}), Scripted(status=401, json={}))
    bayeux.publish(UPDATES, 1)
    await events.wait_seqs(UPDATES, 1)
    assert client.stats.errors == errors + 1
    assert len(server.received("POST", TOKEN)) == 3  # two refreshes, then the third token works
    assert not events.of(Fatal)


async def test_token_endpoint_outage_is_retried_like_a_transport_failure(bayeux, make_client, server, session):
    server.queue("POST", TOKEN, Scripted(status=503, text="down"), Scripted(status=503, text="down"))
    server.default("POST", TOKEN, counting_issuer())
    tokens = TokenProvider(session, Credentials(server.url, "cid", "secret"))
    client, events = make_client(bayeux.url, token_provider=tokens)
    await events.wait_sessions(1)
    assert client.stats.errors == 2
    assert any("token: token endpoint answered HTTP 503" in e.reason for e in events.of(StateChanged))


async def test_disconnect_tolerates_a_failing_goodbye(bayeux, session, server):
    client = BayeuxClient(session, bayeux.url, channels=[UPDATES], backoff=FAST, network_allowance=0.5)
    client.start()
    events = Collector(client)
    await events.wait_sessions(1)
    server.default("POST", PATH, lambda recorded: Scripted(status=503, text="busy"))
    await client.disconnect()
    await events.task
    assert client.state is ConnectionState.DISCONNECTED


async def test_a_bug_stops_the_client_loudly_instead_of_killing_the_task_silently(bayeux, make_client, caplog):
    client, events = make_client(bayeux.url)
    await events.wait_sessions(1)

    def broken(*args):
        raise RuntimeError("bug")
    client._protocol.receive_connect = broken
    await events.task
    assert events.of(Fatal)[0].reason == "internal error: RuntimeError"
    assert "Bayeux client crashed" in caplog.text


async def test_retry_now_cuts_a_long_backoff_short(make_client):
    # Nothing listens on port 9: every attempt fails, and the backoff is a minute long
    # (the first failure is retried at once, the next ones back off).
    client, events = make_client("http://127.0.0.1:9/cometd", backoff=Backoff(base=60.0, cap=60.0))
    await wait_for(lambda: client.stats.errors >= 2, message="two attempts failed")
    await wait_for(lambda: [e for e in events.of(StateChanged) if e.state is ConnectionState.BACKING_OFF and e.delay],
                   message="a long backoff under way")
    failed = client.stats.errors
    started = time.monotonic()
    client.retry_now()
    await wait_for(lambda: client.stats.errors == failed + 1, timeout=5, message="the next attempt went out at once")
    assert time.monotonic() - started < 5
    await asyncio.sleep(0.2)
    assert client.stats.errors == failed + 1, "one attempt, then the backoff again"
    started = time.monotonic()
    await client.disconnect()
    assert time.monotonic() - started < 2, "a backoff never delays a disconnect"
