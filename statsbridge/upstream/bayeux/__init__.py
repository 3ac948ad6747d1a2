"""A small Bayeux 1.0 long-polling client: a sans-I/O core and an aiohttp transport.

``protocol`` builds messages, parses replies and decides what to do next (the advice
state machine) without doing any I/O; ``client`` moves the bytes and hands typed
``events`` to the application through a bounded ``buffer``.

The client (and with it aiohttp) is imported on first use only, so that importing the
sans-I/O ``protocol`` imports nothing that does I/O.
"""

from statsbridge.upstream.bayeux.events import (
    AdviceChanged,
    ConnectionState,
    Event,
    Fatal,
    Message,
    MessagesLost,
    SessionEstablished,
    StateChanged,
)

__all__ = [
    "AdviceChanged",
    "BayeuxClient",
    "ClientStats",
    "ConnectionState",
    "Event",
    "Fatal",
    "Message",
    "MessagesLost",
    "SessionEstablished",
    "StateChanged",
]


def __getattr__(name: str):
    """Import the aiohttp client on first use (see the module docstring)."""
    if name in ("BayeuxClient", "ClientStats"):
        from statsbridge.upstream.bayeux import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
