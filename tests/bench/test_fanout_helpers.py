"""The fan-out and scale benchmarks' pure helpers: swarm reports over several processes,
connect deadlines, a window's accounting against the ideal, and the layer's drop counter."""

import logging

import pytest
from channels.layers import InMemoryChannelLayer

from bench.fanout import shortfall_note, window_figures
from bench.procs import CpuWindow
from bench.scale import pool_exhaustions
from bench.swarm import connect_deadline, merge_reports, progress, split_targets
from bench.webproc import LayerWatch


def report(**fields) -> dict:
    base = {"connected": 0, "snapshots": 0, "frames": 0, "values": 0, "closed": 0, "connect_retries": 0,
            "clients_not_fresh": 0, "values_not_fresh": 0, "errors": {}, "latency_ms": {}, "all_fresh_at": None,
            "some_stale_at": None, "at": 0, "connect_ms_max": None, "connect_ms_median": None}
    return {**base, **fields}


def test_merged_report_sums_counts_and_merges_histograms_and_errors():
    one = report(connected=3, values=10, latency_ms={"5": 2, "7": 1}, errors={"E": 1}, all_fresh_at=100, at=50,
                 connect_ms_max=40, connect_ms_median=10)
    two = report(connected=2, values=5, latency_ms={"5": 1}, errors={"E": 2, "F": 1}, all_fresh_at=120, at=40,
                 some_stale_at=90, connect_ms_max=70, connect_ms_median=8)
    merged = merge_reports([one, two])
    assert merged["connected"] == 5 and merged["values"] == 15
    assert merged["latency_ms"] == {"5": 3, "7": 1} and merged["errors"] == {"E": 3, "F": 1}
    assert merged["all_fresh_at"] == 120 and merged["some_stale_at"] == 90 and merged["at"] == 40
    assert merged["connect_ms_max"] == 70 and merged["connect_ms_median"] == 10


def test_merged_report_is_unknown_until_every_process_wrote_one():
    assert merge_reports([report(connected=3), {}]) == {}
    assert merge_reports([report(all_fresh_at=5), report()])["all_fresh_at"] is None


def test_targets_split_into_consecutive_parts_keep_the_dashboard_mix():
    targets = [f"d{i % 4}" for i in range(10)]
    parts = split_targets(targets, 2)
    assert parts == [targets[:5], targets[5:]]
    assert all({"d0", "d1", "d2", "d3"} <= set(part) for part in parts)
    assert split_targets(targets, 1) == [targets]
    assert split_targets([], 3) == []


def test_connect_deadline_grows_with_clients_and_progress_names_the_rate():
    assert connect_deadline(1000) > connect_deadline(200) > connect_deadline(0) > 0
    text = progress(report(connected=500, snapshots=480, connect_retries=7, connect_ms_median=30,
                           connect_ms_max=5100), 1000, 50.0)
    assert "500 of 1000 connected (10.0/s)" in text and "480 snapshots" in text
    assert "7 handshake retries" in text and "5100 ms at most" in text


def window(cpu: float, wall: float) -> CpuWindow:
    measured = CpuWindow([])
    measured.cpu, measured.wall = cpu, wall
    return measured


def test_window_figures_compare_deliveries_with_the_ideal_and_split_the_shortfall():
    before = report(values=1_000, frames=10, latency_ms={"100": 5})
    after = report(values=1_000 + 1_700_000, frames=30_010, latency_ms={"100": 5, "200": 99, "900": 1})
    pub_before = {"offered": 100, "skipped": 0, "merged": 5, "flushes": 1, "flush_seconds": 0.1,
                  "layer_dropped": 0, "layer_queued": 10}
    pub_after = {"offered": 100 + 18_000, "skipped": 2_000, "merged": 5 + 100, "flushes": 21, "flush_seconds": 2.1,
                 "flush_seconds_max": 0.3, "flush_gap_max": 0.6, "layer_dropped": 40_000, "layer_queued": 310}
    figures = window_figures(before, after, pub_before, pub_after, window(8.5, 10.0), [0.3, 0.9], 100, 2.5)
    assert figures["ideal_per_second"] == pytest.approx(200_000)  # (18,000 + 2,000) × 100 / 10 s
    assert figures["deliveries_per_second"] == pytest.approx(170_000)
    assert figures["share_of_ideal"] == pytest.approx(0.85)
    assert figures["web_cpu_us_per_value"] == pytest.approx(5.0)  # 8.5 s / 1.7 M values
    assert figures["lost_to_skips_per_second"] == pytest.approx(20_000)
    assert figures["lost_to_merges_per_second"] == pytest.approx(1_000)
    assert figures["layer_dropped_per_second"] == pytest.approx(4_000)
    assert figures["flush_ms_mean"] == pytest.approx(100) and figures["flush_gap_ms_max"] == pytest.approx(600)
    assert figures["web_waiting_for_cpu"] == pytest.approx(0.25)
    assert figures["layer_queued_growth"] == 300 and figures["p99_ms"] == 200
    assert figures["busiest_client_process_cores"] == 0.9 and figures["client_cores"] == pytest.approx(1.2)
    note = shortfall_note("memory-1000", figures)
    assert "170,000 of 200,000 values/s (0.850×)" in note and "30,000/s missing" in note
    assert "20,000/s from updates the publisher skipped" in note and "4,000/s dropped by the layer" in note
    assert "1,000/s merged by coalescing" in note and "waiting for a CPU 0.25 s/s" in note
    assert "5,000/s published but not delivered" in note and "saturated" in note


def test_window_figures_without_deliveries_have_no_cpu_per_value():
    figures = window_figures(report(), report(), {"offered": 0}, {"offered": 10}, window(1.0, 2.0), [0.1], 5)
    assert figures["web_cpu_us_per_value"] is None and figures["share_of_ideal"] == 0


async def test_layer_watch_counts_frames_the_in_memory_layer_dropped_for_full_channels():
    layer = InMemoryChannelLayer(capacity=1)
    watch = LayerWatch(layer)
    await layer.group_add("dash.1", "a")
    await layer.group_add("dash.1", "b")
    await layer.send("a", {"type": "x"})  # a is now full
    await layer.group_send("dash.1", {"type": "x"})
    assert watch.dropped == 1 and watch.queued() == 2


def test_layer_watch_counts_channels_redis_over_capacity_group_sends():
    class RedisLikeLayer:
        def __init__(self):
            self.receive_buffer = {}

    watch = LayerWatch(RedisLikeLayer())
    logger = logging.getLogger("channels_redis.core")
    try:
        logger.info("%s of %s channels over capacity in group %s", 1, 100, "dash.3")
        assert watch.dropped == 100 and watch.over_capacity_sends == 1
    finally:
        logger.removeHandler(watch)
        logger.propagate = True


def test_pool_exhaustions_count_the_redis_errors_in_a_web_log():
    log = "ok\nredis.exceptions.MaxConnectionsError: Too many connections\nx\n" * 3
    assert pool_exhaustions(log) == 3 and pool_exhaustions("listening\n") == 0
