"""The value store's bulk write reads back exactly what was written, on every cache backend.

``store.write`` writes the backend directly (keys made once, one critical section for
local memory, one MSET pipeline for Redis): whatever Django's own ``get``/``get_many``
and the store's readers return must be what was written, value for value.
"""

import uuid

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from statsbridge import frames, store

REDIS_URL = "redis://127.0.0.1:6379/9"


def number(n, state="fresh"):
    return frames.value(kind="number", value=n, text=str(n), state=state, timestamp=1_000 + n, received=2_000 + n)


def agent():
    return frames.value(kind="agent_state", value=12.0, text="NotReady (Break)", state="fresh", timestamp=5,
                        received=6, agent={"state": "NotReady", "reason": "Break", "since": 4})


def status():
    return {"connection": frames.connection(upstream="connected", service="AVAILABLE", bridge="up", as_of=7),
            "heartbeat": frames.now_ms(), "bridge": "host:1", "started": 3, "updates": {"total": 9}}


def written():
    values = {f"s{n}": number(n) for n in range(50)}
    values["agent/äü:1"] = agent()
    return values, {1: 41, 2: 7}, status()


def assert_reads_back(values, seqs, status_):
    assert store.read_values([*values, "never-written"]) == values
    assert store.read_seqs([*seqs, 99]) == {**seqs, 99: 0}
    assert store.read_status() == status_
    # Django's own readers see the same, under the key the store names.
    assert cache.get(store.value_key("s3")) == values["s3"]
    assert cache.get_many([store.seq_key(1), store.status_key()]) == {store.seq_key(1): seqs[1],
                                                                       store.status_key(): status_}
    snapshot = store.dashboard_snapshot(1, "floor", ["s1", "agent/äü:1", "missing"])
    assert snapshot["seq"] == seqs[1]
    assert snapshot["values"] == {"s1": values["s1"], "agent/äü:1": values["agent/äü:1"],
                                  "missing": store.missing_value()}


def write_twice_and_check():
    values, seqs, status_ = written()
    store.write(values, seqs, status_)
    assert_reads_back(values, seqs, status_)
    # A second publish replaces what changed and keeps the rest.
    newer = {"s1": number(100, "stale"), "s2": number(200)}
    store.write(newer, {1: 42}, None)
    assert_reads_back({**values, **newer}, {**seqs, 1: 42}, status_)
    store.write(None, None, None)  # nothing to write: nothing changes
    assert_reads_back({**values, **newer}, {**seqs, 1: 42}, status_)


@pytest.fixture
def private_cache(settings):
    """Swap the default cache for the test (``settings`` restores it and Django drops the old backend)."""

    def use(backend: str, **extra):
        settings.CACHES = {"default": {"BACKEND": backend, **extra}}
        return caches["default"]

    yield use
    cache.clear()


def test_local_memory_write_reads_back_exactly(private_cache):
    backend = private_cache("django.core.cache.backends.locmem.LocMemCache", LOCATION=uuid.uuid4().hex)
    assert type(backend) is LocMemCache  # the direct path is the one under test
    write_twice_and_check()


def test_local_memory_write_keeps_the_entry_limit(private_cache):
    backend = private_cache("django.core.cache.backends.locmem.LocMemCache", LOCATION=uuid.uuid4().hex,
                            OPTIONS={"MAX_ENTRIES": 10, "CULL_FREQUENCY": 2})
    store.write({f"s{n}": number(n) for n in range(25)})
    assert len(backend._cache) <= 10  # culled as LocMemCache.set would, never past the limit
    assert store.read_values(["s24"]) == {"s24": number(24)}  # the newest is kept


def test_a_new_key_prefix_gets_new_keys(private_cache):
    private_cache("django.core.cache.backends.locmem.LocMemCache", LOCATION=uuid.uuid4().hex, KEY_PREFIX="one")
    store.write({"s1": number(1)})
    backend = private_cache("django.core.cache.backends.locmem.LocMemCache", LOCATION=uuid.uuid4().hex,
                            KEY_PREFIX="two")
    store.write({"s1": number(2)})
    assert list(backend._cache) == [backend.make_key(store.value_key("s1"))]
    assert store.read_values(["s1"]) == {"s1": number(2)}


class CustomBackend(LocMemCache):
    """Any backend the store has no direct path for: written through its ``set_many``."""

    calls = 0

    def set_many(self, data, timeout=None, version=None):
        CustomBackend.calls += 1
        return super().set_many(data, timeout, version)


def test_another_backend_is_written_through_set_many(private_cache):
    private_cache(f"{__name__}.CustomBackend", LOCATION=uuid.uuid4().hex)
    CustomBackend.calls = 0
    write_twice_and_check()
    assert CustomBackend.calls == 2  # one per write that had something to write


@pytest.mark.scaleout
def test_redis_write_reads_back_exactly(private_cache):
    private_cache("django.core.cache.backends.redis.RedisCache", LOCATION=REDIS_URL,
                  KEY_PREFIX=f"ccdash-test-{uuid.uuid4().hex}")
    write_twice_and_check()


def test_key_memo_is_bounded():
    keys = store.CacheKeys(limit=3)
    backend = caches["default"]
    made = keys.of(backend, [f"k{n}" for n in range(5)])
    assert made == [backend.make_key(f"k{n}") for n in range(5)]
    assert keys.of(backend, ["k9"]) == [backend.make_key("k9")]
    assert len(keys._made) == 1  # past the limit it started over
