"""Bayeux 1.0 long-polling sessions of the notifications endpoint.

Sessions are created by /meta/handshake and carry the HTTP session cookie that
ties REST statistic subscriptions to them. Messages for a session wait in a
bounded queue until a /meta/connect takes them; a connect is held until data
arrives or ``advice.timeout`` passes (the first one after a handshake is answered
at once). Dispatch is always on each message's ``channel``.
"""

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

UPDATES_CHANNEL = "/statistics/v3/updates"
SERVICE_CHANNEL = "/statistics/v3/service"
SERVICE_CHANNELS = (UPDATES_CHANNEL, SERVICE_CHANNEL)

_SUPERSEDED = "superseded"
_WOKEN = "woken"
_CLOSED = "closed"


class Session:
    """One Bayeux client: its id, HTTP session cookie, channels and message queue."""

    __slots__ = (
        "browser_id",
        "channels",
        "client_id",
        "closed",
        "connected",
        "cookie",
        "dropped",
        "last_seen",
        "queue",
        "waiter",
    )

    def __init__(self, browser_id: str, now: float) -> None:
        self.client_id = secrets.token_hex(12)
        self.cookie = secrets.token_hex(16)
        self.browser_id = browser_id
        self.channels: set = set()
        self.queue: deque = deque()
        self.dropped = 0
        self.waiter: asyncio.Future | None = None
        self.last_seen = now
        self.connected = False
        self.closed = False

    def __repr__(self) -> str:
        return f"<Session {self.client_id} queued={len(self.queue)} dropped={self.dropped}>"

    def enqueue(self, message: dict, limit: int) -> None:
        """Queue ``message``, dropping the oldest beyond ``limit``, and wake a held connect."""
        queue = self.queue
        queue.append(message)
        if len(queue) > limit:
            queue.popleft()
            self.dropped += 1
        self._wake(_WOKEN)

    def drain(self) -> list:
        """Take every queued message."""
        messages = list(self.queue)
        self.queue.clear()
        return messages

    def _wake(self, why: str) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(why)


def unknown_client(message: dict) -> dict:
    """The reply to a message naming a client the server does not know."""
    return _reply(message, successful=False, error="402::Unknown client",
                  advice={"reconnect": "handshake", "interval": 0})


def _reply(message: dict, **fields) -> dict:
    reply = {"channel": message.get("channel")}
    if "id" in message:
        reply["id"] = message["id"]
    reply.update(fields)
    return reply


