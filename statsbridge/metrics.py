"""Prometheus metrics of the bridge and the WebSocket side, and the /metrics body.

Bridge metrics live in the process that runs the bridge (the web process when
embedded, ``runbridge`` in scale-out, which can serve them with ``--metrics-port``).
Every web process also exports the shared status the active bridge writes, so one
scrape of any web process says whether the bridge is up and the service available.
"""

from bisect import bisect_left

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from statsbridge import frames, store

UPSTREAM_STATES = frames.UPSTREAM_STATES

upstream_state = Gauge("ccdash_upstream_state", "Upstream CometD connection state (1 = current).", ["state"])
service_available = Gauge("ccdash_service_available", "1 when the Statistics service is AVAILABLE.")
handshakes = Counter("ccdash_bayeux_handshakes", "CometD sessions established (first and re-handshakes).")
reconnects = Counter("ccdash_bayeux_reconnects", "Times the CometD link was lost and is being re-established.")
subscriptions_held = Gauge("ccdash_subscriptions", "Upstream statistic subscriptions held.")
statistics_held = Gauge("ccdash_statistics_subscribed", "Statistics subscribed upstream.")
statistics_wanted = Gauge("ccdash_statistics_wanted", "Statistics used by at least one widget.")
updates_in = Counter("ccdash_updates_in", "Statistic values received from upstream.")
updates_out = Counter("ccdash_updates_out", "Statistic values published to dashboards (after coalescing).")
messages_out = Counter("ccdash_fanout_messages", "Channel-layer messages sent to dashboard groups.", ["type"])
rounds_acked = Counter("ccdash_fanout_rounds_acked", "Fan-out rounds on channels_redis ended by the web processes' acks.")
rounds_timed_out = Counter("ccdash_fanout_rounds_timed_out", "Fan-out rounds on channels_redis given up after the round timeout.")
subscription_creates = Counter("ccdash_subscription_creates", "POST /subscriptions calls by outcome.", ["outcome"])
subscription_lost = Counter("ccdash_subscriptions_lost", "Subscriptions found lost by failing calls and created again.")
polling_entered = Counter("ccdash_polling_entered", "Times the bridge fell back to polling because CometD could not be held.")
resubscribes = Counter("ccdash_resubscribes", "Full re-creations of every upstream subscription.", ["reason"])
resubscribe_seconds = Histogram(
    "ccdash_resubscribe_seconds", "Time to re-create every subscription and push current values.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
update_age = Histogram(
    "ccdash_update_age_seconds", "Age of a value (from its Stat Server timestamp) when published.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
fanout_lag = Histogram(
    "ccdash_fanout_lag_seconds", "Time from receiving a value to publishing it.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
decode_unknown = Counter("ccdash_decode_unknown", "Values whose shape was not understood.")
frame_floor = Gauge("ccdash_frame_floor_seconds",
                    "The fan-out's frame floor now (grown over the CPU budget, statsbridge.cpu_budget).")
websocket_clients = Gauge("ccdash_websocket_clients", "Open dashboard/wall WebSockets in this process.", ["kind"])
client_frames_rejected = Counter("ccdash_client_frames_rejected", "Client frames answered with an error.", ["code"])


def observe_many(histogram: Histogram, amounts: list) -> None:
    """Observe every amount of ``amounts`` in an unlabelled ``histogram`` at once.

    The same counts and sum as one ``observe`` per amount, with one increment per bucket
    touched and one of the sum: the bridge observes a tick's values together instead of
    paying a locked increment (and a bucket scan) per value.
    """
    if not amounts:
        return
    histogram._raise_if_not_observable()
    bounds = histogram._upper_bounds  # ascending, the last one +Inf
    counts = [0] * len(bounds)
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1  # the first bucket with amount <= bound, as observe picks
    histogram._sum.inc(sum(amounts))
    for index, count in enumerate(counts):
        if count:
            histogram._buckets[index].inc(count)


def set_upstream_state(state: str) -> None:
    """Mark ``state`` as the current upstream connection state."""
    for name in UPSTREAM_STATES:
        upstream_state.labels(state=name).set(1 if name == state else 0)


class SharedStatusCollector:
    """Exports the status the active bridge wrote to the shared store."""

    def collect(self):
        """Yield gauges read from the shared status at scrape time."""
        status = store.read_status()
        connection = store.connection_from_status(status)
        bridge = GaugeMetricFamily("ccdash_shared_bridge_up", "1 when the active bridge's heartbeat is recent.")
        bridge.add_metric([], 1 if connection["bridge"] == "up" else 0)
        yield bridge
        live = GaugeMetricFamily("ccdash_shared_live", "1 when bridge up, upstream connected (or polling) and service AVAILABLE.")
        live.add_metric([], 1 if store.is_live(connection) else 0)
        yield live
        polling = GaugeMetricFamily("ccdash_shared_polling", "1 while the bridge polls because CometD cannot be held.")
        polling.add_metric([], 1 if connection["upstream"] == "polling" else 0)
        yield polling
        rate = GaugeMetricFamily(
            "ccdash_shared_update_rate", "Statistic updates pushed by the upstream per second, over a sliding window.",
            labels=["window_seconds"],
        )
        if connection["bridge"] == "up":  # A gone bridge's last rate is not a rate now.
            updates = status.get("updates") or {}
            for window, per_second in zip(updates.get("windows") or [], updates.get("rates") or [], strict=True):
                if per_second is not None:
                    rate.add_metric([str(window)], per_second)
        yield rate


class BayeuxClientCollector:
    """Exports the counters of this process's CometD client (its ``ClientStats``) at scrape time.

    ``source`` is set by the running bridge's upstream link: a function returning the
    current client's stats, or None while there is no client. Each new client (after a
    fatal stop) counts from zero again, which Prometheus takes as a counter reset.
    """

    COUNTERS = (
        ("ccdash_bayeux_messages", "CometD data messages received by the current client.", "messages"),
        ("ccdash_bayeux_errors", "Failed CometD exchanges of the current client (each retried with backoff).", "errors"),
        ("ccdash_bayeux_dropped", "CometD messages dropped because the client's buffer was full.", "dropped"),
        ("ccdash_bayeux_rejected", "Malformed messages left out of otherwise good CometD replies.", "rejected"),
    )

    def __init__(self):
        self.source = None

    def collect(self):
        """Yield the current client's counters (nothing while there is none)."""
        stats = self.source() if self.source is not None else None
        if stats is None:
            return
        for name, documentation, field in self.COUNTERS:
            counter = CounterMetricFamily(name, documentation)
            counter.add_metric([], getattr(stats, field))
            yield counter
        if stats.last_message_at is not None:
            last = GaugeMetricFamily("ccdash_bayeux_last_message_timestamp_seconds",
                                     "When the current CometD client last received a data message (Unix time).")
            last.add_metric([], stats.last_message_at)
            yield last


_shared = SharedStatusCollector()
REGISTRY.register(_shared)
bayeux_client = BayeuxClientCollector()
REGISTRY.register(bayeux_client)


def render() -> bytes:
    """The Prometheus text exposition of this process's registry."""
    return generate_latest(REGISTRY)
