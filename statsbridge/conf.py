"""The bridge's settings: one typed, frozen object, each default stated once here.

``settings.BRIDGE`` (keys in upper case, e.g. ``FRAME_FLOOR_SECONDS``) overrides the defaults;
an unknown key is refused, so a misspelt setting never goes unnoticed. The object is
built once and built again when ``settings.BRIDGE`` changes (``override_settings``,
pytest-django's ``settings`` fixture).
"""

import dataclasses
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class BridgeSettings:
    """The bridge's settings, typed, with their defaults."""

    # Run the bridge inside the web process; false when a `manage.py runbridge` process does it.
    embedded: bool = True
    # Self-clocked fan-out (statsbridge.clocking): a dashboard's next batch leaves once its
    # previous one was handed to every socket, and no sooner than this after it. Bounds the
    # frames per socket (≤ 1/floor per dashboard a second) and merges bursts into one frame.
    frame_floor_seconds: float = 0.015
    # CPU budget of the frame floor (statsbridge.cpu_budget), in cores of the publishing
    # process (the web process when embedded): over it the floor grows (to 0.25 s at most),
    # under it it shrinks back to frame_floor_seconds. 0.5: at 200 updates/s to 200 sockets
    # the embedded web process uses ~0.3 cores, so the floor stays at 15 ms; a process near
    # a whole core (its Python thread's limit) has no room left for handshakes, snapshots
    # and pages, and rounds queue behind the CPU anyway. 0 turns the budget off.
    frame_cpu_budget: float = 0.5
    # channels_redis (runbridge): the longest an acknowledged round is waited for (each web
    # process acks its sockets' hand-backs, statsbridge.acks). Longer than the in-memory
    # layer's 0.25 s: at 1,000 sockets web processes ack late, and a timeout shorter than
    # that lets batches pile up in their queues (seconds of latency); a web process that
    # died is no longer waited for after a few timed-out rounds (acks.RoundLedger).
    acked_round_timeout_seconds: float = 1.0
    subscription_batch_size: int = 500
    # POST /subscriptions calls in flight at once while (re)subscribing: 100,000 statistics
    # are 200 batches, one round trip each; a window overlaps their waits without flooding
    # the tenant (each batch still succeeds or fails alone).
    subscription_create_window: int = 8
    history_retention_hours: float = 24.0
    lease_seconds: float = 3.0
    # How often the active bridge writes its status and web processes read it. A bridge
    # is down once its last beat is four periods old: detected within 1.25 s of dying,
    # leaving time to tell every screen within 2 s, while a beat may come 0.75 s late.
    heartbeat_seconds: float = 0.25
    # How often the bridge checks whether admin edits changed what is wanted.
    config_poll_seconds: float = 1.0
    # Full re-read of the wanted set even without an edit signal (safety net).
    config_refresh_seconds: float = 30.0
    history_prune_seconds: float = 60.0
    # At most one history sample per statistic per this many seconds.
    history_interval_seconds: float = 1.0
    # Client frames per connection allowed per second (burst = 4x).
    client_frames_per_second: float = 5.0
    # Channel-layer/cache key prefix, so several deployments can share one Redis.
    key_prefix: str = "sb"
    # Degraded mode: when CometD fails this many connects in a row, or stays this many
    # seconds without a connection, values are polled by REST every ``poll_seconds``.
    poll_seconds: float = 5.0
    poll_after_failed_connects: int = 3
    poll_after_seconds: float = 30.0

    @classmethod
    def from_mapping(cls, mapping: dict) -> "BridgeSettings":
        """Build from a ``settings.BRIDGE``-style dict; refuse unknown keys and values of the wrong type."""
        fields = {field.name.upper(): field for field in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - set(fields))
        if unknown:
            raise ImproperlyConfigured(
                f"unknown BRIDGE setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(fields))}"
            )
        values = {}
        for key, value in mapping.items():
            field = fields[key]
            kind = field.type  # bool, int, float or str
            try:
                values[field.name] = kind(value)
            except (TypeError, ValueError):
                raise ImproperlyConfigured(f"BRIDGE[{key!r}] must be of type {kind.__name__}") from None
        return cls(**values)

    @property
    def dead_after_seconds(self) -> float:
        """Age of the last heartbeat after which the bridge counts as down."""
        return 4 * self.heartbeat_seconds


_current: BridgeSettings | None = None


def bridge_settings() -> BridgeSettings:
    """The bridge settings in force (built from ``settings.BRIDGE`` on first use)."""
    global _current
    current = _current
    if current is None:
        current = _current = BridgeSettings.from_mapping(getattr(settings, "BRIDGE", {}))
    return current


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs) -> None:
    """Forget the built settings when ``settings.BRIDGE`` changes, so the next read sees it."""
    global _current
    if setting == "BRIDGE":
        _current = None


def dead_after_seconds() -> float:
    """Age of the last heartbeat after which the bridge counts as down."""
    return bridge_settings().dead_after_seconds
