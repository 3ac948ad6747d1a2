"""After a network outage the first answer from the server is usually ``402::Unknown
client`` (the session expired meanwhile). The server is reachable again, so the client
must re-handshake at once instead of adding another full backoff on top of the one it
waited through (which made walls wait up to a minute after a 30 s cut)."""

from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux.protocol import Action, BayeuxProtocol


def handshaken() -> BayeuxProtocol:
    protocol = BayeuxProtocol(channels=["/statistics/v3/updates"], backoff=Backoff(base=0.5, cap=30.0), rand=lambda: 1.0)
    message = protocol.handshake_message()
    protocol.receive_handshake(protocol.parse([{"channel": "/meta/handshake", "id": message["id"], "successful": True,
                                                "clientId": "c1", "supportedConnectionTypes": ["long-polling"]}]),
                               message["id"])
    return protocol


def unknown_client(protocol: BayeuxProtocol):
    connect = protocol.connect_message()
    reply = [{"channel": "/meta/connect", "id": connect["id"], "successful": False, "error": "402::Unknown client",
              "advice": {"reconnect": "handshake", "interval": 0}}]
    return protocol.receive_connect(protocol.parse(reply), connect["id"])


def test_outage_backoff_itself_is_capped():
    protocol = handshaken()
    delays = [protocol.transport_failed("connect: ClientOSError").delay for _ in range(12)]
    assert max(delays) == 30.0 and delays == sorted(delays)


def test_the_first_answer_after_an_outage_is_acted_on_at_once():
    protocol = handshaken()
    for _ in range(9):
        protocol.transport_failed("connect: ClientOSError")
    decision = unknown_client(protocol)
    assert decision.action is Action.HANDSHAKE
    assert decision.delay == 0.0, f"re-handshake delayed {decision.delay:.1f} s although the server answered"


def test_answers_that_keep_failing_after_an_outage_are_still_backed_off():
    protocol = handshaken()
    for _ in range(9):
        protocol.transport_failed("connect: ClientOSError")
    delays = []
    for _ in range(3):
        decision = unknown_client(protocol)
        delays.append(decision.delay)
        message = protocol.handshake_message()
        protocol.receive_handshake(protocol.parse([{"channel": "/meta/handshake", "id": message["id"],
                                                    "successful": True, "clientId": "c2"}]), message["id"])
    assert delays == [0.0, 0.5, 1.0]


def test_a_server_alternating_errors_and_cuts_cannot_make_the_client_spin():
    protocol = handshaken()
    delays = []
    for _ in range(6):
        delays.append(protocol.transport_failed("connect: HTTP 502").delay)
        delays.append(unknown_client(protocol).delay)
        message = protocol.handshake_message()
        protocol.receive_handshake(protocol.parse([{"channel": "/meta/handshake", "id": message["id"],
                                                    "successful": True, "clientId": "c2"}]), message["id"])
    # Each failed answer counts and each cut adds a step on top: the waits keep doubling.
    assert delays == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0]
