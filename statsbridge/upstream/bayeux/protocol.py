"""Sans-I/O core of a Bayeux 1.0 long-polling client.

``BayeuxProtocol`` builds the messages to send and digests the replies, and tells the
I/O layer what to do next as a ``Decision`` (handshake, connect or stop, after how
long). It never touches the network or the clock, so every branch is unit-testable.

Rules implemented (cometd.org Bayeux 1.0 and the Genesys wire notes):
- meta replies are matched to requests by ``id``; data messages may ride in any reply
  and are returned in the order received;
- ``advice`` may come in any reply and the newest wins, field by field; ``interval``
  and ``timeout`` are milliseconds; ``reconnect`` is ``retry``, ``handshake`` or ``none``;
- the first ``/meta/connect`` after a handshake carries ``advice: {"timeout": 0}``;
- failures back off exponentially (capped, jittered) so that no server reply, however
  hostile, can make the client spin; the counter resets only on a successful connect;
- a server answer ends an outage: the transport failures before it (refused, reset,
  timeout...) stop counting, so the first answer after a network cut, typically
  ``402::Unknown client`` + ``reconnect: handshake``, is acted on at the advised
  interval instead of after yet another backoff; failed answers keep counting among
  themselves, so a server refusing every request is still backed off;
- replies that are not valid Bayeux as a whole (not an array, too many messages) raise
  ``BayeuxProtocolError`` (never another exception type), which the I/O layer treats
  as a transport failure; a single malformed message is left out (``Reply.rejected``)
  and the rest of the reply is kept; a channel without its leading slash is normalised.
"""

import enum
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.errors import BayeuxProtocolError

VERSION = "1.0"
LONG_POLLING = "long-polling"
# Advice values beyond these are clamped: a server must not be able to make the client
# wait for days or hold an HTTP request open for hours.
MAX_INTERVAL_MS = 3_600_000
MAX_TIMEOUT_MS = 600_000


class Reconnect(enum.StrEnum):
    """The ``advice.reconnect`` values of Bayeux 1.0."""

    RETRY = "retry"
    HANDSHAKE = "handshake"
    NONE = "none"


@dataclass(frozen=True)
class Advice:
    """The server's current advice; ``interval_ms``/``timeout_ms`` in milliseconds."""

    reconnect: Reconnect = Reconnect.RETRY
    interval_ms: int = 0
    timeout_ms: int = 30_000

    def merged(self, raw: object) -> "Advice":
        """Return this advice updated by the fields of ``raw`` that are valid (newest wins)."""
        if not isinstance(raw, dict):
            return self
        result = self
        reconnect = raw.get("reconnect")
        if isinstance(reconnect, str) and reconnect in {r.value for r in Reconnect}:
            result = replace(result, reconnect=Reconnect(reconnect))
        interval = _milliseconds(raw.get("interval"), MAX_INTERVAL_MS)
        if interval is not None:
            result = replace(result, interval_ms=interval)
        timeout = _milliseconds(raw.get("timeout"), MAX_TIMEOUT_MS)
        if timeout is not None:
            result = replace(result, timeout_ms=timeout)
        return result


def _milliseconds(value: object, ceiling: int) -> int | None:
    """A non-negative number of ms, clamped to ``ceiling``; None when not a valid number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return int(min(value, ceiling))


@dataclass(frozen=True)
class Reply:
    """A parsed reply array: meta replies and data messages, each in arrival order.

    ``rejected`` says why each malformed message of the array was left out (the others
    are kept: one bad message must not lose the rest of the reply).
    """

    meta: tuple[dict, ...]
    data: tuple[dict, ...]
    rejected: tuple[str, ...] = ()

    def meta_for(self, message_id: str, channel: str) -> dict | None:
        """The meta reply answering request ``message_id`` on ``channel``, if present."""
        for message in self.meta:
            if message.get("id") == message_id and message["channel"] == channel:
                return message
        return None


def normal_channel(channel: object) -> str | None:
    """``channel`` with a leading slash (added when the server left it out), or None when unusable.

    The reference itself writes a service notification's topic as ``statistics/v3/service``;
    a server doing the same with a Bayeux channel still means ``/statistics/v3/service``.
    """
    if not isinstance(channel, str):
        return None
    channel = channel.strip()
    if not channel.strip("/"):
        return None
    return channel if channel.startswith("/") else "/" + channel


def parse_reply(payload: object, *, max_messages: int = 10_000) -> Reply:
    """Split a decoded JSON reply into meta replies and data messages, message by message.

    Raises ``BayeuxProtocolError`` only when the payload as a whole is unusable (not a
    list, or more than ``max_messages`` messages). A message that is not an object or
    has no usable string ``channel`` is left out and named in ``Reply.rejected``; a
    channel without its leading slash is normalised.
    """
    if not isinstance(payload, list):
        raise BayeuxProtocolError(f"reply is a JSON {type(payload).__name__}, not an array")
    if len(payload) > max_messages:
        raise BayeuxProtocolError(f"reply holds {len(payload)} messages (limit {max_messages})")
    meta, data, rejected = [], [], []
    for index, message in enumerate(payload):
        if not isinstance(message, dict):
            rejected.append(f"reply item {index} is a JSON {type(message).__name__}, not an object")
            continue
        channel = normal_channel(message.get("channel"))
        if channel is None:
            rejected.append(f"reply item {index} has no valid channel")
            continue
        if channel != message["channel"]:
            message = {**message, "channel": channel}
        (meta if channel.startswith("/meta/") else data).append(message)
    return Reply(meta=tuple(meta), data=tuple(data), rejected=tuple(rejected))


def error_text(message: dict | None) -> str:
    """A short printable form of a meta reply's ``error`` (servers put codes there)."""
    if message is None:
        return "no reply"
    error = message.get("error")
    return error[:200] if isinstance(error, str) and error else "unsuccessful"


