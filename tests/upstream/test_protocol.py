"""Unit tests of the sans-I/O Bayeux core: messages, reply parsing, the advice state machine."""

import pytest

from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux.buffer import EventBuffer
from statsbridge.upstream.bayeux.events import ConnectionState, Message, MessagesLost, StateChanged
from statsbridge.upstream.bayeux.protocol import (
    Action,
    Advice,
    BayeuxProtocol,
    Reconnect,
    Reply,
    error_text,
    parse_reply,
)
from statsbridge.upstream.errors import BayeuxProtocolError


def make(channels=("/a", "/b"), **kwargs) -> BayeuxProtocol:
    # rand=1.0 makes the jittered backoff deterministic: delay == its ceiling.
    return BayeuxProtocol(channels=channels, backoff=Backoff(base=1.0, cap=8.0), rand=lambda: 1.0, **kwargs)


def handshaken(advice=None, **kwargs) -> BayeuxProtocol:
    protocol = make(**kwargs)
    message = protocol.handshake_message()
    reply = {"channel": "/meta/handshake", "id": message["id"], "successful": True, "clientId": "c1",
             "version": "1.0", "supportedConnectionTypes": ["long-polling"]}
    if advice is not None:
        reply["advice"] = advice
    decision = protocol.receive_handshake(protocol.parse([reply]), message["id"])
    assert decision.action is Action.CONNECT
    return protocol


def connect_reply(message_id, successful=True, **extra) -> list:
    return [{"channel": "/meta/connect", "id": message_id, "successful": successful, **extra}]


# -- messages ------------------------------------------------------------------------------

def test_handshake_message_is_bayeux_1_long_polling_with_fresh_ids():
    protocol = make()
    first, second = protocol.handshake_message(), protocol.handshake_message()
    assert first["channel"] == "/meta/handshake"
    assert first["version"] == "1.0" and first["minimumVersion"] == "1.0"
    assert first["supportedConnectionTypes"] == ["long-polling"]
    assert first["advice"] == {"timeout": 30000, "interval": 0}
    assert first["id"] != second["id"]


def test_first_connect_after_handshake_asks_for_immediate_reply_and_later_ones_do_not():
    protocol = handshaken()
    first = protocol.connect_message()
    assert first == {"channel": "/meta/connect", "clientId": "c1", "connectionType": "long-polling",
                     "id": first["id"], "advice": {"timeout": 0}}
    assert protocol.connect_http_timeout(2.5) == 2.5
    protocol.receive_connect(protocol.parse(connect_reply(first["id"], advice={"timeout": 20000})), first["id"])
    second = protocol.connect_message()
    assert "advice" not in second
    assert protocol.connect_http_timeout(2.5) == 22.5


def test_first_connect_flag_survives_a_failed_first_connect():
    protocol = handshaken()
    protocol.connect_message()
    protocol.transport_failed("reset")
    assert protocol.connect_message()["advice"] == {"timeout": 0}


def test_subscribe_and_unsubscribe_messages_update_the_wanted_channels():
    protocol = handshaken(channels=("/a",))
    messages = protocol.subscribe_messages(["/b", "/c"])
    assert [m["subscription"] for m in messages] == ["/b", "/c"]
    assert all(m["channel"] == "/meta/subscribe" and m["clientId"] == "c1" for m in messages)
    assert len({m["id"] for m in messages}) == 2
    assert list(protocol.channels) == ["/a", "/b", "/c"]
    unsub = protocol.unsubscribe_messages(["/a"])
    assert unsub[0]["channel"] == "/meta/unsubscribe" and unsub[0]["subscription"] == "/a"
    assert list(protocol.channels) == ["/b", "/c"]


def test_disconnect_message_forgets_the_session_and_no_session_means_no_connect():
    protocol = handshaken()
    message = protocol.disconnect_message()
    assert message["channel"] == "/meta/disconnect" and message["clientId"] == "c1"
    assert protocol.client_id is None
    with pytest.raises(RuntimeError, match="handshake first"):
        protocol.connect_message()


