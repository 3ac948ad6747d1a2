"""Upstream subscription rules, without I/O: what to create, what is held, what is lost, what to retry.

The bridge's worker asks a ``SubscriptionBook`` for the next actions (``Delete``,
``Create``, ``Peek``), performs them, and reports each outcome back. The rules follow
the Genesys Statistics API reference:

- statistics are subscribed in batches of at most ``batch_size``; **each batch succeeds
  or fails alone** and a failed batch is retried alone, with capped jittered backoff,
  while the batches that succeeded stay held;
- the reply to ``POST /subscriptions`` may be lost (timeout, reset, 5xx from a gateway):
  the service may then hold a subscription we do not know. Its id (our ``operationId``)
  is deleted before the batch is retried under a new id, so **nothing is ever duplicated
  upstream** (``DELETE`` is fire-and-forget and always succeeds, says the reference);
- a whole batch refused for its content (HTTP 400/404/422) is not retried: its statistics
  are reported as refused with the upstream's message; a partial success (status code 2)
  keeps what succeeded and reports each refused statistic with its message;
- a subscription counts as **lost** after ServiceStateChange UNAVAILABLE (``drop_all``),
  after a new CometD session (``start_over``), or when calls about it keep failing with
  anything that is not transient, whatever status the tenant uses for that (404, 500,
  200 with an error ``status.code``...): after ``lost_after`` such failures in a row it is
  deleted (harmless if gone) and its statistics are created again.

Time is passed in (``now``, monotonic seconds) and ids come from ``new_id``, so the rules
are deterministic under test.
"""

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from statsbridge.upstream.backoff import Backoff

TRANSIENT = "transient"  # may pass by itself (network, 502/503/504): retry, conclude nothing
REFUSED = "refused"  # the request's content was refused (400/404/422 for a create): do not retry
FAILED = "failed"  # anything else that is not a success: retry with backoff; repeated, the subscription is lost

REFUSED_CREATE_STATUSES = frozenset({400, 404, 422})


def classify_create(http_status: int | None, transient: bool) -> str:
    """How to treat a failed ``POST /subscriptions``: TRANSIENT, REFUSED or FAILED.

    ``http_status`` is the HTTP status of an error envelope (None without an answer);
    ``transient`` is True for network failures and 502/503/504.
    """
    if transient:
        return TRANSIENT
    if http_status in REFUSED_CREATE_STATUSES:
        return REFUSED
    return FAILED


def classify_call(transient: bool) -> str:
    """How to treat a failed peek: TRANSIENT, or FAILED for any answer that is not a success
    (the reference lists 200/500/503/504 for a peek, tenants also answer 404 or 400)."""
    return TRANSIENT if transient else FAILED


@dataclass(frozen=True)
class Delete:
    """Delete these subscriptions (fire and forget)."""

    subscription_ids: tuple[str, ...]


@dataclass(frozen=True)
class Create:
    """Create one subscription of ``keys`` with ``operation_id`` (= its subscription id)."""

    batch: int
    operation_id: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Peek:
    """Read the current values of ``keys`` in ``subscription_id``."""

    subscription_id: str
    keys: tuple[str, ...]


@dataclass
class _Batch:
    keys: tuple[str, ...]
    replaces: str | None = None  # a held subscription this batch takes over (deleted once created)
    failures: int = 0
    due: float = 0.0
    in_flight: str | None = None  # the operation id of the create under way
    last_error: str | None = None


@dataclass
class _PeekState:
    due: float | None = None  # None: no peek wanted
    in_flight: bool = False
    failures: int = 0  # non-transient failures in a row
    attempts: int = 0  # failures of any kind in a row (for the backoff)
    keys: set = field(default_factory=set)  # keys wanted by the next peek (empty: all)


@dataclass(frozen=True)
class Created:
    """What a successful create changed: keys now held, keys refused, keys still without a value."""

    subscription_id: str | None
    held: tuple[str, ...]
    refused: dict
    need_values: tuple[str, ...]


