"""``manage.py tail_notifications``: print a CometD endpoint's messages, for admins.

Connects with the same Bayeux client the bridge uses and prints every data message
as one JSON line on stdout, and connection events (handshake, re-handshake, backoff,
advice, lost messages) on stderr. Exits 0 when it stops at ``--max-seconds`` or
``--max-messages``, non-zero with a clear message on a fatal error (``reconnect:
none``, wrong API key, refused credentials).
"""

import asyncio
import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.bayeux import (
    AdviceChanged,
    BayeuxClient,
    Fatal,
    Message,
    MessagesLost,
    SessionEstablished,
    StateChanged,
)
from statsbridge.upstream.http import create_session

NOTIFICATIONS_PATH = "/statistics/v3/notifications"
DEFAULT_CHANNELS = ["/statistics/v3/service", "/statistics/v3/updates"]


def describe(event) -> str | None:
    """The stderr line for a connection event (None for data messages)."""
    if isinstance(event, SessionEstablished):
        kind = "re-handshake" if event.rehandshake else "handshake"
        return f"{kind}: session established, subscribed to {', '.join(event.channels) or 'nothing'}"
    if isinstance(event, StateChanged):
        wait = f" (retry in {event.delay:.1f} s)" if event.delay is not None else ""
        return f"state: {event.state.value}: {event.reason}{wait}"
    if isinstance(event, AdviceChanged):
        return f"advice: reconnect={event.reconnect} interval={event.interval_ms} ms timeout={event.timeout_ms} ms"
    if isinstance(event, MessagesLost):
        return f"lost: {event.count} messages dropped (this tail fell behind)"
    if isinstance(event, Fatal):
        return f"fatal: {event.reason}"
    return None


class Command(BaseCommand):
    """Tail a CometD endpoint: data on stdout as JSON lines, connection events on stderr."""

    help = "Print every CometD data message of a Genesys (or compatible) endpoint as one JSON line."

    def add_arguments(self, parser):
        genesys = settings.GENESYS
        parser.add_argument("--url", default=genesys["API_URL"] + NOTIFICATIONS_PATH,
                            help="CometD endpoint (default: GENESYS_API_URL + /statistics/v3/notifications)")
        parser.add_argument("--api-key", default=None, help="x-api-key (default: GENESYS_API_KEY)")
        parser.add_argument("--token", default=None,
                            help="a bearer token to use as is (default: log in with the GENESYS_* settings)")
        parser.add_argument("--channel", action="append", dest="channels",
                            help="channel to subscribe (repeatable; default: the two statistics channels)")
        parser.add_argument("--max-seconds", type=float, default=None, help="stop (exit 0) after this long")
        parser.add_argument("--max-messages", type=int, default=None, help="stop (exit 0) after this many messages")
        parser.add_argument("--network-allowance", type=float, default=10.0,
                            help="seconds added to the server's hold time before a poll counts as failed")

    def handle(self, *args, **options):
        fatal = asyncio.run(self._tail(options))
        if fatal is not None:
            raise CommandError(f"stopped: {fatal}")

    async def _tail(self, options) -> str | None:
        """Run until a limit (returns None) or a fatal event (returns its reason)."""
        genesys = settings.GENESYS
        session = create_session(options["api_key"] if options["api_key"] is not None else genesys["API_KEY"])
        auth = {"token": options["token"]} if options["token"] else {
            "token_provider": TokenProvider(session, Credentials.from_settings(genesys))}
        client = BayeuxClient(session, options["url"], channels=options["channels"] or DEFAULT_CHANNELS,
                              network_allowance=options["network_allowance"], **auth)
        self.stderr.write(f"tail: connecting to {options['url']}")
        try:
            client.start()
            return await asyncio.wait_for(self._print(client, options["max_messages"]),
                                          timeout=options["max_seconds"])
        except TimeoutError:
            self.stderr.write(f"tail: stopping after {options['max_seconds']} s")
            return None
        finally:
            await client.disconnect()
            await session.close()

    async def _print(self, client: BayeuxClient, max_messages: int | None) -> str | None:
        printed = 0
        started = time.monotonic()
        async for event in client.events():
            if isinstance(event, Message):
                self.stdout.write(json.dumps(event.raw, separators=(",", ":"), default=str))
                self.stdout.flush()
                printed += 1
                if max_messages is not None and printed >= max_messages:
                    self.stderr.write(f"tail: stopping after {printed} messages "
                                      f"in {time.monotonic() - started:.1f} s")
                    return None
                continue
            self.stderr.write(f"tail: {describe(event)}")
            self.stderr.flush()
            if isinstance(event, Fatal):
                return event.reason
        return None
