"""Request bodies bounded before they are read, in the served HTTP protocol.

daphne's HTTP side (Twisted's ``http.Request``) stores a whole request body, then puts
it, chunk by chunk and all at once, on the application's queue before Django (and its
CSRF check or login) ever runs: an anonymous 100 MB POST grew the process by a gigabyte
and froze it. ``bounded_request`` makes daphne's request class refuse a body whose
declared length (``Content-Length``) or streamed length (chunked) exceeds the limit of
its path: it answers ``413`` at once, then reads and drops whatever the client still
sends for a short while (so the client sees the answer rather than a reset) and closes.

Limits (``BodyLimits``, made by the project from ``settings.REQUEST_BODY_LIMITS``, see
``statsbridge.serve.body_limits``): ``default`` for every path, and a larger one for one
upload page, granted only to the sessions its ``is_staff`` check accepts; a larger body
from anyone else is refused before the application sees it.
"""

import asyncio
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# How long a refused connection is read (and dropped) before it is cut off.
LINGER_SECONDS = 3.0
MESSAGE = b"Request body too large.\n"
RESPONSE_413 = (
    b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(MESSAGE), MESSAGE)
)


def nobody(cookie_header: bytes | None) -> bool:
    """Grant the larger limit to no session."""
    return False


@dataclass(frozen=True)
class BodyLimits:
    """The largest body in bytes: ``default`` anywhere, ``import_`` on ``import_path`` for staff.

    ``is_staff`` says whether a ``Cookie`` header carries a session allowed the larger
    limit; it runs in a thread (``database_sync_to_async``), so it may query the database.
    """

    default: int
    import_: int
    import_path: str
    is_staff: Callable[[bytes | None], bool] = nobody

    def for_path(self, target: bytes | None) -> int:
        """The limit for a request target (path and query) as the client sent it."""
        path = (target or b"").split(b"?", 1)[0].decode("latin1")
        return max(self.default, self.import_) if path == self.import_path else self.default

    def needs_staff(self, received: int) -> bool:
        """Whether a body of ``received`` bytes is allowed only to staff (over the default)."""
        return received > self.default


def bounded_request(base: type, limits: BodyLimits) -> type:
    """daphne's request class ``base`` refusing bodies over ``limits`` with a 413."""
    from channels.db import database_sync_to_async  # closes stale DB connections around the call
    from twisted.internet import defer, reactor

    class BoundedRequest(base):
        refused = False
        received = 0
        limit = limits.default

        def gotLength(self, length):
            """The headers are in: refuse a declared length over the path's limit now."""
            super().gotLength(length)
            self.limit = limits.for_path(getattr(self.channel, "_path", None))
            if length is not None and length > self.limit:
                self.refuse(length)

        def handleContentChunk(self, data):
            """Store a chunk while the body stays within its limit; refuse once it does not."""
            if self.refused:
                return
            self.received += len(data)
            if self.received > self.limit:
                self.refuse(self.received)
                return
            super().handleContentChunk(data)

        def process(self):
            """Hand the request to the application (a large import only for staff)."""
            if self.refused:
                return None
            if limits.needs_staff(self.received):
                return defer.Deferred.fromFuture(asyncio.ensure_future(self._process_for_staff()))
            return super().process()

        async def _process_for_staff(self):
            cookie = self.requestHeaders.getRawHeaders(b"cookie", [None])[0]
            try:
                allowed = await database_sync_to_async(limits.is_staff)(cookie)
            except Exception:  # no database: nobody gets the larger limit
                log.exception("could not check the session of a large upload")
                allowed = False
            if not allowed:
                self.refuse(self.received)
                return
            await base.process(self)

        def refuse(self, size: int) -> None:
            """Answer 413, drop whatever else arrives, close: nothing of the body is kept."""
            if self.refused:
                return
            self.refused = True
            channel = self.channel
            client = getattr(channel.transport.getPeer(), "host", "?") if channel and channel.transport else "?"
            log.warning("refused a request body of %s+ bytes over the %s-byte limit from %s", size, self.limit, client)
            if channel is None or channel.transport is None:
                return
            transport = channel.transport
            # Twisted's parser would go on storing the rest: from now on the bytes are dropped.
            channel.dataReceived = lambda data: None
            # Free what was stored; an empty body stays for Twisted, which may still finish
            # parsing a request whose end came in the same read.
            self.content.close()
            self.content = io.BytesIO()
            transport.write(RESPONSE_413)
            try:
                transport.loseWriteConnection()  # the answer, then FIN; the client's bytes still drain
            except AttributeError:
                transport.loseConnection()
            reactor.callLater(LINGER_SECONDS, _abort, transport)

    return BoundedRequest


def _abort(transport) -> None:
    """Cut a refused connection whose client kept sending."""
    if getattr(transport, "connected", False):
        transport.abortConnection()


def install(http_factory, limits: BodyLimits) -> None:
    """Make daphne's HTTP factory build requests that bound their bodies (before it accepts any)."""
    build = http_factory.buildProtocol
    made: dict[type, type] = {}  # one class for every connection

    def build_bounded(addr):
        protocol = build(addr)
        if protocol is not None:
            base = protocol.requestFactory
            if base not in made:
                made[base] = bounded_request(base, limits)
            protocol.requestFactory = made[base]
        return protocol

    http_factory.buildProtocol = build_bounded