class Action(enum.Enum):
    """What the I/O layer must do next."""

    HANDSHAKE = "handshake"
    CONNECT = "connect"
    STOP = "stop"


@dataclass(frozen=True)
class Decision:
    """The next step: ``action`` after ``delay`` seconds, and why."""

    action: Action
    delay: float
    reason: str
    failed: bool = False  # the step that led here failed (count it, log it)


@dataclass(frozen=True)
class SubscribeOutcome:
    """Which channels a subscribe request confirmed and which failed (with the error)."""

    confirmed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


class BayeuxProtocol:
    """State of one Bayeux client: session id, advice, wanted channels, failure count."""

    META_HANDSHAKE = "/meta/handshake"
    META_CONNECT = "/meta/connect"
    META_SUBSCRIBE = "/meta/subscribe"
    META_UNSUBSCRIBE = "/meta/unsubscribe"
    META_DISCONNECT = "/meta/disconnect"

    def __init__(
        self,
        *,
        channels: Iterable[str] = (),
        backoff: Backoff = Backoff(base=0.5, cap=30.0),
        max_messages: int = 10_000,
        rand: Callable[[], float] = random.random,
    ):
        self.channels: dict[str, None] = dict.fromkeys(channels)  # wanted, in order
        self.client_id: str | None = None
        self.advice = Advice()
        self.failures = 0  # consecutive failures of any kind: the backoff exponent
        self._answered_failures = 0  # those of them the server answered (not transport failures)
        self.max_messages = max_messages
        self._backoff = backoff
        self._rand = rand
        self._next_id = 0
        self._first_connect = False

    # -- messages -----------------------------------------------------------------

    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def handshake_message(self) -> dict:
        """A ``/meta/handshake`` request; forgets the current session."""
        self.client_id = None
        return {
            "channel": self.META_HANDSHAKE,
            "version": VERSION,
            "minimumVersion": VERSION,
            "supportedConnectionTypes": [LONG_POLLING],
            "advice": {"timeout": self.advice.timeout_ms, "interval": 0},
            "id": self._id(),
        }

    def connect_message(self) -> dict:
        """A ``/meta/connect``; the first after a handshake asks for an immediate answer."""
        message = {"channel": self.META_CONNECT, "clientId": self._require_session(),
                   "connectionType": LONG_POLLING, "id": self._id()}
        if self._first_connect:
            message["advice"] = {"timeout": 0}
        return message

    def connect_http_timeout(self, allowance: float) -> float:
        """Seconds to wait for the next connect reply: the server's hold time plus ``allowance``."""
        held = 0 if self._first_connect else self.advice.timeout_ms / 1000
        return held + allowance

    def subscribe_messages(self, channels: Iterable[str]) -> list[dict]:
        """One ``/meta/subscribe`` per channel; the channels join the set restored after a re-handshake."""
        messages = []
        for channel in channels:
            self.channels[channel] = None
            messages.append({"channel": self.META_SUBSCRIBE, "clientId": self._require_session(),
                             "subscription": channel, "id": self._id()})
        return messages

    def unsubscribe_messages(self, channels: Iterable[str]) -> list[dict]:
        """One ``/meta/unsubscribe`` per channel; the channels leave the wanted set."""
        messages = []
        for channel in channels:
            self.channels.pop(channel, None)
            messages.append({"channel": self.META_UNSUBSCRIBE, "clientId": self._require_session(),
                             "subscription": channel, "id": self._id()})
        return messages

    def disconnect_message(self) -> dict:
        """A ``/meta/disconnect``; the session is forgotten locally at once."""
        message = {"channel": self.META_DISCONNECT, "clientId": self._require_session(), "id": self._id()}
        self.client_id = None
        return message

    def _require_session(self) -> str:
        if self.client_id is None:
            raise RuntimeError("no Bayeux session: handshake first")
        return self.client_id

    # -- replies --------------------------------------------------------------------

    def parse(self, payload: object) -> Reply:
        """Parse a reply and apply any advice in it (newest wins: later messages override)."""
        reply = parse_reply(payload, max_messages=self.max_messages)
        for message in (*reply.meta, *reply.data):
            if "advice" in message:
                self.advice = self.advice.merged(message["advice"])
        return reply

    def receive_handshake(self, reply: Reply, message_id: str) -> Decision:
        """Digest the reply to handshake ``message_id``."""
        message = reply.meta_for(message_id, self.META_HANDSHAKE)
        if message is not None and message.get("successful") is True:
            client_id = message.get("clientId")
            types = message.get("supportedConnectionTypes")
            if not isinstance(client_id, str) or not client_id:
                return self._failure("handshake reply without a clientId")
            if isinstance(types, list) and LONG_POLLING not in types:
                return self._failure("server does not offer long-polling")
            if not isinstance(message.get("advice"), dict) or "reconnect" not in message["advice"]:
                # A fresh session starts from "retry" unless the server says otherwise.
                self.advice = replace(self.advice, reconnect=Reconnect.RETRY)
            # The server answered: the transport failures of an outage before it stop counting.
            self.failures = self._answered_failures
            self.client_id = client_id
            self._first_connect = True
            if self.advice.reconnect is Reconnect.NONE:
                return Decision(Action.STOP, 0.0, "server advised reconnect none")
            return Decision(Action.CONNECT, 0.0, "handshake successful")
        return self._failure(f"handshake failed: {error_text(message)}")

    def receive_connect(self, reply: Reply, message_id: str) -> Decision:
        """Digest the reply to connect ``message_id``."""
        message = reply.meta_for(message_id, self.META_CONNECT)
        if message is not None and message.get("successful") is True:
            self.failures = self._answered_failures = 0
            self._first_connect = False
            return self._follow_advice("connected", failed=False)
        return self._failure(f"connect failed: {error_text(message)}")

    def receive_subscribe(self, reply: Reply, pending: dict[str, str], *,
                          channel: str = META_SUBSCRIBE) -> SubscribeOutcome:
        """Match (un)subscribe replies to ``pending`` (message id -> channel)."""
        confirmed, failed = [], []
        for message_id, subscription in pending.items():
            message = reply.meta_for(message_id, channel)
            if message is not None and message.get("successful") is True:
                confirmed.append(subscription)
            else:
                failed.append((subscription, error_text(message)))
        return SubscribeOutcome(tuple(confirmed), tuple(failed))

    def transport_failed(self, reason: str) -> Decision:
        """The request could not be exchanged (refused, reset, timeout, 5xx, not JSON...)."""
        self.failures += 1
        action = Action.CONNECT if self.client_id else Action.HANDSHAKE
        return Decision(action, self._failure_delay(), reason, failed=True)

    def session_failed(self, reason: str) -> Decision:
        """The session is unusable for a reason outside the advice (e.g. a subscribe refused)."""
        self.failures += 1
        self.client_id = None
        return Decision(Action.HANDSHAKE, self._failure_delay(), reason, failed=True)

    def _failure(self, reason: str) -> Decision:
        """A reply that the server sent but that reports (or is) a failure."""
        # Transport failures before this answer (an outage) do not count: the advice is acted
        # on at once; failed answers count among themselves, so refusals are backed off.
        self._answered_failures += 1
        self.failures = self._answered_failures
        return self._follow_advice(reason, failed=True)

    def _follow_advice(self, reason: str, *, failed: bool) -> Decision:
        reconnect = self.advice.reconnect
        if reconnect is Reconnect.NONE:
            self.client_id = None
            return Decision(Action.STOP, 0.0, f"{reason}; server advised reconnect none", failed=failed)
        delay = self._failure_delay() if failed else self.advice.interval_ms / 1000
        if reconnect is Reconnect.HANDSHAKE or self.client_id is None:
            self.client_id = None
            return Decision(Action.HANDSHAKE, delay, reason, failed=failed)
        return Decision(Action.CONNECT, delay, reason, failed=failed)

    def _failure_delay(self) -> float:
        """The advice interval; from the second consecutive failure on, at least the backoff."""
        interval = self.advice.interval_ms / 1000
        if self.failures <= 1:
            return interval
        return max(interval, self._backoff.delay(self.failures - 1, self._rand))
