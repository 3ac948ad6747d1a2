"""Latest values, per-dashboard sequence numbers and bridge status, in Django's cache.

The active bridge writes; every web process reads (local memory when embedded, Redis
in scale-out). Keys are prefixed with ``BRIDGE["KEY_PREFIX"]`` on top of the cache's
own prefix. Everything here is synchronous: async callers wrap it in a thread.

``write`` is the bridge's bulk write (values, sequence numbers and status of a publish in
one go): it writes the cache backend directly with keys built and validated once per
statistic (``CacheKeys``), in the backend's own format, so that ``cache.get``/``get_many``
read back exactly what was written; Django's ``set_many`` would build and validate every
key again on every write (half the cost of a write at thousands of updates a second).
"""

import pickle
import secrets

from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from statsbridge import frames
from statsbridge.conf import bridge_settings, dead_after_seconds


def _prefix() -> str:
    return bridge_settings().key_prefix


def value_key(stat_key: str) -> str:
    """Cache key of a statistic's latest Value."""
    return f"{_prefix()}:v:{stat_key}"


def value_keys(stat_keys) -> dict:
    """Cache keys of many statistics' Values, ``{statistic key: cache key}`` (the prefix read once)."""
    head = f"{_prefix()}:v:"
    return {k: head + k for k in stat_keys}


def seq_key(dashboard_id: int) -> str:
    """Cache key of a dashboard's last sequence number."""
    return f"{_prefix()}:seq:{dashboard_id}"


def status_key() -> str:
    """Cache key of the active bridge's status (connection, heartbeat, counts)."""
    return f"{_prefix()}:status"


def config_key() -> str:
    """Cache key of the configuration version, bumped on every admin edit."""
    return f"{_prefix()}:config"


def subscriptions_key() -> str:
    """Cache key of the upstream subscription ids the active bridge holds."""
    return f"{_prefix()}:subscriptions"


def alerts_key(dashboard_id: int) -> str:
    """Cache key of a dashboard's last ``alerts`` frame (sent after each snapshot)."""
    return f"{_prefix()}:alerts:{dashboard_id}"


def write_alerts(dashboard_id: int, frame: dict) -> None:
    """Store a dashboard's ``alerts`` frame (an empty list is stored as none)."""
    if frame["alerts"]:
        cache.set(alerts_key(dashboard_id), frame, timeout=None)
    else:
        cache.delete(alerts_key(dashboard_id))


def read_alerts(dashboard_id: int) -> dict | None:
    """A dashboard's stored ``alerts`` frame, or None when it has no open alert."""
    return cache.get(alerts_key(dashboard_id))


def missing_value() -> dict:
    """The Value of a statistic the bridge has not received yet."""
    return frames.value(kind="unknown", value=None, text="…", state="unknown", timestamp=None, received=0)


def connection_from_status(status: dict | None, now: int | None = None) -> dict:
    """The Connection browsers see, given the bridge's last written status.

    A status whose heartbeat is older than ``dead_after_seconds()`` means the bridge is gone,
    whatever it said last.
    """
    now = now if now is not None else frames.now_ms()
    if not status or now - status.get("heartbeat", 0) > dead_after_seconds() * 1000:
        as_of = status.get("heartbeat", now) if status else now
        return frames.connection(upstream="down", service="UNKNOWN", bridge="down", as_of=int(as_of))
    return dict(status["connection"])


def is_live(connection: dict) -> bool:
    """Whether values can be fresh under this connection (streamed, or polled while CometD is blocked)."""
    return connection["bridge"] == "up" and connection["upstream"] in ("connected", "polling") \
        and connection["service"] == "AVAILABLE"


def shown_values(keys, stored: dict, connection: dict) -> dict:
    """Values to show for ``keys``: stored ones (stale unless live), missing ones as unknown."""
    live = is_live(connection)
    result = {}
    for key in keys:
        current = stored.get(key)
        if current is None:
            result[key] = missing_value()
        elif not live and current["state"] == "fresh":
            result[key] = frames.with_state(current, "stale")
        else:
            result[key] = current
    return result


def epoch_key() -> str:
    """Cache key of the store's epoch (see ``store_epoch``)."""
    return f"{_prefix()}:epoch"


def store_epoch() -> str:
    """The shared store's epoch: a random token, set by whoever finds none.

    A store that lost its data (Redis restarted empty) gets a new one, so every process
    that remembers the old one knows its values, sequence numbers and channel-layer
    groups there are gone and must be written or joined again.
    """
    epoch = cache.get(epoch_key())
    if epoch is None:  # one round trip on the usual path; add() lets the first finder win
        cache.add(epoch_key(), secrets.token_hex(8), timeout=None)
        epoch = cache.get(epoch_key())
    return epoch