class SubscriptionBook:
    """The bridge's upstream subscriptions and the work that keeps them right."""

    def __init__(self, batch_size: int, new_id: Callable[[], str], *, lost_after: int = 2,
                 backoff: Backoff = Backoff(base=0.5, cap=30.0), rand: Callable[[], float] = random.random):
        if batch_size < 1 or lost_after < 1:
            raise ValueError("batch_size and lost_after must be >= 1")
        self.batch_size = batch_size
        self.lost_after = lost_after
        self._new_id = new_id
        self._backoff = backoff
        self._rand = rand
        self.held: dict[str, frozenset] = {}  # subscription id -> statistic keys
        self.refused: dict[str, str] = {}  # statistic key -> the upstream's message
        self._batches: dict[int, _Batch] = {}
        self._next_batch = 0
        self._to_delete: set[str] = set()
        self._peeks: dict[str, _PeekState] = {}
        self.lost_total = 0  # subscriptions found lost by failing calls

    # ---------------------------------------------------------------- what is wanted

    def want(self, wanted: Iterable[str]) -> None:
        """Bring the plan in line with ``wanted`` keys: new keys get batches, unwanted ones go."""
        wanted = set(wanted)
        self.refused = {k: v for k, v in self.refused.items() if k in wanted}
        for number, batch in list(self._batches.items()):
            keep = tuple(k for k in batch.keys if k in wanted)
            if not keep and batch.in_flight is None:
                del self._batches[number]
                if batch.replaces is not None:
                    self._retire(batch.replaces)
            elif keep != batch.keys:
                batch.keys = keep  # an in-flight create of extra keys is trimmed by the next want()
        replaced = {b.replaces for b in self._batches.values() if b.replaces is not None}
        for subscription_id, keys in sorted(self.held.items()):
            keep = keys & wanted
            if not keep:
                self._retire(subscription_id)
            elif keep != keys and subscription_id not in replaced:
                # Created before the old one is deleted, so the kept values never pause.
                self._add_batches(sorted(keep), replaces=subscription_id)
        planned = self.held_keys() | {k for b in self._batches.values() for k in b.keys}
        missing = sorted(wanted - planned - set(self.refused))
        self._add_batches(missing)

    def start_over(self) -> None:
        """Forget every subscription (a new CometD session, an operator request): they are
        deleted and everything wanted is created anew by the next ``want``."""
        self._to_delete |= set(self.held)
        self._to_delete |= {b.in_flight for b in self._batches.values() if b.in_flight}
        self._reset()

    def drop_all(self) -> None:
        """The service dropped every subscription (UNAVAILABLE): nothing is held any more."""
        self._to_delete |= {b.in_flight for b in self._batches.values() if b.in_flight}
        self._reset()

    def inherit(self, subscription_ids: Iterable[str]) -> None:
        """Subscriptions a previous bridge left upstream: delete them before creating ours."""
        self._to_delete |= {i for i in subscription_ids if i not in self.held}

    def _reset(self) -> None:
        self.held = {}
        self.refused = {}
        self._batches = {}
        self._peeks = {}

    def _retire(self, subscription_id: str) -> None:
        self.held.pop(subscription_id, None)
        self._peeks.pop(subscription_id, None)
        self._to_delete.add(subscription_id)

    def _add_batches(self, keys: list[str], replaces: str | None = None) -> None:
        for start in range(0, len(keys), self.batch_size):
            self._batches[self._next_batch] = _Batch(tuple(keys[start:start + self.batch_size]), replaces)
            self._next_batch += 1

    # ---------------------------------------------------------------- the work

    def actions(self, now: float) -> list:
        """The work due at ``now``: one ``Delete`` first (so a retried create never meets its
        lost twin), then every due ``Create`` and ``Peek``. Each is handed out once."""
        work: list = []
        if self._to_delete:
            work.append(Delete(tuple(sorted(self._to_delete))))
            self._to_delete = set()
        for number, batch in sorted(self._batches.items()):
            if batch.in_flight is None and batch.due <= now and batch.keys:
                batch.in_flight = self._new_id()
                work.append(Create(number, batch.in_flight, batch.keys))
        for subscription_id, peek in sorted(self._peeks.items()):
            if peek.due is not None and peek.due <= now and not peek.in_flight and subscription_id in self.held:
                held = self.held[subscription_id]
                keys = tuple(sorted(peek.keys & held)) if peek.keys else tuple(sorted(held))
                peek.in_flight, peek.due, peek.keys = True, None, set()
                if keys:
                    work.append(Peek(subscription_id, keys))
        return work

    def is_current(self, create: Create) -> bool:
        """Whether ``create`` is still the batch's create under way: a create handed out and not
        yet sent is skipped (never sent) once the plan it belongs to was dropped."""
        batch = self._batches.get(create.batch)
        return batch is not None and batch.in_flight == create.operation_id

    def next_due(self, now: float) -> float | None:
        """Seconds until the next action falls due (0 when one is due), None when nothing waits."""
        times = [b.due for b in self._batches.values() if b.in_flight is None and b.keys]
        times += [p.due for i, p in self._peeks.items() if p.due is not None and not p.in_flight and i in self.held]
        if self._to_delete:
            times.append(now)
        return max(0.0, min(times) - now) if times else None

    def request_peek(self, subscription_id: str | None = None, keys: Iterable[str] = (), now: float = 0.0) -> None:
        """Ask for a peek of one subscription (``keys`` only, or all) or of every held one."""
        targets = [subscription_id] if subscription_id is not None else list(self.held)
        for target in targets:
            if target not in self.held:
                continue
            peek = self._peeks.setdefault(target, _PeekState())
            wanted_keys = set(keys)
            # An earlier request for all keys stays a request for all keys.
            peek.keys = set() if (peek.due is not None and not peek.keys) or not wanted_keys else peek.keys | wanted_keys
            peek.due = now if peek.due is None else min(peek.due, now)

    @property
    def busy(self) -> bool:
        """True while creates are pending (a resubscription is not finished)."""
        return bool(self._batches)

    def held_keys(self) -> set:
        """Every statistic key held upstream."""
        return set().union(*self.held.values()) if self.held else set()

    def retrying(self) -> dict:
        """Statistic key -> why its batch is being retried (for the status)."""
        return {k: b.last_error for b in self._batches.values() if b.last_error for k in b.keys}

    def all_ids(self) -> list[str]:
        """Every subscription id that may exist upstream (held, being created, to delete):
        what a successor must delete before creating its own."""
        ids = set(self.held) | self._to_delete | {b.in_flight for b in self._batches.values() if b.in_flight}
        return sorted(ids)

    # ---------------------------------------------------------------- outcomes

    def created(self, create: Create, returned: list, errors_by_key: dict, partial: bool,
                general_error: str = "refused by the Statistics service") -> Created:
        """``POST /subscriptions`` succeeded (code 0 or 2): hold what was accepted.

        ``returned`` are the reply's statistic items; ``errors_by_key`` the upstream's message
        for refused keys (``general_error`` for refused keys it does not name).
        """
        batch = self._batches.get(create.batch)
        if batch is None or batch.in_flight != create.operation_id:
            # Created for a plan that was dropped meanwhile (new session, UNAVAILABLE).
            self._to_delete.add(create.operation_id)
            return Created(None, (), {}, ())
        del self._batches[create.batch]
        keys = set(batch.keys)
        items = [s for s in returned if isinstance(s, dict)]
        got = {s.get("statisticId") for s in items} & keys
        if not items and not partial:
            got = set(keys)  # a terse reply (verbose=OFF servers): everything was accepted
        refused = {k: errors_by_key.get(k, general_error) for k in sorted(keys - got)}
        self.refused.update(refused)
        if batch.replaces is not None:
            self._retire(batch.replaces)
        if got:
            self.held[create.operation_id] = frozenset(got)
        else:
            self._to_delete.add(create.operation_id)
        with_values = {s.get("statisticId") for s in items if "value" in s}
        need = tuple(sorted(got - with_values))
        if need:
            self.request_peek(create.operation_id, need, now=0.0)
        return Created(create.operation_id if got else None, tuple(sorted(got)), refused, need)

    def create_failed(self, create: Create, kind: str, message: str, now: float) -> None:
        """``POST /subscriptions`` failed. REFUSED: its keys are refused with ``message``.
        Otherwise the subscription may exist all the same: it is deleted, and the batch is
        retried alone, after a backoff, under a new id."""
        batch = self._batches.get(create.batch)
        if kind != REFUSED:
            self._to_delete.add(create.operation_id)
        if batch is None or batch.in_flight != create.operation_id:
            return
        batch.in_flight = None
        if kind == REFUSED:
            del self._batches[create.batch]
            for key in batch.keys:
                self.refused[key] = message
            if batch.replaces is not None:
                self._retire(batch.replaces)
            return
        batch.failures += 1
        batch.last_error = message
        batch.due = now + self._backoff.delay(batch.failures, self._rand)

    def peeked(self, peek: Peek, returned_ids: Iterable[str], partial: bool, now: float = 0.0) -> tuple[str, ...]:
        """A peek answered (code 0 or 2). Keys a partial reply left out are no longer in the
        subscription: they are taken out and created again. Returns those keys."""
        state = self._peeks.get(peek.subscription_id)
        if state is not None:
            state.in_flight, state.failures, state.attempts = False, 0, 0
        if not partial or peek.subscription_id not in self.held:
            return ()
        missing = set(peek.keys) - set(returned_ids)
        if not missing:
            return ()
        remaining = self.held[peek.subscription_id] - missing
        if remaining:
            self.held[peek.subscription_id] = frozenset(remaining)
        else:
            self._retire(peek.subscription_id)
        self._add_batches(sorted(missing))
        return tuple(sorted(missing))

    def peek_failed(self, peek: Peek, kind: str, now: float) -> bool:
        """A peek failed. Returns True when the subscription now counts as lost (its keys
        are being created again); otherwise the peek is retried after a backoff."""
        state = self._peeks.get(peek.subscription_id)
        if state is None or peek.subscription_id not in self.held:
            return False
        state.in_flight = False
        state.attempts += 1
        if kind != TRANSIENT:
            state.failures += 1
            if state.failures >= self.lost_after:
                return self._lose(peek.subscription_id)
        state.keys |= set(peek.keys)
        state.due = now + self._backoff.delay(state.attempts, self._rand)
        return False

    def _lose(self, subscription_id: str) -> bool:
        keys = sorted(self.held[subscription_id])
        self._retire(subscription_id)
        self.lost_total += 1
        self._add_batches(keys)
        return True


def refusal_messages(keys: Iterable[str], errors) -> tuple[dict, str]:
    """Map each refused key to the upstream message naming it (``errors`` are ItemErrors of a
    code-2 reply); returns (messages by key, the message for keys no error names)."""
    by_key = {}
    for key in keys:
        for error in errors:
            detail = error.detail if isinstance(error.detail, dict) else {}
            named = detail.get("statisticId")
            # An error naming its statistic names only that one; others may mention it anywhere.
            if named == key or (named is None and (key in str(error.detail) or key in error.message)):
                by_key[key] = error.message
                break
    general = errors[0].message if len(errors) == 1 else "refused by the Statistics service"
    return by_key, general
