"""The rolling history of statistic values: bulk recording, pruning, and queries.

The bridge records what it published each tick in one ``bulk_create``; pages ask
"what did these statistics show at time T" (a wall at 10:42) and "the series of the
last N minutes" (trend charts). All functions are synchronous ORM code.
"""

import datetime as dt

from django.db.models import Max
from django.utils import timezone

from statsbridge.models import StatisticSample


def _at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class SampleThrottle:
    """At most one sample per statistic per interval, without ever losing the last value.

    A value arriving within the interval of the previous sample waits (replacing any
    older waiting one) and is written once the interval has passed, so the history is
    right to within one interval while its size stays bounded whatever the update rate.
    """

    def __init__(self, interval_ms: int):
        self.interval_ms = interval_ms
        self._written: dict[str, int] = {}
        self._waiting: dict[str, dict] = {}

    def take(self, changed: dict, now_ms: int) -> dict:
        """Add this tick's values; return those to write now."""
        self._waiting.update(changed)
        due = {}
        for key, item in list(self._waiting.items()):
            if now_ms - self._written.get(key, -self.interval_ms) >= self.interval_ms:
                due[key] = item
                self._written[key] = now_ms
                del self._waiting[key]
        return due

    def retain(self, keys) -> None:
        """Forget statistics that are no longer wanted."""
        keep = set(keys)
        self._written = {k: v for k, v in self._written.items() if k in keep}
        self._waiting = {k: v for k, v in self._waiting.items() if k in keep}


def record(values: dict, published_ms: int) -> int:
    """Record Values (by statistic key) published at ``published_ms``; return rows written."""
    at = _at(published_ms)
    rows = [StatisticSample(key=key, at=at, value=item.get("value"), data=item) for key, item in values.items()]
    StatisticSample.objects.bulk_create(rows, batch_size=500)
    return len(rows)


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
