"""The Bayeux reply parser and protocol state machine under hostile replies.

Every reply, however malformed, is either parsed or refused with
``BayeuxProtocolError``; the protocol always decides a next step with a finite,
bounded delay (so the poll never stops or spins); and the real client keeps polling a
server that answers garbage.
"""

import json
import math

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux import BayeuxClient
from statsbridge.upstream.bayeux.protocol import MAX_INTERVAL_MS, Action, BayeuxProtocol, parse_reply
from statsbridge.upstream.errors import BayeuxProtocolError
from tests.live import eventually
from tests.property.strategies import json_values, plausible

CAP_SECONDS = 2.0
messages = st.lists(plausible, max_size=8) | plausible | json_values


@given(payload=messages)
@settings(max_examples=400, deadline=None)
def test_parse_reply_parses_or_refuses_with_a_protocol_error(payload):
    try:
        reply = parse_reply(payload, max_messages=50)
    except BayeuxProtocolError as error:
        assert str(error).startswith("reply "), f"unclear error: {error}"
        return
    assert len(reply.meta) + len(reply.data) + len(reply.rejected) == len(payload)
    assert all(reason.startswith("reply item ") for reason in reply.rejected)
    assert all(m["channel"].startswith("/meta/") for m in reply.meta)
    assert all(isinstance(m["channel"], str) and m["channel"].startswith("/") and not m["channel"].startswith("/meta/")
               for m in reply.data)


def test_huge_arrays_are_refused_by_count_not_processed():
    with pytest.raises(BayeuxProtocolError, match="holds 100001 messages"):
        parse_reply([{"channel": "/x"}] * 100_001, max_messages=100_000)


def _check_decision(decision, protocol):
    assert decision.action in (Action.HANDSHAKE, Action.CONNECT, Action.STOP)
    assert math.isfinite(decision.delay) and 0 <= decision.delay <= max(CAP_SECONDS, MAX_INTERVAL_MS / 1000)
    assert isinstance(decision.reason, str) and decision.reason
    if decision.failed and protocol.failures > 1 and decision.action is not Action.STOP:
        assert decision.delay > 0, "repeated failures must back off, never spin"


@given(replies=st.lists(messages, min_size=1, max_size=6))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_protocol_always_decides_a_bounded_next_step(replies):
    protocol = BayeuxProtocol(channels=["/statistics/v3/updates"], backoff=Backoff(base=0.1, cap=CAP_SECONDS),
                              max_messages=50, rand=lambda: 0.5)
    for payload in replies:
        if protocol.client_id is None:
            message = protocol.handshake_message()
            receive = protocol.receive_handshake
        else:
            message = protocol.connect_message()
            receive = protocol.receive_connect
        try:
            reply = protocol.parse(payload)
        except BayeuxProtocolError as error:
            decision = protocol.transport_failed(f"protocol error: {error}")
        else:
            decision = receive(reply, message["id"])
        _check_decision(decision, protocol)
        if decision.action is Action.STOP:
            return


@given(reply=st.fixed_dictionaries({"channel": st.just("/meta/connect"), "successful": st.just(True)},
                                   optional={"advice": plausible}))
@settings(deadline=None)
def test_advice_from_a_reply_is_always_within_bounds(reply):
    protocol = BayeuxProtocol()
    protocol.parse([reply])
    advice = protocol.advice
    assert 0 <= advice.interval_ms <= MAX_INTERVAL_MS and isinstance(advice.interval_ms, int)
    assert 0 <= advice.timeout_ms <= 600_000 and isinstance(advice.timeout_ms, int)


# -- the real client against a hostile server ------------------------------------------

class HostileServer:
    """Hands a proper session, then answers each /meta/connect with the next hostile body."""

    def __init__(self, bodies: list[str]):
        self.bodies = list(bodies)
        self.connects = 0
        self.handshakes = 0
        self.runner = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        messages = await request.json()
        message = messages[0]
        if message["channel"] == "/meta/handshake":
            self.handshakes += 1
            return web.json_response([{"channel": "/meta/handshake", "id": message["id"], "successful": True,
                                       "clientId": f"c{self.handshakes}", "version": "1.0",
                                       "supportedConnectionTypes": ["long-polling"],
                                       "advice": {"reconnect": "retry", "interval": 0, "timeout": 200}}])
        if message["channel"] == "/meta/subscribe":
            return web.json_response([{"channel": "/meta/subscribe", "id": m["id"], "successful": True,
                                       "subscription": m["subscription"]} for m in messages])
        self.connects += 1
        if self.bodies:
            return web.Response(text=self.bodies.pop(0), content_type="application/json")
        return web.json_response([{"channel": "/meta/connect", "id": message["id"], "successful": True,
                                   "advice": {"reconnect": "retry", "interval": 0, "timeout": 200}}])

    async def __aenter__(self):
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/cometd", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/cometd"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


HOSTILE_BODIES = {
    "not json": "<html>oops</html>",
    "an object": json.dumps({"channel": "/meta/connect", "successful": True}),
    "wrong types": json.dumps([{"channel": 5}, 7, None]),
    "a huge array": json.dumps([{"channel": "/x/y", "data": i} for i in range(20_001)]),
    "junk advice": json.dumps([{"channel": "/meta/connect", "id": "nope", "successful": "yes",
                                "advice": {"reconnect": 7, "interval": -5, "timeout": "soon"}}]),
    "NaN and huge numbers": '[{"channel": "/meta/connect", "successful": true, "advice": {"interval": NaN, "timeout": 1e999}}]',
    "unknown channels": json.dumps([{"channel": "/nobody/knows", "data": {"x": [1, 2]}}]),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
}


async def _client_survives(body: str):
    async with HostileServer([body, body, body]) as server, aiohttp.ClientSession() as session:
        client = BayeuxClient(session, server.url, channels=["/statistics/v3/updates"],
                              backoff=Backoff(base=0.01, cap=0.05), max_messages=10_000, network_allowance=2.0)
        client.start()
        try:
            # Three hostile replies, then good ones: the client must still be polling afterwards.
            await eventually(lambda: server.connects >= 6, 10, "the client stopped polling after a hostile reply")
            assert client.stats.errors >= 3, "each hostile reply must count as a failed poll"
        finally:
            await client.disconnect()


@pytest.mark.parametrize("name", [n for n in HOSTILE_BODIES if n != "deep nesting"])
async def test_the_client_keeps_polling_through_hostile_replies(name):
    await _client_survives(HOSTILE_BODIES[name])


async def test_the_client_keeps_polling_through_a_deeply_nested_reply():
    await _client_survives(HOSTILE_BODIES["deep nesting"])
