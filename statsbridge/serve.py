"""Run daphne programmatically with the embedded bridge in the same asyncio loop.

daphne does not implement the ASGI lifespan protocol, so nothing in the ASGI app
can start a background task at boot. ``serve`` builds daphne's ``Server`` itself,
and once the (asyncio) Twisted reactor runs, starts the bridge host and any extra
background coroutines in that very loop; on SIGTERM/SIGINT they are stopped, and the
bridge releases its upstream subscriptions, before the reactor shuts down.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable

log = logging.getLogger(__name__)

Background = Callable[[asyncio.Event], Coroutine]
MAX_MESSAGE_BYTES = 64 * 1024


def endpoint(host: str, port: int) -> str:
    """The Twisted endpoint string for a TCP listener (IPv6 colons escaped)."""
    interface = host.strip("[]").replace(":", r"\:")
    return f"tcp:port={port}:interface={interface}"


def write_now(transport, data: bytes) -> None:
    """Write ``data`` to a Twisted TCP ``transport``: straight to its socket when nothing is
    buffered before it, the rest (or all of it, in any other case) through ``transport.write``.

    ``transport.write`` only buffers and registers the socket for writability; the
    reactor's next turn sends and unregisters it. For a WebSocket frame of a few hundred
    bytes to a socket whose buffer is empty (nearly every frame) that is two ``epoll_ctl``
    calls and a reactor turn per socket frame: with 200 sockets at 200 updates/s, ~10 %
    of the web process (py-spy: ``startWriting``/``stopWriting`` and the extra wake-ups).
    Sending at once keeps the order (nothing is queued before it) and Twisted's own
    ``writeSomeData`` (its error handling); TLS, a closing transport, data already waiting
    or a pull producer (it is asked for more when a buffered write drains) all go through
    ``transport.write`` as before. A streaming producer (daphne's HTTP channel registers
    itself) is only paused when the buffer fills, which a write that is not buffered never does.
    """
    if (getattr(transport, "TLS", True) is False and transport.connected and not transport.disconnecting
            and not transport._writeDisconnected and (transport.producer is None or transport.streamingProducer)
            and not transport._tempDataBuffer and transport.offset == len(transport.dataBuffer)):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int) and sent >= 0:  # else the connection was lost: write() lets Twisted see it
            if sent == len(data):
                return
            data = data[sent:]
    transport.write(data)


def inbound_limit_only(protocol: type) -> type:
    """``protocol`` (daphne's) with its message size limit applied to received messages only,
    and its frames written straight to the socket when they can be (``write_now``).

    autobahn checks ``maxMessagePayloadSize`` in ``sendMessage`` too, so with daphne's
    one option a 64 KB inbound limit also refuses a ~135 KB snapshot of a 1,000-statistic
    dashboard. Sending never reads from the socket, so lifting the limit for the
    duration of the (synchronous) call leaves every received frame checked.
    """

    class InboundLimitOnly(protocol):
        def sendMessage(self, *args, **kwargs):
            """Send one message of any size."""
            limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
            try:
                return super().sendMessage(*args, **kwargs)
            finally:
                self.maxMessagePayloadSize = limit

        def sendData(self, data, sync=False, chopsize=None):
            """autobahn's ``sendData``, with an open socket's plain writes made by ``write_now``."""
            if sync or chopsize or self.send_queue or self.logOctets or self.state != self.STATE_OPEN:
                return super().sendData(data, sync, chopsize)
            write_now(self.transport, data)
            self.trafficStats.outgoingOctetsWireLevel += len(data)  # (as autobahn counts it)
            return None

    return InboundLimitOnly


def body_limits():
    """The request body limits (``statsbridge.bodies.BodyLimits``) from the callable that
    ``settings.REQUEST_BODY_LIMITS_SOURCE`` names: the project knows which page takes a
    larger body, and from whom."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    return import_string(settings.REQUEST_BODY_LIMITS_SOURCE)()


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    embedded_bridge: bool | None = None,
    background: Iterable[Background] = (),
    on_listening: Callable[[list], None] | None = None,
) -> None:
    """Serve the ASGI app on ``host:port`` until a signal; blocks.

    ``embedded_bridge`` defaults to ``settings.BRIDGE["EMBEDDED"]``. Each item of
    ``background`` is called with a stop event, in the server's loop, once it runs;
    its coroutine must return soon after the event is set. ``on_listening`` gets the
    list of ``(host, port)`` actually bound (useful with port 0).
    """
    import daphne.server  # noqa: F401  Installs the asyncio reactor before Twisted's default one.
    from daphne.server import Server
    from django.conf import settings
    from django.utils.module_loading import import_string
    from twisted.internet import defer, reactor

    from statsbridge import bodies
    from statsbridge.conf import bridge_settings
    from statsbridge.host import BridgeHost

    if embedded_bridge is None:
        embedded_bridge = bridge_settings().embedded
    # Client frames over 4 KB get an error frame (socket kept); far larger ones are
    # refused by daphne itself (autobahn drops the connection) so a hostile client cannot make us buffer
    # megabytes. Our own frames are exempt: see inbound_limit_only.
    server = Server(
        import_string(settings.ASGI_APPLICATION),
        endpoints=[endpoint(host, port)],
        signal_handlers=True,
        verbosity=0,
        websocket_max_message_size=MAX_MESSAGE_BYTES,
        websocket_max_frame_size=MAX_MESSAGE_BYTES,
    )
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    starters: list[Background] = list(background)
    if embedded_bridge:
        starters.insert(0, lambda event: BridgeHost(settings.GENESYS).run(event))

    def start() -> None:
        # daphne makes its factory in run(); nothing connects before the reactor runs.
        server.ws_factory.protocol = inbound_limit_only(server.ws_factory.protocol)
        bodies.install(server.http_factory, body_limits())
        loop = asyncio.get_event_loop()
        for starter in starters:
            tasks.append(loop.create_task(starter(stop)))
        if on_listening is not None:
            defer.DeferredList(server.listeners).addCallback(lambda _: on_listening(list(server.listening_addresses)))
        log.info("serving on %s:%s (embedded bridge: %s)", host, port, "on" if embedded_bridge else "off")

    def stop_background():
        stop.set()
        if not tasks:
            return None
        return defer.Deferred.fromFuture(asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True)))

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop_background)
    server.run()