class SessionHub:
    """Every live session, the Bayeux protocol over them, and their expiry."""

    def __init__(self, connect_timeout_ms: int, expiry_seconds: float, max_queue: int,
                 on_session_end: Callable[[Session], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.connect_timeout_ms = connect_timeout_ms
        self.expiry_seconds = expiry_seconds
        self.max_queue = max_queue
        self._on_session_end = on_session_end
        self._clock = clock
        self.by_client_id: dict[str, Session] = {}
        self.by_cookie: dict[str, Session] = {}
        self.dropped_total = 0

    # -- session lifecycle ---------------------------------------------------

    def end(self, session: Session) -> None:
        """Remove ``session`` with its statistic subscriptions; a held connect returns 402."""
        if session.closed:
            return
        session.closed = True
        self.by_client_id.pop(session.client_id, None)
        self.by_cookie.pop(session.cookie, None)
        self.dropped_total += session.dropped
        session.queue.clear()
        session._wake(_CLOSED)
        self._on_session_end(session)

    def end_all(self) -> int:
        """Forget every session; returns how many there were."""
        sessions = list(self.by_client_id.values())
        for session in sessions:
            self.end(session)
        return len(sessions)

    def expire_idle(self) -> int:
        """End sessions that have not polled for ``expiry_seconds``; returns how many."""
        deadline = self._clock() - self.expiry_seconds
        idle = [s for s in self.by_client_id.values()
                if s.last_seen < deadline and (s.waiter is None or s.waiter.done())]
        for session in idle:
            self.end(session)
        return len(idle)

    def broadcast(self, message: dict) -> None:
        """Queue ``message`` for every session."""
        for session in self.by_client_id.values():
            session.enqueue(message, self.max_queue)

    def deliver(self, session: Session, message: dict) -> None:
        """Queue ``message`` for one session (it need not have subscribed the channel yet)."""
        if not session.closed:
            session.enqueue(message, self.max_queue)

    def dropped_messages(self) -> int:
        """Messages dropped from full queues, over all sessions ever."""
        return self.dropped_total + sum(s.dropped for s in self.by_client_id.values())

    # -- protocol ------------------------------------------------------------

    async def process(self, messages: list, cookies: dict) -> tuple[list, Session | None]:
        """Answer one request's messages in order; returns the replies and any new session."""
        replies: list = []
        created = None
        for message in messages:
            if not isinstance(message, dict):
                replies.append({"successful": False, "error": "400::message must be an object"})
                continue
            channel = message.get("channel")
            if channel == "/meta/handshake":
                reply, created = self._handshake(message, cookies)
                replies.append(reply)
            elif channel == "/meta/connect":
                replies.extend(await self._connect(message))
            elif channel in ("/meta/subscribe", "/meta/unsubscribe"):
                replies.append(self._subscription(message, channel == "/meta/subscribe"))
            elif channel == "/meta/disconnect":
                replies.append(self._disconnect(message))
            elif not isinstance(channel, str) or not channel.startswith("/"):
                replies.append(_reply(message, successful=False, error="400::invalid channel"))
            elif channel.startswith("/meta/"):
                replies.append(_reply(message, successful=False, error="400::unknown meta channel"))
            else:
                replies.append(_reply(message, successful=False, error="403::publish denied"))
        return replies, created

    def _known(self, message: dict) -> Session | None:
        client_id = message.get("clientId")
        session = self.by_client_id.get(client_id) if isinstance(client_id, str) else None
        if session is not None:
            session.last_seen = self._clock()
        return session

    def _advice(self) -> dict:
        return {"reconnect": "retry", "interval": 0, "timeout": self.connect_timeout_ms}

    def _handshake(self, message: dict, cookies: dict) -> tuple[dict, Session | None]:
        types = message.get("supportedConnectionTypes", ["long-polling"])
        if not isinstance(types, list) or "long-polling" not in types:
            reply = _reply(message, successful=False, error="301::long-polling required",
                           supportedConnectionTypes=["long-polling"], advice={"reconnect": "none"})
            return reply, None
        session = Session(cookies.get("BAYEUX_BROWSER") or secrets.token_hex(12), self._clock())
        self.by_client_id[session.client_id] = session
        self.by_cookie[session.cookie] = session
        reply = _reply(message, successful=True, clientId=session.client_id, version="1.0",
                       minimumVersion="1.0", supportedConnectionTypes=["long-polling"], advice=self._advice())
        return reply, session

    async def _connect(self, message: dict) -> list:
        session = self._known(message)
        if session is None:
            return [unknown_client(message)]
        session._wake(_SUPERSEDED)  # only one connect may be held per session
        advice = message.get("advice") if isinstance(message.get("advice"), dict) else {}
        hold_ms = 0 if not session.connected or advice.get("timeout") == 0 else self.connect_timeout_ms
        session.connected = True
        why = _WOKEN
        if not session.queue and hold_ms > 0:
            waiter = asyncio.get_running_loop().create_future()
            session.waiter = waiter
            done, _ = await asyncio.wait([waiter], timeout=hold_ms / 1000)
            why = waiter.result() if done else _WOKEN
            if session.waiter is waiter:
                session.waiter = None
        if why == _CLOSED or session.closed:
            return [unknown_client(message)]
        session.last_seen = self._clock()
        data = [] if why == _SUPERSEDED else session.drain()
        data.append(_reply(message, successful=True, clientId=session.client_id, advice=self._advice()))
        return data

    def _subscription(self, message: dict, subscribe: bool) -> dict:
        session = self._known(message)
        if session is None:
            return unknown_client(message)
        requested = message.get("subscription")
        channels = requested if isinstance(requested, list) else [requested]
        for channel in channels:
            if not isinstance(channel, str) or not channel.startswith("/"):
                return _reply(message, successful=False, subscription=requested, error="400::invalid channel")
            if channel not in SERVICE_CHANNELS:
                return _reply(message, successful=False, subscription=requested, error="403::subscription denied")
        for channel in channels:
            (session.channels.add if subscribe else session.channels.discard)(channel)
        return _reply(message, successful=True, clientId=session.client_id, subscription=requested)

    def _disconnect(self, message: dict) -> dict:
        session = self._known(message)
        if session is None:
            return unknown_client(message)
        self.end(session)
        return _reply(message, successful=True, clientId=session.client_id)


def notification(channel: str, name: str, payload: dict, nesting: str = "nested", ext: dict | None = None,
                 *, dialect: str = "reference", topic: str | None = None) -> dict:
    """A Bayeux data message on ``channel`` carrying one Statistics notification.

    The ``reference`` dialect is the reference's sample form: ``data`` is
    ``{"name": ..., "topic": ..., "data": payload}`` (``nesting`` "nested") or has the
    payload's fields beside ``name`` and ``topic`` ("flat"). ``topic`` defaults to the
    channel; the reference's AVAILABLE sample writes it without its leading slash.
    The ``messageType`` dialect (``{"messageType": name, ...}``) is the simulator's
    former form, kept on demand to prove that clients still accept it.
    """
    if dialect == "messageType":
        data: dict[str, Any] = {"messageType": name}
    else:
        data = {"name": name, "topic": channel if topic is None else topic}
    if nesting == "nested":
        data["data"] = payload
    else:
        data.update(payload)
    message = {"channel": channel, "data": data}
    if ext is not None:
        message["ext"] = ext
    return message


def service_topic(state: str) -> str:
    """The ``topic`` of a ServiceStateChange, written as the reference's samples write it.

    The UNAVAILABLE sample names ``/statistics/v3/service``; the AVAILABLE sample names
    ``statistics/v3/service``, without the leading slash. Clients must accept both.
    """
    return SERVICE_CHANNEL if state == "UNAVAILABLE" else SERVICE_CHANNEL.lstrip("/")
