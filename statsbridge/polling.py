"""When to poll instead of stream, without I/O.

Corporate proxies often kill CometD long-polls while plain REST works. ``ChannelHealth``
watches the notification channel: once it has failed ``fail_limit`` connects in a row,
or has gone ``outage_seconds`` without being connected, the bridge switches to polling
(peeking its subscriptions every ``BRIDGE_POLL_SECONDS``) while CometD keeps being
retried in the background; the first successful connect ends polling.
"""

from dataclasses import dataclass


@dataclass
class ChannelHealth:
    """Consecutive failed connects and how long the channel has been down."""

    fail_limit: int = 3
    outage_seconds: float = 30.0
    failures: int = 0
    down_since: float | None = None
    connected: bool = False

    def __post_init__(self):
        if self.fail_limit < 1 or self.outage_seconds <= 0:
            raise ValueError("fail_limit must be >= 1 and outage_seconds > 0")

    def start(self, now: float) -> None:
        """The channel is being opened at ``now`` (it counts as down until connected)."""
        if not self.connected and self.down_since is None:
            self.down_since = now

    def on_connected(self) -> None:
        """A connect succeeded: the channel streams."""
        self.connected = True
        self.failures = 0
        self.down_since = None

    def on_down(self, now: float) -> None:
        """The channel is not connected (handshaking, reconnecting) since ``now`` at the latest."""
        self.connected = False
        if self.down_since is None:
            self.down_since = now

    def on_failure(self, now: float) -> None:
        """One connect (or handshake) failed at ``now``."""
        self.on_down(now)
        self.failures += 1

    def should_poll(self, now: float) -> bool:
        """Whether values must be polled at ``now``."""
        if self.connected or self.down_since is None:
            return False
        return self.failures >= self.fail_limit or now - self.down_since >= self.outage_seconds

    def poll_in(self, now: float) -> float | None:
        """Seconds until ``should_poll`` turns true by time alone (None when connected)."""
        if self.connected or self.down_since is None:
            return None
        return max(0.0, self.down_since + self.outage_seconds - now)
