"""A bounded, ordered event buffer that says when it had to drop data messages.

Polling must never wait for the application (a server expires a client that stops
polling), so data messages beyond ``capacity`` are dropped here and replaced, in
order, by one ``MessagesLost`` marker counting them. Control events (session,
state, fatal) are few and always kept.
"""

from collections import deque

from statsbridge.upstream.bayeux.events import Event, Message, MessagesLost


class EventBuffer:
    """FIFO of events holding at most ``capacity`` data messages at a time."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._events: deque = deque()
        self._messages = 0
        self.dropped = 0  # total data messages dropped since creation

    def __len__(self) -> int:
        return len(self._events)

    def put(self, event: Event) -> bool:
        """Append ``event``; returns False when it was a data message that had to be dropped."""
        if isinstance(event, Message):
            if self._messages >= self.capacity:
                self.dropped += 1
                last = self._events[-1] if self._events else None
                if isinstance(last, MessagesLost):
                    self._events[-1] = MessagesLost(last.count + 1)
                else:
                    self._events.append(MessagesLost(1))
                return False
            self._messages += 1
        self._events.append(event)
        return True

    def get(self) -> Event:
        """Remove and return the oldest event; raises IndexError when empty."""
        event = self._events.popleft()
        if isinstance(event, Message):
            self._messages -= 1
        return event
