"""Self-clocking fan-out: when a dashboard may be sent its next frame (pure, no I/O).

A dashboard's next ``batch`` leaves as soon as the previous one has been handed to every
socket showing it, and no sooner than ``floor`` seconds after it (``FRAME_FLOOR_SECONDS``).
Idle, a value reaches the browser in the time one round takes (a few ms); overloaded,
rounds take longer, so frames stretch to whatever one fan-out round costs and never pile
up in the sockets' queues: at most one batch per dashboard is ever in flight.

What "handed to every socket" means depends on the channel layer (``Receipt``):

- the in-memory layer (the bridge in the web process) copies each message once per
  recipient before any of them runs: the ``Receipt`` travelling in the message counts
  those copies, each consumer hands it back after its ``send`` (or after dropping the frame
  as old), and the round is over when every copy came back. This is exact, costs a
  counter per socket, and needs no extra message;
- channels_redis with ``runbridge`` (``statsbridge.redis_layer``) serialises messages, so
  no object can come back: the batch carries a round tag instead, and each web process
  sends one acknowledgement per round for all its sockets (``statsbridge.acks``);
- any other layer: no object can come back and the bridge cannot see the recipients'
  queues: such a round ends
  ``BLIND_ROUND_SECONDS`` after ``group_send`` returned (the frame is then in every
  recipient's queue). A web process too slow to read them gets at most 10 batches per
  dashboard a second, 2.5 times what the old fixed 0.25 s tick sent; at the 15 ms floor a
  runbridge web process was sent more than it could read (latency of seconds, 2,000
  updates/s, 200 sockets).

An acknowledgement message per socket and round (an explicit credit scheme) would work
across processes, but it doubles the channel-layer traffic that costs the most per frame
(hence one per web process and round, ``statsbridge.acks``);
the receipt is free where the bridge and its sockets share a process, which is where
the loop competes with the sockets for the CPU.

A round can stall: a socket that closes with a frame still queued never hands it back.
After ``ROUND_TIMEOUT_SECONDS`` such a round counts as over, so the dashboard's other
sockets are held back at most that long (the old fixed tick's worst case).
"""

import math

# The longest a round is waited for (see the module docstring).
ROUND_TIMEOUT_SECONDS = 0.25
# How long a round whose delivery cannot be seen (channels_redis) counts as in flight.
BLIND_ROUND_SECONDS = 0.1


class Receipt:
    """Counts the copies of one published frame and their hand-backs; calls ``done`` once all came back.

    ``deepcopy`` (which the in-memory layer applies per recipient) counts a copy and
    returns the receipt itself, so every copy hands back to the same counter.
    """

    __slots__ = ("copies", "done", "finished", "handed", "sealed")

    def __init__(self, done):
        self.copies = 0
        self.handed = 0
        self.sealed = False  # set once group_send returned: no more copies will be made
        self.done = done
        self.finished = False

    def __deepcopy__(self, memo):
        self.copies += 1
        return self

    def hand_back(self) -> None:
        """One recipient handed its copy to its socket (or dropped it as old)."""
        self.handed += 1
        self._check()

    def seal(self) -> None:
        """``group_send`` returned: every copy is made (a round to nobody ends at once)."""
        self.sealed = True
        self._check()

    def _check(self) -> None:
        if self.sealed and not self.finished and self.handed >= self.copies:
            self.finished = True
            self.done()


class FrameClock:
    """Per dashboard: when its last batch left and whether that round is still in flight."""

    def __init__(self, floor: float, round_timeout: float = ROUND_TIMEOUT_SECONDS):
        self.floor = floor
        self.round_timeout = round_timeout
        self.last_sent: dict[int, float] = {}  # dashboard id → when its last batch left
        self.in_flight: dict[int, object] = {}  # dashboard id → the token of its unfinished round

    def sent(self, dashboard_id: int, now: float, token: object) -> None:
        """A batch left for ``dashboard_id``; its round is in flight until ``delivered(token)``."""
        self.last_sent[dashboard_id] = now
        self.in_flight[dashboard_id] = token

    def delivered(self, dashboard_id: int, token: object) -> None:
        """The round of ``token`` is over (a late hand-back of an earlier round changes nothing)."""
        if self.in_flight.get(dashboard_id) is token:
            del self.in_flight[dashboard_id]

    def forget(self, dashboard_id: int) -> None:
        """Make ``dashboard_id`` due at once (what it was sent is being sent again)."""
        self.last_sent.pop(dashboard_id, None)
        self.in_flight.pop(dashboard_id, None)

    def ready_at(self, dashboard_id: int) -> float:
        """When ``dashboard_id`` may be sent its next batch (monotonic seconds; -inf: never sent)."""
        last = self.last_sent.get(dashboard_id)
        if last is None:
            return -math.inf
        if dashboard_id in self.in_flight:
            return last + max(self.floor, self.round_timeout)
        return last + self.floor

    def due(self, waiting, now: float) -> list[int]:
        """The dashboards of ``waiting`` that may be sent a batch now."""
        return [d for d in waiting if self.ready_at(d) <= now]

    def next_due_in(self, waiting, now: float) -> float | None:
        """Seconds until the first of ``waiting`` may be sent a batch (0: now; None: none waits)."""
        if not waiting:
            return None
        return max(0.0, min(self.ready_at(d) for d in waiting) - now)
