"""Acknowledged rounds across processes (channels_redis with ``runbridge``): pure counting, no I/O.

On the in-memory layer a ``clocking.Receipt`` travels in the message and comes back. Across
processes nothing can come back, so a batch carries a small round tag instead,
``[reply channel, round id]``: the bridge's own channel (``layer.new_channel()``) and a
number it gives each round. In every web process the consumers hand the tag back after
their ``send`` as before; an ``AckTally`` gathers those hand-backs for a moment (until the
event loop went once round without a new one, at most ``ACK_COALESCE_SECONDS``) and the
process sends ONE ``round.ack`` per (reply channel, round) with the number of its sockets
that handed back — one message per web process and round, not one per socket, so the
channel-layer traffic grows by the number of web processes, not of sockets.

The bridge's ``RoundLedger`` knows how many sockets each round went to (``group_send`` of
``statsbridge.redis_layer`` returns it) and ends the round once that many were
acknowledged. Acks may arrive before ``group_send`` returned (the count is kept until the
round is sealed) or after the round ended or timed out (ignored: the id is gone, and
``FrameClock.delivered`` checks the round's identity anyway). A round whose acks never all
come (a frame reached a socket's channel after it closed, a web process died) is dropped
after the clock's round timeout (``BRIDGE_ACKED_ROUND_TIMEOUT_SECONDS``), which
``FrameClock`` already applies; acks name their web process, so one that stopped acking
is soon no longer waited for (``RoundLedger``).
"""

ACK_MESSAGE = "round.ack"
# Timed-out rounds in a row a web process did not fully acknowledge before it is not waited for.
ABSENT_AFTER_MISSED_ROUNDS = 3
# The longest a web process holds hand-backs before acknowledging them (see AckTally).
ACK_COALESCE_SECONDS = 0.002


def ack_message(round_id: int, count: int, origin: str) -> dict:
    """The channel-layer message acknowledging ``count`` hand-backs of round ``round_id`` by
    the sockets of web process ``origin`` (its channels_redis key)."""
    return {"type": ACK_MESSAGE, "round": round_id, "count": count, "from": origin}


class AckTally:
    """Web process side: hand-backs gathered per (reply channel, round) until they are sent."""

    __slots__ = ("added", "counts")

    def __init__(self):
        self.counts: dict[tuple[str, int], int] = {}
        self.added = 0  # hand-backs ever added (tells whether one came since the last look)

    def add(self, tag) -> bool:
        """Count one hand-back of ``tag`` (``[reply channel, round id]``); True when the
        tally was empty before (the caller then schedules a flush)."""
        first = not self.counts
        key = (tag[0], tag[1])
        self.counts[key] = self.counts.get(key, 0) + 1
        self.added += 1
        return first

    def take(self) -> list[tuple[str, int, int]]:
        """Everything gathered, as ``(reply channel, round id, count)``, and start afresh."""
        counts, self.counts = self.counts, {}
        return [(reply, round_id, count) for (reply, round_id), count in counts.items()]


class Round:
    """One acknowledged round of one dashboard (also its token in ``FrameClock``)."""

    __slots__ = ("acked", "dashboard_id", "expected", "id", "opened_at")

    def __init__(self, round_id: int, dashboard_id: int, opened_at: float):
        self.id = round_id
        self.dashboard_id = dashboard_id
        self.opened_at = opened_at
        # web process (its channels_redis key) → sockets the batch was queued for; None until sealed
        self.expected: dict[str, int] | None = None
        self.acked: dict[str, int] = {}  # web process → sockets it acknowledged


class RoundLedger:
    """Bridge side: the rounds in flight, by id; tells which one an ack or a seal ended.

    A web process that died never leaves its channels' groups (channels_redis keeps them a
    day), so each round would wait for it until the timeout: after
    ``ABSENT_AFTER_MISSED_ROUNDS`` timed-out rounds in a row that it did not fully
    acknowledge, it is not waited for any more, until it acknowledges anything again.
    ``by_ack`` and ``by_timeout`` count how rounds ended (tests and benchmarks read them)."""

    def __init__(self):
        self.rounds: dict[int, Round] = {}
        self._next_id = 0
        self.by_ack = 0
        self.by_timeout = 0
        self.missed: dict[str, int] = {}  # web process → timed-out rounds in a row it did not fully ack
        self.absent: set[str] = set()  # web processes not waited for (see the class docstring)

    def open(self, dashboard_id: int, now: float) -> Round:
        """A new round for ``dashboard_id``, sent at ``now`` (monotonic seconds)."""
        self._next_id += 1
        round_ = self.rounds[self._next_id] = Round(self._next_id, dashboard_id, now)
        return round_

    def seal(self, round_: Round, expected: dict) -> bool:
        """``group_send`` of ``round_`` reached ``expected`` sockets per web process; True
        when that ends it (nobody to wait for, or every ack came already)."""
        round_.expected = dict(expected)
        return self._end_if_complete(round_)

    def ack(self, round_id, count, origin) -> Round | None:
        """``count`` sockets of web process ``origin`` handed ``round_id`` back; the round this
        ended, if it did (an unknown id — ended, timed out, another bridge's — is ignored,
        but still shows that ``origin`` is alive)."""
        if not isinstance(count, int) or not isinstance(origin, str):
            return None
        self.missed.pop(origin, None)
        self.absent.discard(origin)
        round_ = self.rounds.get(round_id)
        if round_ is None:
            return None
        round_.acked[origin] = round_.acked.get(origin, 0) + count
        return round_ if self._end_if_complete(round_) else None

    def prune(self, now: float, timeout: float) -> int:
        """Forget rounds opened ``timeout`` seconds or more before ``now`` (the clock has
        given up on them already), noting which web processes did not ack them; return how many."""
        stale = [r for r in self.rounds.values() if now - r.opened_at >= timeout]
        for round_ in stale:
            del self.rounds[round_.id]
            for origin, sockets in (round_.expected or {}).items():
                if round_.acked.get(origin, 0) < sockets:
                    self.missed[origin] = missed = self.missed.get(origin, 0) + 1
                    if missed >= ABSENT_AFTER_MISSED_ROUNDS:
                        self.absent.add(origin)
        self.by_timeout += len(stale)
        return len(stale)

    def _end_if_complete(self, round_: Round) -> bool:
        expected = round_.expected
        if expected is None:
            return False
        acked, absent = round_.acked, self.absent
        if any(acked.get(o, 0) < n for o, n in expected.items() if o not in absent):
            return False
        if self.rounds.pop(round_.id, None) is not None:
            self.by_ack += 1
            return True
        return False