# -- reply parsing ---------------------------------------------------------------------------

def test_parse_splits_meta_replies_and_data_messages_keeping_order():
    reply = parse_reply([
        {"channel": "/x", "data": 1},
        {"channel": "/meta/connect", "id": "3", "successful": True},
        {"channel": "/y", "data": 2},
        {"channel": "/x", "data": 3},
    ])
    assert [m["data"] for m in reply.data] == [1, 2, 3]
    assert reply.meta_for("3", "/meta/connect")["successful"] is True
    assert reply.meta_for("4", "/meta/connect") is None
    assert reply.meta_for("3", "/meta/handshake") is None


@pytest.mark.parametrize("payload, fragment", [
    ({"channel": "/meta/connect"}, "JSON dict, not an array"),
    ("hello", "JSON str, not an array"),
    (None, "JSON NoneType"),
    ([{"channel": "/x"}] * 11, "holds 11 messages (limit 10)"),
])
def test_parse_rejects_hostile_replies_with_a_clear_protocol_error(payload, fragment):
    with pytest.raises(BayeuxProtocolError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_reply(payload, max_messages=10)


@pytest.mark.parametrize("bad, why", [
    (1, "item 1 is a JSON int, not an object"),
    ({"channel": 5}, "item 1 has no valid channel"),
    ({"data": 1}, "item 1 has no valid channel"),
    ({"channel": "/"}, "item 1 has no valid channel"),
])
def test_one_malformed_message_is_left_out_and_the_rest_of_the_reply_kept(bad, why):
    reply = parse_reply([{"channel": "/meta/connect", "id": "3", "successful": True}, bad,
                         {"channel": "/statistics/v3/updates", "data": {"n": 1}}])
    assert reply.rejected == (f"reply {why}",)
    assert [m["channel"] for m in reply.meta] == ["/meta/connect"]
    assert [m["data"] for m in reply.data] == [{"n": 1}]


def test_a_channel_without_its_leading_slash_is_normalised():
    reply = parse_reply([{"channel": "statistics/v3/service", "data": {"serviceState": "AVAILABLE"}},
                         {"channel": "meta/connect", "id": "2", "successful": True}])
    assert reply.rejected == ()
    assert [m["channel"] for m in reply.data] == ["/statistics/v3/service"]
    assert reply.meta_for("2", "/meta/connect") is not None


def test_error_text_is_bounded_and_handles_missing_replies():
    assert error_text(None) == "no reply"
    assert error_text({"successful": False}) == "unsuccessful"
    assert error_text({"error": 42}) == "unsuccessful"
    assert error_text({"error": "402::Unknown client"}) == "402::Unknown client"
    assert len(error_text({"error": "x" * 10_000})) == 200


# -- advice ---------------------------------------------------------------------------------

def test_advice_merge_takes_valid_fields_and_ignores_invalid_ones():
    advice = Advice()
    merged = advice.merged({"reconnect": "handshake", "interval": 2000, "timeout": 45000})
    assert merged == Advice(Reconnect.HANDSHAKE, 2000, 45000)
    assert merged.merged({"interval": 500}) == Advice(Reconnect.HANDSHAKE, 500, 45000)
    assert advice.merged("not a dict") is advice
    assert advice.merged({"reconnect": "sometimes", "interval": -1, "timeout": "60"}) == advice
    assert advice.merged({"interval": True, "timeout": float("nan")}) == advice
    assert advice.merged({"interval": 10**12, "timeout": 10**12}) == Advice(Reconnect.RETRY, 3_600_000, 600_000)


def test_newest_advice_wins_across_and_within_replies():
    protocol = handshaken()
    protocol.parse([{"channel": "/meta/connect", "id": "9", "successful": True, "advice": {"interval": 100}},
                    {"channel": "/x", "data": 1, "advice": {"interval": 2000}}])
    assert protocol.advice.interval_ms == 2000
    protocol.parse([{"channel": "/meta/connect", "id": "10", "successful": True, "advice": {"timeout": 5000}}])
    assert (protocol.advice.interval_ms, protocol.advice.timeout_ms) == (2000, 5000)


# -- handshake decisions ----------------------------------------------------------------------

def test_successful_handshake_stores_session_and_connects_at_once():
    protocol = make()
    message = protocol.handshake_message()
    decision = protocol.receive_handshake(protocol.parse([
        {"channel": "/meta/handshake", "id": message["id"], "successful": True, "clientId": "abc",
         "supportedConnectionTypes": ["long-polling", "callback-polling"],
         "advice": {"reconnect": "retry", "interval": 0, "timeout": 60000}}]), message["id"])
    assert (decision.action, decision.delay, decision.failed) == (Action.CONNECT, 0.0, False)
    assert protocol.client_id == "abc"
    assert protocol.advice.timeout_ms == 60000


def test_handshake_reply_for_another_id_is_a_failure():
    protocol = make()
    message = protocol.handshake_message()
    decision = protocol.receive_handshake(protocol.parse([
        {"channel": "/meta/handshake", "id": "other", "successful": True, "clientId": "abc"}]), message["id"])
    assert decision.action is Action.HANDSHAKE and decision.failed
    assert decision.reason == "handshake failed: no reply"
    assert protocol.client_id is None


@pytest.mark.parametrize("fields, reason", [
    ({"clientId": 7}, "handshake reply without a clientId"),
    ({"clientId": ""}, "handshake reply without a clientId"),
    ({"clientId": "abc", "supportedConnectionTypes": ["websocket"]}, "server does not offer long-polling"),
    ({"clientId": "abc", "successful": "true"}, "handshake failed: unsuccessful"),
])
def test_malformed_successful_handshakes_are_failures(fields, reason):
    protocol = make()
    message = protocol.handshake_message()
    raw = {"channel": "/meta/handshake", "id": message["id"], "successful": True, **fields}
    decision = protocol.receive_handshake(protocol.parse([raw]), message["id"])
    assert decision.failed and decision.action is Action.HANDSHAKE and decision.reason == reason


def test_refused_handshakes_back_off_exponentially_up_to_the_cap():
    protocol = make()
    delays = []
    for _ in range(6):
        message = protocol.handshake_message()
        decision = protocol.receive_handshake(protocol.parse([
            {"channel": "/meta/handshake", "id": message["id"], "successful": False, "error": "403::denied"}]),
            message["id"])
        assert decision.action is Action.HANDSHAKE and decision.reason == "handshake failed: 403::denied"
        delays.append(decision.delay)
    # First failure follows the advice interval (0); then 1, 2, 4, 8 and the cap 8.
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_refused_handshake_with_reconnect_none_stops():
    protocol = make()
    message = protocol.handshake_message()
    decision = protocol.receive_handshake(protocol.parse([
        {"channel": "/meta/handshake", "id": message["id"], "successful": False, "error": "403::denied",
         "advice": {"reconnect": "none"}}]), message["id"])
    assert decision.action is Action.STOP
    assert "reconnect none" in decision.reason


def test_successful_handshake_advising_none_stops():
    protocol = make()
    message = protocol.handshake_message()
    decision = protocol.receive_handshake(protocol.parse([
        {"channel": "/meta/handshake", "id": message["id"], "successful": True, "clientId": "a",
         "advice": {"reconnect": "none"}}]), message["id"])
    assert decision.action is Action.STOP


def test_successful_handshake_without_reconnect_advice_resets_a_sticky_handshake_advice():
    protocol = handshaken()
    connect = protocol.connect_message()
    decision = protocol.receive_connect(protocol.parse(connect_reply(
        connect["id"], successful=False, error="402::Unknown client", advice={"reconnect": "handshake"})),
        connect["id"])
    assert decision.action is Action.HANDSHAKE
    message = protocol.handshake_message()
    protocol.receive_handshake(protocol.parse([
        {"channel": "/meta/handshake", "id": message["id"], "successful": True, "clientId": "c2"}]), message["id"])
    assert protocol.advice.reconnect is Reconnect.RETRY
    connect = protocol.connect_message()
    decision = protocol.receive_connect(protocol.parse(connect_reply(connect["id"])), connect["id"])
    assert decision.action is Action.CONNECT


# -- connect decisions ----------------------------------------------------------------------

def test_successful_connect_reconnects_after_the_advised_interval_in_milliseconds():
    protocol = handshaken(advice={"reconnect": "retry", "interval": 2000, "timeout": 1000})
    connect = protocol.connect_message()
    decision = protocol.receive_connect(protocol.parse(connect_reply(connect["id"])), connect["id"])
    assert (decision.action, decision.delay, decision.failed) == (Action.CONNECT, 2.0, False)


def test_successful_connect_resets_the_failure_count():
    protocol = handshaken()
    for _ in range(3):
        protocol.connect_message()
        protocol.transport_failed("reset")
    assert protocol.failures == 3
    connect = protocol.connect_message()
    protocol.receive_connect(protocol.parse(connect_reply(connect["id"])), connect["id"])
    assert protocol.failures == 0


@pytest.mark.parametrize("advice, action", [
    ({"reconnect": "handshake"}, Action.HANDSHAKE),
    ({"reconnect": "none"}, Action.STOP),
    ({"reconnect": "retry"}, Action.CONNECT),
])
def test_successful_connect_follows_the_reconnect_advice(advice, action):
    protocol = handshaken()
    connect = protocol.connect_message()
    decision = protocol.receive_connect(protocol.parse(connect_reply(connect["id"], advice=advice)), connect["id"])
    assert decision.action is action and not decision.failed
    assert (protocol.client_id is None) is (action is not Action.CONNECT)


def test_unknown_client_with_handshake_advice_rehandshakes_at_once_then_backs_off():
    protocol = handshaken()
    delays = []
    for _ in range(3):
        connect = protocol.connect_message() if protocol.client_id else None
        if connect is None:
            message = protocol.handshake_message()
            protocol.receive_handshake(protocol.parse([
                {"channel": "/meta/handshake", "id": message["id"], "successful": True, "clientId": "c"}]),
                message["id"])
            connect = protocol.connect_message()
        decision = protocol.receive_connect(protocol.parse(connect_reply(
            connect["id"], successful=False, error="402::Unknown client", advice={"reconnect": "handshake"})),
            connect["id"])
        assert decision.action is Action.HANDSHAKE and decision.failed
        assert protocol.client_id is None
        delays.append(decision.delay)
    # A server that forgets the client after every handshake cannot make it spin.
    assert delays == [0.0, 1.0, 2.0]


def test_unsuccessful_connect_with_retry_advice_retries_the_connect():
    protocol = handshaken()
    connect = protocol.connect_message()
    decision = protocol.receive_connect(protocol.parse(connect_reply(
        connect["id"], successful=False, error="500::oops", advice={"reconnect": "retry", "interval": 300})),
        connect["id"])
    assert (decision.action, decision.delay) == (Action.CONNECT, 0.3)
    assert decision.reason == "connect failed: 500::oops"
    assert protocol.client_id == "c1"


def test_missing_connect_reply_is_a_failure():
    protocol = handshaken()
    connect = protocol.connect_message()
    decision = protocol.receive_connect(protocol.parse([{"channel": "/x", "data": 1}]), connect["id"])
    assert decision.failed and decision.action is Action.CONNECT
    assert decision.reason == "connect failed: no reply"


def test_unsuccessful_connect_with_reconnect_none_stops_and_drops_the_session():
    protocol = handshaken()
    connect = protocol.connect_message()
    decision = protocol.receive_connect(protocol.parse(connect_reply(
        connect["id"], successful=False, advice={"reconnect": "none"})), connect["id"])
    assert decision.action is Action.STOP and decision.failed
    assert protocol.client_id is None


# -- transport failures and session failures ---------------------------------------------------

def test_transport_failure_retries_connect_with_a_session_and_handshake_without():
    protocol = make()
    protocol.handshake_message()
    decision = protocol.transport_failed("refused")
    assert (decision.action, decision.delay, decision.reason) == (Action.HANDSHAKE, 0.0, "refused")
    protocol = handshaken()
    first = protocol.transport_failed("reset")
    second = protocol.transport_failed("reset")
    assert (first.action, first.delay) == (Action.CONNECT, 0.0)
    assert (second.action, second.delay) == (Action.CONNECT, 1.0)


def test_failure_delay_is_at_least_the_advised_interval():
    protocol = handshaken(advice={"interval": 5000})
    assert protocol.transport_failed("x").delay == 5.0
    assert protocol.transport_failed("x").delay == 5.0  # backoff 1 s < interval 5 s
    protocol.failures = 10
    assert protocol.transport_failed("x").delay == 8.0  # the backoff cap beats the interval


def test_session_failure_forces_a_new_handshake():
    protocol = handshaken()
    decision = protocol.session_failed("subscribe refused")
    assert decision.action is Action.HANDSHAKE and decision.failed
    assert protocol.client_id is None


def test_subscribe_outcome_matches_each_channel_by_id():
    protocol = handshaken(channels=())
    messages = protocol.subscribe_messages(["/a", "/b", "/c"])
    ids = {m["id"]: m["subscription"] for m in messages}
    reply = protocol.parse([
        {"channel": "/meta/subscribe", "id": messages[0]["id"], "successful": True, "subscription": "/a"},
        {"channel": "/meta/subscribe", "id": messages[1]["id"], "successful": False, "error": "403::denied"},
    ])
    outcome = protocol.receive_subscribe(reply, ids)
    assert outcome.confirmed == ("/a",)
    assert outcome.failed == (("/b", "403::denied"), ("/c", "no reply"))


def test_reply_type_is_a_plain_value():
    assert Reply(meta=(), data=()) == Reply(meta=(), data=())


# -- event buffer -------------------------------------------------------------------------------

def msg(n):
    return Message("/x", {"seq": n}, {})


def test_buffer_keeps_order_and_reports_drops_in_place():
    buffer = EventBuffer(capacity=2)
    assert buffer.put(msg(1)) and buffer.put(msg(2))
    assert not buffer.put(msg(3)) and not buffer.put(msg(4))
    state = StateChanged(ConnectionState.CONNECTED, "x")
    assert buffer.put(state)  # control events are never dropped
    assert not buffer.put(msg(5))
    assert buffer.dropped == 3
    got = [buffer.get() for _ in range(len(buffer))]
    assert got == [msg(1), msg(2), MessagesLost(2), state, MessagesLost(1)]
    assert buffer.put(msg(6)) and buffer.get() == msg(6)
    with pytest.raises(IndexError):
        buffer.get()
    with pytest.raises(ValueError):
        EventBuffer(0)


def test_backoff_is_capped_jittered_and_zero_only_without_failures():
    backoff = Backoff(base=0.5, cap=4.0)
    assert backoff.delay(0) == 0.0
    assert backoff.delay(1, rand=lambda: 0.0) == 0.25
    assert backoff.delay(1, rand=lambda: 1.0) == 0.5
    assert backoff.delay(4, rand=lambda: 1.0) == 4.0
    assert backoff.delay(400, rand=lambda: 0.0) == 2.0


def test_the_sans_io_core_imports_no_http_library():
    """The protocol (and the backoff rule it uses) must stay free of I/O: no aiohttp."""
    import subprocess
    import sys

    script = ("import sys; import statsbridge.upstream.bayeux.protocol; "
              "assert 'aiohttp' not in sys.modules, 'aiohttp was imported'")
    subprocess.run([sys.executable, "-c", script], check=True)
