"""A small Bayeux 1.0 long-polling client: a sans-I/O core and an aiohttp transport.

``protocol`` builds messages, parses replies and decides what to do next (the advice
state machine) without doing any I/O; ``client`` moves the bytes and hands typed
``events`` to the application through a bounded ``buffer``.
"""

from statsbridge.upstream.bayeux.client import BayeuxClient, ClientStats
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
