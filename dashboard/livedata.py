"""What pages read from the bridge: current values, the connection, recorded history.

The bridge (statsbridge) writes; this module only reads, so every web process can
render a page with the same values its socket will then keep live.
"""

import datetime as dt

from statsbridge import history as samples
from statsbridge import store


def connection() -> dict:
    """The Connection browsers see right now."""
    return store.connection_from_status(store.read_status())


def current_values(keys) -> dict:
    """Values to show for ``keys`` now: stale unless the bridge is live, unknown when missing."""
    keys = list(keys)
    return store.shown_values(keys, store.read_values(keys), connection())


def stored_values(keys) -> dict:
    """The latest Values the bridge stored, as stored (absent ones left out)."""
    return store.read_values(keys)


def history(keys, window_ms: int, until_ms: int | None = None) -> dict:
    """Per statistic, ``[[ms, number], ...]`` of the last ``window_ms`` up to ``until_ms`` (now).

    Points without a number (unknown, agent states) are left out: charts plot numbers.
    """
    keys = list(keys)
    if not keys or window_ms <= 0:
        return {}
    until = dt.datetime.fromtimestamp(until_ms / 1000, tz=dt.UTC) if until_ms is not None else None
    recorded = samples.series(keys, window_ms / 60_000, now=until)
    return {
        key: [[point["t"], point["value"]] for point in points if point["value"] is not None]
        for key, points in recorded.items()
    }


def values_at(keys, at_ms: int) -> dict:
    """What each statistic showed at ``at_ms``; unknown where nothing was recorded by then."""
    keys = list(keys)
    when = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC)
    recorded = samples.values_at(keys, when)
    return {key: recorded.get(key) or store.missing_value() for key in keys}


def bridge_status() -> dict | None:
    """The status the active bridge last published (None when no bridge ever ran)."""
    return store.read_status()
