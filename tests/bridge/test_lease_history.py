"""The Redis lease (real Redis) and the history store."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from statsbridge import events, history
from statsbridge.lease import RedisLease
from statsbridge.models import StatisticSample
from tests.live import eventually

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
async def leases():
    key = f"ccdash-test-{uuid.uuid4().hex}:lease"
    made = [RedisLease(REDIS_URL, key, name, seconds=0.6) for name in ("alpha", "beta")]
    yield made
    for lease in made:
        await lease.release()
        await lease.close()


@pytest.mark.scaleout
async def test_one_holder_at_a_time_and_takeover_after_expiry(leases):
    alpha, beta = leases
    assert await alpha.acquire()
    assert not await beta.acquire()
    assert await alpha.renew() and await alpha.acquire()
    assert await alpha.holder() == "alpha"
    # Alpha stops renewing (it died): beta gets it once it expires, and alpha cannot renew it back.
    took = await eventually(beta.acquire, 2.0, "beta takes over after expiry", interval=0.05)
    assert took and await beta.holder() == "beta"
    assert not await alpha.renew()
    await alpha.release()  # Not alpha's any more: must not free beta's lease.
    assert await beta.holder() == "beta"
    await beta.release()
    assert await alpha.acquire()


def value(number, state="fresh"):
    return events.value(kind="number", value=number, text=str(number), state=state, timestamp=None, received=1)


def test_sample_throttle_bounds_rows_and_keeps_the_last_value():
    throttle = history.SampleThrottle(1000)
    assert throttle.take({"a": value(1)}, 0) == {"a": value(1)}
    assert throttle.take({"a": value(2)}, 200) == {}
    assert throttle.take({"a": value(3)}, 400) == {}
    # Nothing new arrives, but the waiting last value is written once the interval passed.
    assert throttle.take({}, 1000) == {"a": value(3)}
    assert throttle.take({}, 5000) == {}
    throttle.take({"b": value(1)}, 5000)
    throttle.retain(["a"])
    assert throttle.take({}, 9000) == {}


@pytest.mark.django_db
def test_values_at_series_and_prune():
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=10)
    ms = int(start.timestamp() * 1000)
    for minute, number in enumerate([1, 2, 3, 4, 5]):
        history.record({"a": value(number), "b": value(number * 10)}, ms + minute * 60_000)
    history.record({"a": value(5, "stale")}, ms + 5 * 60_000)
    at = start + dt.timedelta(minutes=2, seconds=30)
    shown = history.values_at(["a", "b", "c"], at)
    assert shown == {"a": value(3), "b": value(30)}
    points = history.series(["a"], minutes=7.5, now=start + dt.timedelta(minutes=9))
    assert [p["value"] for p in points["a"]] == [2, 3, 4, 5, 5]
    assert points["a"][0]["t"] == int((start + dt.timedelta(minutes=1, seconds=30)).timestamp() * 1000)
    assert points["a"][-1]["state"] == "stale"
    assert history.prune(retention_hours=(6 / 60), now=start + dt.timedelta(minutes=9)) == 6
    assert StatisticSample.objects.count() == 5
