"""A minimal Bayeux server on the scripted server, for transport unit tests.

It answers handshake/connect/subscribe/disconnect like a well-behaved server (connects
are held ``hold`` seconds, or answered at once when data is queued or the client asks
for timeout 0); tests queue exact raw replies to inject hostile or failing answers.
"""

import itertools

from tests.upstream.scripted_server import Scripted, ScriptedServer

PATH = "/statistics/v3/notifications"


class FakeBayeux:
    """Well-behaved Bayeux semantics with hooks; ``pending`` data goes out with the next connect."""

    def __init__(self, server: ScriptedServer, *, hold: float = 0.05, timeout_ms: int = 200, interval_ms: int = 0):
        self.server = server
        self.hold = hold
        self.advice = {"reconnect": "retry", "interval": interval_ms, "timeout": timeout_ms}
        self.pending: list[dict] = []
        self.clients: set[str] = set()
        self.subscribed: list[str] = []
        self.refuse_subscribe = 0
        self.connect_advice: dict | None = None
        self.data_on_subscribe = False  # like CometD: queued data rides in any reply
        self._ids = itertools.count(1)
        server.default("POST", PATH, self._answer)

    @property
    def url(self) -> str:
        """The endpoint URL."""
        return self.server.url + PATH

    def requests(self, channel: str) -> list[dict]:
        """Every message received on ``channel``, in order."""
        return [m for r in self.server.received("POST", PATH) for m in r.json() if m.get("channel") == channel]

    def publish(self, channel: str, count: int, start: int = 1) -> None:
        """Queue ``count`` data messages with seq start.. for the next connect."""
        self.pending.extend({"channel": channel, "data": {"seq": n}} for n in range(start, start + count))

    def _answer(self, recorded) -> Scripted:
        replies, delay = [], 0.0
        for message in recorded.json():
            channel = message.get("channel")
            reply = {"channel": channel, "id": message.get("id"), "successful": True}
            if channel == "/meta/handshake":
                client_id = f"client-{next(self._ids)}"
                self.clients.add(client_id)
                reply.update(clientId=client_id, version="1.0", supportedConnectionTypes=["long-polling"],
                             advice=dict(self.advice))
            elif message.get("clientId") not in self.clients:
                reply.update(successful=False, error="402::Unknown client", advice={"reconnect": "handshake"})
            elif channel == "/meta/connect":
                if self.connect_advice is not None:
                    reply["advice"] = self.connect_advice
                if not self.pending and message.get("advice", {}).get("timeout") != 0:
                    delay = self.hold
                replies.extend(self.pending)
                self.pending = []
            elif channel == "/meta/subscribe":
                if self.refuse_subscribe:
                    self.refuse_subscribe -= 1
                    reply.update(successful=False, error="403::subscribe_denied")
                else:
                    self.subscribed.append(message["subscription"])
                reply["subscription"] = message.get("subscription")
                if self.data_on_subscribe:
                    replies.extend(self.pending)
                    self.pending = []
            elif channel == "/meta/disconnect":
                self.clients.discard(message["clientId"])
            replies.append(reply)
        return Scripted(json=replies, delay=delay,
                        headers={"Set-Cookie": "BAYEUX_BROWSER=b1; Path=/"} if any(
                            m.get("channel") == "/meta/handshake" for m in recorded.json()) else {})
