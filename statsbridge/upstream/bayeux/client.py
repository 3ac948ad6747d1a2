"""aiohttp long-polling transport for the sans-I/O Bayeux core.

``BayeuxClient`` runs one loop: handshake, a first connect answered at once, the
channel subscriptions, then one held ``/meta/connect`` after another, following the
``Decision`` the protocol core returns after every exchange. Everything the
application needs arrives, in order, from ``events()``:

    async with BayeuxClient(session, url, channels=[...], token_provider=tokens) as client:
        async for event in client.events():
            ...  # Message, SessionEstablished, MessagesLost, StateChanged, AdviceChanged, Fatal

The loop never waits for the application: events go through a bounded buffer that
reports drops as ``MessagesLost``. The iterator ends after ``Fatal`` or ``disconnect()``.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import aiohttp

from statsbridge.upstream.auth import TokenProvider
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux.buffer import EventBuffer
from statsbridge.upstream.bayeux.events import (
    AdviceChanged,
    ConnectionState,
    Event,
    Fatal,
    Message,
    SessionEstablished,
    StateChanged,
)
from statsbridge.upstream.bayeux.protocol import Action, BayeuxProtocol, Decision, Reply
from statsbridge.upstream.errors import (
    AuthenticationError,
    BadApiKey,
    BayeuxProtocolError,
    ConfigurationError,
    TransientError,
    error_summary,
    is_api_key_rejection,
)

logger = logging.getLogger(__name__)

# The last configuration error a client stopped on, in this process: a deployment with a
# wrong key or credentials starts client after client, and says so once, not every minute.
_last_config_fatal: str | None = None


class _TransportFailure(Exception):
    """One HTTP exchange failed in a way worth retrying (reason is printable, secret-free)."""


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of the client, exported on /metrics: state, last message time (epoch s), counters."""

    state: ConnectionState
    last_message_at: float | None
    handshakes: int
    reconnects: int
    messages: int
    errors: int
    dropped: int
    rejected: int = 0  # malformed messages left out of otherwise good replies


