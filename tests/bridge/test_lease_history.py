"""The Redis lease (real Redis) and the history store."""

import datetime as dt
import time
import uuid

import pytest
from django.utils import timezone

from statsbridge import frames, history
from statsbridge.lease import RedisLease
from statsbridge.models import StatisticSample
from tests.live import eventually
from tests.reliability.stack import PrivateRedis

REDIS_URL = "redis://127.0.0.1:6379/9"
LEASE_SECONDS = 2.0


@pytest.fixture
async def leases():
    key = f"ccdash-test-{uuid.uuid4().hex}:lease"
    # 2 s: the steps of a test must all fall within one lease period (0.6 s raced a loaded
    # machine stalling between alpha's acquire and beta's probe).
    made = [RedisLease(REDIS_URL, key, name, seconds=LEASE_SECONDS) for name in ("alpha", "beta")]
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
    took = await eventually(beta.acquire, 2 * LEASE_SECONDS + 5, "beta takes over after expiry", interval=0.05)
    assert took and await beta.holder() == "beta"
    assert not await alpha.renew()
    await alpha.release()  # Not alpha's any more: must not free beta's lease.
    assert await beta.holder() == "beta"
    await beta.release()
    assert await alpha.acquire()


@pytest.mark.scaleout
async def test_the_holder_keeps_a_lease_whose_key_vanished_unless_someone_took_it(leases):
    alpha, beta = leases
    assert await alpha.acquire()
    # Redis restarted empty: the holder's next renewal takes the key back, so the
    # running bridge is not handed over (the standby then finds it held).
    await alpha._redis.delete(alpha.key)
    assert await alpha.renew() and await alpha.holder() == "alpha"
    assert not await beta.acquire()
    # But if a bridge that never saw the key (it just started) claimed it first, the
    # holder must stand down.
    gamma = RedisLease(REDIS_URL, alpha.key, "gamma", seconds=LEASE_SECONDS)
    await alpha._redis.delete(alpha.key)
    assert await gamma.acquire()
    assert not await alpha.renew() and await beta.holder() == "gamma"
    await gamma.release()
    await gamma.close()


@pytest.mark.scaleout
async def test_a_released_lease_is_taken_over_at_once(leases):
    alpha, beta = leases
    assert await alpha.acquire() and not await beta.acquire()
    await alpha.release()
    assert await alpha.holder() is None
    # Not left alone as a key that vanished early: a clean stop hands over without waiting.
    assert await beta.acquire() and await beta.holder() == "beta"
    assert not await alpha.renew()


@pytest.fixture
async def private_leases(tmp_path):
    """Two leases of 2 s on a redis-server of our own (killable), and that server."""
    server = PrivateRedis(tmp_path)
    server.start()
    made = [RedisLease(server.url, "ccdash-test:lease", name, seconds=2.0) for name in ("alpha", "beta")]
    yield (*made, server)
    for lease in made:
        await lease.close()
    server.kill()


def restart(server) -> None:
    """SIGKILL the redis-server and start it again, empty."""
    server.kill()
    server.start()


@pytest.mark.scaleout
async def test_a_redis_restart_does_not_hand_the_lease_over(private_leases):
    """Found by the fault matrix (finding 9): every Redis restart made the holder stand down
    (its renewal met the connection the restart closed) or a standby take the wiped key,
    and a new bridge re-created every subscription upstream."""
    alpha, beta, server = private_leases
    assert await alpha.acquire() and not await beta.acquire()
    for _ in range(3):
        restart(server)
        # The standby polls first: the key is gone long before it could have expired.
        assert not await beta.acquire(), "a standby must leave a key that vanished early to its holder"
        assert await alpha.renew(), "the holder's renewal re-takes its key on a fresh connection"
        assert await alpha.holder() == "alpha" and not await beta.acquire()


@pytest.mark.scaleout
async def test_a_standby_that_meets_redis_down_stays_back_and_the_holder_holds_on(private_leases):
    alpha, beta, server = private_leases
    assert await alpha.acquire() and not await beta.acquire()
    server.kill()
    assert await alpha.renew(), "Redis is down, but the holder's key cannot have expired yet"
    assert not await beta.acquire()
    server.start()
    assert not await beta.acquire(), "a standby that saw Redis fail must leave the wiped key to the holder"
    assert await alpha.renew() and await alpha.holder() == "alpha"
    # A second restart while the standby still stands back is noticed too (it keeps polling).
    restart(server)
    assert not await beta.acquire()
    assert await alpha.renew() and await alpha.holder() == "alpha"


@pytest.mark.scaleout
async def test_a_holder_that_died_with_redis_is_taken_over_after_one_lease_period(private_leases):
    alpha, beta, server = private_leases
    assert await alpha.acquire() and not await beta.acquire()
    restart(server)  # and alpha never renews again
    assert not await beta.acquire()
    took = await eventually(beta.acquire, 2 * beta.seconds + 1, "the standby takes over", interval=0.1)
    assert took and await beta.holder() == "beta" and not await alpha.renew()


@pytest.mark.scaleout
async def test_a_holder_cut_off_from_redis_stands_down_once_its_key_could_have_expired(private_leases):
    alpha, _, server = private_leases
    acquired_at = time.monotonic()
    assert await alpha.acquire()
    server.kill()

    async def lost() -> bool:
        return not await alpha.renew()

    await eventually(lost, 5.0, "the holder gives the lease up", interval=0.1)
    # Not before: until then no standby can have taken it, and handing over costs every subscription.
    assert time.monotonic() - acquired_at >= alpha.seconds


def value(number, state="fresh"):
    return frames.value(kind="number", value=number, text=str(number), state=state, timestamp=None, received=1)


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


def test_sample_throttle_hands_out_everything_waiting_once_per_interval():
    throttle = history.SampleThrottle(1000)
    assert throttle.due_in(0) is None
    assert throttle.take({"a": value(1), "b": value(1)}, 0) == {"a": value(1), "b": value(1)}
    assert throttle.take({"b": value(2)}, 300) == {}
    assert throttle.take({"c": value(1), "b": value(3)}, 600) == {"c": value(1)}, "a first value goes at once"
    assert throttle.take({"c": value(2)}, 700) == {}
    assert throttle.due_in(700) == 300
    # One hand-out (one insert) per interval, each statistic at most once in it, its last value.
    assert throttle.take({"a": value(2)}, 1000) == {"a": value(2), "b": value(3), "c": value(2)}
    assert throttle.due_in(1000) is None
    assert throttle.take({"a": value(4)}, 1200) == {}
    assert throttle.take({}, 1200, force=True) == {"a": value(4)}
    assert throttle.take({}, 2500) == {}
    throttle.retain(["a"])
    assert throttle.take({"b": value(9)}, 2600) == {"b": value(9)}, "a statistic wanted again starts afresh"


@pytest.mark.django_db
def test_record_stores_each_value_with_its_number_and_wire_value():
    agent = frames.value(kind="agent_state", value=None, text="Ready", state="fresh", timestamp=5, received=6,
                         agent={"state": "Ready", "reason": None, "since": None})
    ms = int(timezone.now().timestamp() * 1000)
    assert history.record({}, ms) == 0
    assert history.record({"a": value(2.5), "c": agent}, ms) == 2
    rows = {s.key: s for s in StatisticSample.objects.all()}
    assert rows["a"].value == 2.5 and rows["a"].data == value(2.5)
    assert rows["c"].value is None and rows["c"].data == agent
    assert int(rows["a"].at.timestamp() * 1000) == ms


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