class CacheKeys:
    """The cache backend's own keys (its prefix and version applied, validated once), memoised.

    The memo belongs to one key scheme (the backend's prefix, version and key function
    and the bridge's prefix): a backend with another scheme gets a fresh one. It is
    cleared when it grows past ``limit`` keys, so statistics no longer wanted cannot
    make it grow without bound.
    """

    def __init__(self, limit: int = 500_000):
        self.limit = limit
        self._scheme: tuple | None = None
        self._made: dict[str, str] = {}

    def of(self, backend, names) -> list[str]:
        """The backend's keys of our key ``names`` (each made and validated once)."""
        scheme = (backend.key_prefix, backend.version, backend.key_func)
        if scheme != self._scheme or len(self._made) > self.limit:
            self._scheme, self._made = scheme, {}
        made = self._made
        out = []
        for name in names:
            key = made.get(name)
            if key is None:
                key = made[name] = backend.make_and_validate_key(name)
            out.append(key)
        return out


_keys = CacheKeys()


def _stored_names(values: dict, seqs: dict | None, status: dict | None) -> dict:
    """Our key names → what to store under them, for one ``write``."""
    head = f"{_prefix()}:v:"
    data = {head + k: v for k, v in values.items()}
    if seqs:
        data.update({seq_key(d): s for d, s in seqs.items()})
    if status is not None:
        data[status_key()] = status
    return data


def write_many(backend, data: dict) -> None:
    """Store ``data`` (our key names → values, no expiry) in ``backend`` in one go, in its own format.

    Local memory: pickled and put under the backend's lock in one critical section
    (what ``LocMemCache.set`` does per key). Redis: one ``MSET`` pipeline through the
    backend's client and serializer (what ``RedisCache.set_many`` does without a
    timeout). Any other backend: its ``set_many``.
    """
    if not data:
        return
    keys = _keys.of(backend, data)
    if type(backend) is LocMemCache:
        protocol = backend.pickle_protocol
        pickled = [(key, pickle.dumps(value, protocol)) for key, value in zip(keys, data.values(), strict=True)]
        stored, expiry, limit = backend._cache, backend._expire_info, backend._max_entries
        with backend._lock:
            for key, blob in pickled:
                if len(stored) >= limit:
                    backend._cull()
                stored[key] = blob
                stored.move_to_end(key, last=False)
                expiry[key] = None  # never expires (timeout=None)
    elif type(backend) is RedisCache:
        backend._cache.set_many(dict(zip(keys, data.values(), strict=True)), None)
    else:
        backend.set_many(data, timeout=None)


def in_process() -> bool:
    """Whether the shared store is this process's local memory (the embedded default).

    Its writes are pickling under a lock: cheaper on the event loop than the thread hop
    (submit, wake-up, GIL hand-over) that would carry them, which the bridge paid on every
    publish, up to one per dashboard every 15 ms.
    """
    return type(caches["default"]) is LocMemCache


def write(values: dict | None = None, seqs: dict | None = None, status: dict | None = None) -> None:
    """Store values (by statistic key), sequence numbers (by dashboard id) and status at once."""
    write_many(caches["default"], _stored_names(values or {}, seqs, status))


def read_values(keys) -> dict:
    """Latest stored Values of ``keys`` (absent ones left out)."""
    keys = list(keys)
    names = value_keys(keys)
    found = cache.get_many(list(names.values()))
    return {k: found[name] for k, name in names.items() if name in found}


def read_seqs(dashboard_ids) -> dict:
    """Last sequence numbers of dashboards (0 when none yet)."""
    ids = list(dashboard_ids)
    found = cache.get_many([seq_key(d) for d in ids])
    return {d: int(found.get(seq_key(d), 0)) for d in ids}


def read_status() -> dict | None:
    """The active bridge's last status, or None."""
    return cache.get(status_key())


def bump_config_version() -> None:
    """Tell the bridge (in any process) that what is wanted may have changed."""
    key = config_key()
    if not cache.add(key, 1, timeout=None):
        try:
            cache.incr(key)
        except ValueError:  # Evicted between add and incr.
            cache.add(key, 1, timeout=None)


def config_version() -> int:
    """The current configuration version, bumped on every admin edit.

    A missing version (new or cleared store, evicted key) is first set to a random
    number, so that whatever is cached by version is never taken for current after
    the store lost track of edits.
    """
    key = config_key()
    version = cache.get(key)
    if version is None:
        cache.add(key, secrets.randbits(48), timeout=None)
        version = cache.get(key, 0)
    return int(version)


def read_subscription_ids() -> list[str]:
    """Subscription ids the last active bridge recorded (for takeover cleanup)."""
    return list(cache.get(subscriptions_key(), []))


def write_subscription_ids(ids) -> None:
    """Record the subscription ids this bridge holds upstream."""
    cache.set(subscriptions_key(), sorted(ids), timeout=None)


def dashboard_snapshot(dashboard_id: int, slug: str, keys) -> dict:
    """A ``snapshot`` frame of one dashboard from the shared store.

    The sequence number is read together with the values: a batch published
    meanwhile carries a higher number and the same or newer values, so nothing is lost.
    """
    keys = list(keys)
    names = value_keys(keys)
    found = cache.get_many([seq_key(dashboard_id), status_key(), *names.values()])
    connection = connection_from_status(found.get(status_key()))
    stored = {k: found[name] for k, name in names.items() if name in found}
    seq = int(found.get(seq_key(dashboard_id), 0))
    return frames.snapshot(slug, seq, connection, shown_values(keys, stored, connection))