class BayeuxClient:
    """A Bayeux 1.0 long-polling client on a shared ``aiohttp.ClientSession``.

    Authenticate with ``token_provider`` (a 401 invalidates the token and the request
    is retried once with a new one) or a fixed ``token`` (a 401 is then fatal), or
    neither for servers without authentication.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        channels: Iterable[str] = (),
        token_provider: TokenProvider | None = None,
        token: str | None = None,
        buffer_size: int = 10_000,
        network_allowance: float = 10.0,
        backoff: Backoff = Backoff(base=0.5, cap=30.0),
        max_reply_bytes: int = 32 * 1024 * 1024,
        max_messages: int = 10_000,
    ):
        if token_provider is not None and token is not None:
            raise ValueError("give token_provider or token, not both")
        self.url = url
        self._session = session
        self._tokens = token_provider
        self._token = token
        self._allowance = network_allowance
        self._max_reply_bytes = max_reply_bytes
        self._protocol = BayeuxProtocol(channels=channels, backoff=backoff, max_messages=max_messages)
        self._buffer = EventBuffer(buffer_size)
        self._wakeup = asyncio.Event()
        self._retry_now = asyncio.Event()  # cuts a backoff wait short (see retry_now)
        self._task: asyncio.Task | None = None
        self._closed = False
        self._state = ConnectionState.DISCONNECTED
        self._establishing = False
        self._ever_connected = False
        self._last_message_at: float | None = None
        self._handshakes = self._reconnects = self._messages = self._errors = 0
        self._sessions = 0  # sessions announced with SessionEstablished
        self._outage_logged = False
        self._rejected = 0  # malformed messages left out of replies
        self._rejected_logged = False

    def __repr__(self) -> str:
        return f"<BayeuxClient {self.url} {self._state.value}>"

    # -- public API -----------------------------------------------------------------

    @property
    def stats(self) -> ClientStats:
        """Current state and counters."""
        return ClientStats(self._state, self._last_message_at, self._handshakes, self._reconnects,
                           self._messages, self._errors, self._buffer.dropped, self._rejected)

    @property
    def state(self) -> ConnectionState:
        """The connection state."""
        return self._state

    def start(self) -> None:
        """Start the polling loop in the background (idempotent)."""
        if self._task is None:
            self._closed = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"bayeux {self.url}")

    async def disconnect(self) -> None:
        """Stop polling, tell the server goodbye (best effort), end ``events()``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._protocol.client_id is not None:
            message = self._protocol.disconnect_message()
            # A failed goodbye is harmless: the server will expire the session by itself.
            with contextlib.suppress(_TransportFailure, ConfigurationError, AuthenticationError, TransientError):
                await self._exchange([message], timeout=min(self._allowance, 5.0))
        self._set_state(ConnectionState.DISCONNECTED, "disconnected by the application")
        self._closed = True
        self._wakeup.set()

    def retry_now(self) -> None:
        """End a backoff wait under way at once (the application knows the network is back,
        e.g. REST answers again): the next attempt goes out now instead of after the backoff."""
        self._retry_now.set()

    async def _back_off(self, delay: float) -> None:
        # A retry_now() that came after the failure but before this wait still counts.
        # (asyncio.wait, not wait_for: Python 3.11's wait_for can swallow a cancellation
        # that meets the event, and disconnect() would then wait out a whole backoff.)
        waiter = asyncio.ensure_future(self._retry_now.wait())
        try:
            await asyncio.wait([waiter], timeout=delay)
        finally:
            waiter.cancel()
        self._retry_now.clear()

    async def __aenter__(self) -> "BayeuxClient":
        self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.disconnect()

    async def events(self) -> AsyncIterator[Event]:
        """Yield events in order until ``Fatal`` or ``disconnect()``."""
        while True:
            while not len(self._buffer):
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            event = self._buffer.get()
            yield event
            if isinstance(event, Fatal):
                return

    # -- the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        decision = Decision(Action.HANDSHAKE, 0.0, "starting")
        try:
            while decision.action is not Action.STOP:
                if decision.failed:
                    self._set_state(ConnectionState.BACKING_OFF, decision.reason, decision.delay)
                if decision.delay > 0:
                    await self._back_off(decision.delay)
                if decision.action is Action.HANDSHAKE:
                    decision = await self._handshake(decision.reason)
                else:
                    decision = await self._connect()
                if decision.failed:
                    self._record_failure(decision)
            self._fatal(decision.reason)
        except (ConfigurationError, AuthenticationError) as error:
            self._fatal(str(error), error)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug must stop the client loudly, not kill the task silently
            logger.exception("Bayeux client crashed")
            self._fatal(f"internal error: {type(error).__name__}", error)

    async def _handshake(self, reason: str) -> Decision:
        self._set_state(ConnectionState.HANDSHAKING, reason)
        message = self._protocol.handshake_message()
        try:
            reply = await self._exchange([message], timeout=self._allowance)
        except _TransportFailure as failure:
            return self._protocol.transport_failed(f"handshake: {failure}")
        decision = self._protocol.receive_handshake(reply, message["id"])
        self._deliver(reply)
        if not decision.failed and decision.action is Action.CONNECT:
            self._handshakes += 1
            self._establishing = True
        return decision

    async def _connect(self) -> Decision:
        message = self._protocol.connect_message()
        timeout = self._protocol.connect_http_timeout(self._allowance)
        try:
            reply = await self._exchange([message], timeout=timeout)
        except _TransportFailure as failure:
            return self._protocol.transport_failed(f"connect: {failure}")
        decision = self._protocol.receive_connect(reply, message["id"])
        connected = not decision.failed and decision.action is Action.CONNECT
        if connected and self._establishing:
            return await self._establish(reply, decision)
        self._deliver(reply)
        if connected and self._state is not ConnectionState.CONNECTED:
            self._became_connected("connection restored")
        return decision

    async def _establish(self, first_reply: Reply, decision: Decision) -> Decision:
        """After the first connect of a session: subscribe the wanted channels, announce the session.

        Data that arrived meanwhile is delivered after ``SessionEstablished``, so the
        application sees every message of the new session after being told about it.
        """
        channels = list(self._protocol.channels)
        replies = [first_reply]
        if channels:
            messages = self._protocol.subscribe_messages(channels)
            try:
                reply = await self._exchange(messages, timeout=self._allowance)
            except _TransportFailure as failure:
                self._deliver(first_reply)
                return self._protocol.session_failed(f"subscribe: {failure}")
            replies.append(reply)
            outcome = self._protocol.receive_subscribe(reply, {m["id"]: m["subscription"] for m in messages})
            if outcome.failed:
                refused = ", ".join(f"{channel} ({error})" for channel, error in outcome.failed)
                for received in replies:
                    self._deliver(received)
                return self._protocol.session_failed(f"subscribe refused: {refused}")
        self._establishing = False
        rehandshake = self._sessions > 0
        self._sessions += 1
        self._became_connected("session re-established (re-handshake)" if rehandshake else "session established")
        self._emit(SessionEstablished(self._protocol.client_id, rehandshake, tuple(channels)))
        for received in replies:
            self._deliver(received)
        return decision

    # -- one HTTP exchange --------------------------------------------------------

    async def _exchange(self, messages: list[dict], *, timeout: float) -> Reply:
        """POST ``messages``; return the parsed reply or raise ``_TransportFailure``.

        Raises ``BadApiKey`` on the gateway's HTTP 403 ``{"message": "Forbidden"}``, ``AuthenticationError`` when a fixed token
        is refused, and whatever the token provider raises for configuration errors.
        """
        refreshed = False
        while True:
            token = await self._bearer()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                async with self._session.post(self.url, json=messages, headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                    status = response.status
                    if status in (200, 403):
                        body = await self._read_limited(response)
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                raise _TransportFailure(_describe(error)) from None
            if status == 401:
                if self._tokens is None:
                    raise AuthenticationError("the CometD endpoint refused the token (HTTP 401)")
                self._tokens.invalidate(token)
                if refreshed:
                    raise _TransportFailure("HTTP 401 even with a new token")
                refreshed = True
                continue
            if status == 403:
                refused = _json_or_none(body)
                if is_api_key_rejection(status, refused):
                    raise BadApiKey("the CometD endpoint")
                # An envelope: the service answered this request with an error, which
                # does not mean the key is bad; retried with backoff like any failure.
                raise _TransportFailure(f"HTTP 403 {error_summary(refused)}".rstrip())
            if status != 200:
                raise _TransportFailure(f"HTTP {status}")
            try:
                payload = json.loads(body)
            except ValueError:
                raise _TransportFailure("reply is not JSON") from None
            except RecursionError:
                raise _TransportFailure("reply is nested too deeply") from None
            before = self._protocol.advice
            try:
                reply = self._protocol.parse(payload)
            except BayeuxProtocolError as error:
                raise _TransportFailure(f"protocol error: {error}") from None
            if reply.rejected:
                self._report_rejected(reply.rejected)
            advice = self._protocol.advice
            if advice != before:
                self._emit(AdviceChanged(advice.reconnect.value, advice.interval_ms, advice.timeout_ms))
            return reply

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes:
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max_reply_bytes:
                raise _TransportFailure(f"reply larger than {self._max_reply_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _bearer(self) -> str | None:
        if self._tokens is None:
            return self._token
        try:
            return await self._tokens.get()
        except TransientError as error:
            raise _TransportFailure(f"token: {error}") from None

    # -- events and bookkeeping --------------------------------------------------

    def _emit(self, event: Event) -> None:
        self._buffer.put(event)
        self._wakeup.set()

    def _deliver(self, reply: Reply) -> None:
        for raw in reply.data:
            self._messages += 1
            self._last_message_at = time.time()
            self._emit(Message(raw["channel"], raw.get("data"), raw))

    def _report_rejected(self, reasons: tuple[str, ...]) -> None:
        """Log malformed messages: the first once as a warning, later ones at debug level."""
        self._rejected += len(reasons)
        if not self._rejected_logged:
            self._rejected_logged = True
            logger.warning("Bayeux %s: left out a malformed message (%s); the rest of the reply is used",
                           self.url, reasons[0])
        else:
            logger.debug("Bayeux %s: left out %d malformed message(s): %s", self.url, len(reasons), reasons[0])

    def _set_state(self, state: ConnectionState, reason: str, delay: float | None = None) -> None:
        if state is self._state and state is not ConnectionState.BACKING_OFF:
            return
        self._state = state
        self._emit(StateChanged(state, reason, delay))

    def _became_connected(self, reason: str) -> None:
        global _last_config_fatal
        _last_config_fatal = None  # fixed: a later refusal is news again
        if self._ever_connected:
            self._reconnects += 1
        self._ever_connected = True
        self._outage_logged = False
        self._retry_now.clear()  # asked for while connected: there is nothing to cut short
        logger.info("Bayeux %s: %s", self.url, reason)
        self._set_state(ConnectionState.CONNECTED, reason)

    def _record_failure(self, decision: Decision) -> None:
        self._errors += 1
        if not self._outage_logged:
            logger.warning("Bayeux %s: %s", self.url, decision.reason)
            self._outage_logged = True
        else:
            logger.debug("Bayeux %s: %s", self.url, decision.reason)

    def _fatal(self, reason: str, error: BaseException | None = None) -> None:
        global _last_config_fatal
        # The token provider logs its own refusals once; don't repeat them here either.
        from_tokens = self._tokens is not None and error is not None and error is self._tokens.last_error
        repeated = isinstance(error, ConfigurationError) and (from_tokens or reason == _last_config_fatal)
        if isinstance(error, ConfigurationError):
            _last_config_fatal = reason
        logger.log(logging.DEBUG if repeated else logging.ERROR, "Bayeux %s stopped: %s", self.url, reason)
        self._set_state(ConnectionState.DISCONNECTED, reason)
        self._emit(Fatal(reason, error))
        self._task = None


def _json_or_none(body: bytes) -> object:
    """``body`` decoded as JSON, or None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _describe(error: BaseException) -> str:
    """A short, secret-free description of a transport exception."""
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    return type(error).__name__
