"""Typed events the Bayeux client hands to the application, in order."""

import enum
from dataclasses import dataclass, field


class ConnectionState(enum.StrEnum):
    """Where the client is: for metrics and the ops page."""

    DISCONNECTED = "disconnected"
    HANDSHAKING = "handshaking"
    CONNECTED = "connected"
    BACKING_OFF = "backing-off"


@dataclass(frozen=True)
class Message:
    """A data message published on ``channel``; ``data`` is its ``data`` member as sent."""

    channel: str
    data: object
    raw: dict = field(repr=False, compare=False)


@dataclass(frozen=True)
class SessionEstablished:
    """A Bayeux session is up and ``channels`` are subscribed.

    Sent after the first handshake and after every re-handshake (``rehandshake``
    True). Messages published while no session existed are lost, and REST
    statistic subscriptions tied to the old session are gone: re-create them.
    """

    client_id: str = field(repr=False)
    rehandshake: bool
    channels: tuple[str, ...]


@dataclass(frozen=True)
class MessagesLost:
    """The application fell behind and ``count`` data messages were dropped here: resync."""

    count: int


@dataclass(frozen=True)
class StateChanged:
    """The connection state changed; ``delay`` is the wait before the next attempt when backing off."""

    state: ConnectionState
    reason: str
    delay: float | None = None


@dataclass(frozen=True)
class AdviceChanged:
    """The server's advice changed (reconnect, interval/timeout in ms)."""

    reconnect: str
    interval_ms: int
    timeout_ms: int


@dataclass(frozen=True)
class Fatal:
    """The client stopped for good: ``reconnect: none``, a configuration error, or a refused token."""

    reason: str
    error: BaseException | None = field(default=None, compare=False)


Event = Message | SessionEstablished | MessagesLost | StateChanged | AdviceChanged | Fatal
