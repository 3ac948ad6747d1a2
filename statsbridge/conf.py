"""The bridge's settings with their defaults (``settings.BRIDGE`` overrides them)."""

from django.conf import settings

DEFAULTS = {
    "EMBEDDED": True,
    "TICK_SECONDS": 0.25,
    "SUBSCRIPTION_BATCH_SIZE": 500,
    "HISTORY_RETENTION_HOURS": 24.0,
    "LEASE_SECONDS": 3.0,
    # How often the active bridge writes its status and web processes read it. A bridge
    # is down once its last beat is four periods old: detected within 1.25 s of dying,
    # leaving time to tell every screen within 2 s, while a beat may come 0.75 s late.
    "HEARTBEAT_SECONDS": 0.25,
    # How often the bridge checks whether admin edits changed what is wanted.
    "CONFIG_POLL_SECONDS": 1.0,
    # Full re-read of the wanted set even without an edit signal (safety net).
    "CONFIG_REFRESH_SECONDS": 30.0,
    "HISTORY_PRUNE_SECONDS": 60.0,
    # At most one history sample per statistic per this many seconds.
    "HISTORY_INTERVAL_SECONDS": 1.0,
    # Client frames per connection allowed per second (burst = 4x).
    "CLIENT_FRAMES_PER_SECOND": 5.0,
    # Channel-layer/cache key prefix, so several deployments can share one Redis.
    "KEY_PREFIX": "sb",
    # Degraded mode: when CometD fails this many connects in a row, or stays this many
    # seconds without a connection, values are polled by REST every POLL_SECONDS.
    "POLL_SECONDS": 5.0,
    "POLL_AFTER_FAILED_CONNECTS": 3,
    "POLL_AFTER_SECONDS": 30.0,
}


def bridge_setting(name: str):
    """Return ``settings.BRIDGE[name]`` or its default."""
    return getattr(settings, "BRIDGE", {}).get(name, DEFAULTS[name])


def dead_after_seconds() -> float:
    """Age of the last heartbeat after which the bridge counts as down."""
    return 4 * float(bridge_setting("HEARTBEAT_SECONDS"))
