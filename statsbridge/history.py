"""The rolling history of statistic values: bulk recording, pruning, and queries.

The bridge records what it published, at most once per statistic per interval, in
one bulk insert per interval (``HistoryWriter``, ``SampleThrottle``, ``record``); pages
ask "what did these statistics show at time T" (a wall at 10:42) and "the series of the
last N minutes" (trend charts). Every function is synchronous ORM code; only the
``HistoryWriter`` runs in the event loop, handing the inserts to a runner thread.
"""

import asyncio
import contextlib
import datetime as dt
import logging

from django.db import connections, router, transaction
from django.db.models import Max
from django.utils import timezone

from statsbridge.models import StatisticSample

log = logging.getLogger(__name__)


def _at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class SampleThrottle:
    """At most one sample per statistic per interval, written in one bulk insert, never losing the last value.

    Values gather (a newer one replacing an older one of the same statistic) and are
    all handed out together once an interval has passed since the last hand-out: one
    insert per interval whatever the update rate, each statistic at most once in it,
    and the history right to within one interval. A statistic's first value is handed
    out at once, so a new statistic has a history from its first publish.
    """

    def __init__(self, interval_ms: int):
        self.interval_ms = interval_ms
        self._waiting: dict[str, dict] = {}
        self._recorded: set[str] = set()
        self._last: int | None = None

    def take(self, changed: dict, now_ms: int, *, force: bool = False) -> dict:
        """Add this tick's values; return those to write now (all waiting ones, once per interval).

        ``force`` hands them out at once (a last write before stopping).
        """
        self._waiting.update(changed)
        if not self._waiting:
            return {}
        if force or not self.due_in(now_ms):
            due, self._waiting, self._last = self._waiting, {}, now_ms
        else:
            due = {k: self._waiting.pop(k) for k in changed if k not in self._recorded}
        self._recorded.update(due)
        return due

    def due_in(self, now_ms: int) -> int | None:
        """Milliseconds until the waiting values are due (0: now; None: nothing waits)."""
        if not self._waiting:
            return None
        return 0 if self._last is None else max(0, self._last + self.interval_ms - now_ms)

    def retain(self, keys) -> None:
        """Forget statistics that are no longer wanted."""
        keep = set(keys)
        self._waiting = {k: v for k, v in self._waiting.items() if k in keep}
        self._recorded &= keep


def record(values: dict, published_ms: int) -> int:
    """Record Values (by statistic key) published at ``published_ms``; return rows written.

    One ``executemany`` in one transaction: no model instances, signals or per-row SQL
    compilation (``bulk_create`` of a second's samples cost more than the rest of the
    bridge at 2,000 updates/s).
    """
    if not values:
        return 0
    using = router.db_for_write(StatisticSample)
    connection = connections[using]
    meta = StatisticSample._meta
    data_field = meta.get_field("data")
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in ("key", "at", "value", "data"))
    sql = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s)"
    at = connection.ops.adapt_datetimefield_value(_at(published_ms))
    # What JSONField.get_db_prep_save ends in, called directly: the field's checks on the
    # way there cost as much as encoding the Value (every row of a second's samples).
    adapt, encoder = connection.ops.adapt_json_value, data_field.encoder
    rows = [(key, at, _number(item.get("value")), adapt(item, encoder)) for key, item in values.items()]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)


def record_batches(batches: list[tuple[dict, int]]) -> int:
    """Record several publishes' samples ``[(values, published ms)]`` in one go."""
    return sum(record(due, published) for due, published in batches)


class HistoryWriter:
    """Records what the fan-out published, throttled (``SampleThrottle``), off the publishing path.

    ``add`` never waits: samples are inserted by a task of their own through
    ``run_history`` (a runner that neither heartbeats nor publishes queue behind), and
    throttled ones are written once due even when nothing else is published after them.
    Call it from the event loop only.
    """

    def __init__(self, run_history, interval_ms: int, clock):
        self._run_history = run_history
        self._clock = clock
        self._throttle = SampleThrottle(interval_ms)
        self._batches: list[tuple[dict, int]] = []
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def add(self, changed: dict, published: int) -> None:
        """Hand over the values (by statistic key) published at ``published`` ms."""
        self._queue(self._throttle.take(changed, published), published)

    def retain(self, keys) -> None:
        """Forget statistics that are no longer wanted."""
        self._throttle.retain(keys)

    def _queue(self, due: dict, at: int) -> None:
        """Queue ``due`` samples and make sure the writer runs (it also waits for the throttled ones)."""
        if due:
            self._batches.append((due, at))
        if self._task is not None and not self._task.done():
            if due:
                self._wake.set()  # A writer waiting for the throttled ones writes these first.
        elif due or self._throttle.due_in(at) is not None:
            self._task = asyncio.create_task(self._write(), name="fanout history")

    async def _write(self) -> None:
        """Insert queued samples; wake for the waiting ones when they are due.

        So the last value of a burst is recorded within one interval even when nothing
        else is published after it.
        """
        while True:
            while self._batches:
                batches, self._batches = self._batches, []
                try:
                    await self._run_history(record_batches, batches)
                except Exception:  # History must never stop the live path.
                    log.exception("could not record %d history samples", sum(len(due) for due, _ in batches))
            wait = self._throttle.due_in(self._clock())
            if wait is None:
                return
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait / 1000)
            self._wake.clear()
            now = self._clock()
            due = self._throttle.take({}, now)
            if due:
                self._batches.append((due, now))

    async def drain(self) -> None:
        """Write every sample handed over so far, the throttled ones too, and wait until they are written."""
        now = self._clock()
        self._queue(self._throttle.take({}, now, force=True), now)
        self._wake.set()
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


def _number(value) -> float | None:
    """The ``value`` column: a number for charts, None otherwise (as the FloatField would store it)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def prune(retention_hours: float, now: dt.datetime | None = None) -> int:
    """Delete samples older than the retention; return how many went."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=retention_hours)
    deleted, _ = StatisticSample.objects.filter(at__lt=cutoff).delete()
    return deleted


def values_at(keys, when: dt.datetime) -> dict:
    """The Value each statistic showed at ``when`` (its latest sample not after it).

    Statistics with no sample by then are left out.
    """
    keys = list(keys)
    latest = (
        StatisticSample.objects.filter(key__in=keys, at__lte=when)
        .values("key")
        .annotate(last=Max("at"))
        .values_list("key", "last")
    )
    result = {}
    for key, last in latest:
        sample = StatisticSample.objects.filter(key=key, at=last).order_by("-pk").first()
        if sample is not None:
            result[key] = sample.data
    return result


def series(keys, minutes: float, now: dt.datetime | None = None) -> dict:
    """Per statistic, ``[{"t": ms, "value": number or None, "state": ...}]`` of the last ``minutes``.

    Oldest first. The sample just before the window is included as the window's
    first point, so a chart starts at the value that was showing then.
    """
    now = now or timezone.now()
    start = now - dt.timedelta(minutes=minutes)
    keys = list(keys)
    points: dict[str, list] = {key: [] for key in keys}
    before = values_at(keys, start)
    for key, item in before.items():
        points[key].append({"t": _ms(start), "value": item.get("value"), "state": item.get("state")})
    rows = (
        StatisticSample.objects.filter(key__in=keys, at__gt=start, at__lte=now)
        .order_by("at", "pk")
        .values_list("key", "at", "value", "data")
    )
    for key, at, number, data in rows:
        points[key].append({"t": _ms(at), "value": number, "state": data.get("state")})
    return points
