"""The benchmarks' pure helpers: ratios and verdicts, the docs table, percentiles, profiles, workload."""

import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from bench.browser import slope_per_hour
from bench.common import AT_LEAST, AT_MOST, Context, Figure, Result, Target, machine
from bench.latency import runqueue_seconds
from bench.procs import BenchError
from bench.profiling import stage_shares, summarise, summarise_cpu_profile
from bench.report import render
from bench.stack import prometheus_value
from bench.swarm import histogram_percentiles
from bench.workload import agents_for, plan_statistics, split


def test_figure_ratio_and_target_verdict():
    figure = Figure("p99", 75.0, "ms", "limit", 50.0, Target(AT_MOST, 1.0))
    assert figure.ratio == 1.5 and figure.met is False
    assert Figure("p99", 25.0, "ms", "limit", 50.0, Target(AT_MOST, 1.0)).met is True
    assert Figure("ingest", 9.0, "u/s", "peer", 10.0, Target(AT_LEAST, 0.8)).met is True
    assert Figure("x", 1.0, "", "peer", 0.0, Target(AT_LEAST, 1.0)).ratio is None
    assert Figure("x", 1.0, "", "peer", 0.0, Target(AT_LEAST, 1.0)).met is None


def test_report_renders_each_figure_with_ratio_and_verdict():
    result = Result(name="latency", title="1. Latency", mode="full", command="cmd", started="2026-01-01T00:00:00",
                    machine=machine())
    result.add("p99 latency", 75.0, "ms", "limit (target p99)", 50.0, Target(AT_MOST, 1.0))
    page = render([result.to_json()])
    assert "| p99 latency | 75.0 ms | limit (target p99) | 50.0 ms | 1.50× | ≤ 1× | **missed** |" in page
    assert "| latency | p99 latency | 1.50× | ≤ 1× | **missed** |" in page
    assert "Not yet measured in full mode: ingest, fanout, recovery, browser, memory, scale." in page
    assert f"{machine()['nproc']} cores" in page


def test_report_renders_a_curve_as_a_table_one_row_per_point():
    result = Result(name="latency", title="1. Latency", mode="full", command="cmd", machine=machine())
    result.tables.append({"title": "Latency curve", "columns": ["deployment", "offered upd/s", "p99 ms"],
                          "rows": [["embedded", 200, 12.5], ["runbridge", 10000, None]]})
    page = render([result.to_json()])
    assert "**Latency curve**\n\n| deployment | offered upd/s | p99 ms |\n|---|---|---|\n" in page
    assert "| embedded | 200 | 12.5 |\n| runbridge | 10,000 | — |" in page


def test_report_shows_more_digits_when_a_ratio_rounds_onto_its_target():
    result = Result(name="fanout", title="3. Fan-out", mode="full", command="cmd")
    result.add("deliveries", 9998.0, "values/s", "naive", 1000.0, Target(AT_LEAST, 10.0))
    assert "| fanout | deliveries | 9.9980× | ≥ 10× | **missed** |" in render([result.to_json()])


def test_report_places_the_analysis_after_the_summary():
    result = Result(name="memory", title="6. Memory", mode="full", command="cmd")
    page = render([result.to_json()], "## Why targets are missed\n\nBecause.")
    assert page.index("## Summary") < page.index("## Why targets are missed") < page.index("## 6. Memory")


def test_report_shows_an_error_instead_of_figures():
    result = Result(name="recovery", title="4. Recovery", mode="full", command="cmd", error="BenchError: timed out")
    page = render([result.to_json()])
    assert "**Could not run:** BenchError: timed out" in page
    assert "| recovery | (run failed: see below) | — | — | **could not run** |" in page


def test_percentiles_from_a_latency_histogram():
    stats = histogram_percentiles(Counter({10: 98, 200: 2}))
    assert stats[0.5] == 10 and stats[0.95] == 10 and stats[0.99] == 200
    assert stats["max"] == 200 and stats["count"] == 100
    assert histogram_percentiles(Counter())[0.99] is None


def test_heap_slope_is_least_squares_per_hour():
    assert slope_per_hour([(0, 10.0), (1800, 11.0), (3600, 12.0)]) == pytest.approx(2.0)
    assert slope_per_hour([(0, 10.0)]) == 0.0


def test_py_spy_summary_ranks_leaf_and_project_frames():
    collapsed = "main;statsbridge.fanout:flush;json:dumps 30\nmain;dashboard.consumers:send 10\n"
    summary = summarise(collapsed)
    assert summary.splitlines()[0] == "40 samples"
    assert "75.0%  json:dumps" in summary and "75.0%  statsbridge.fanout:flush" in summary
    assert summarise("") == "no samples"


def test_stage_shares_take_the_innermost_stage_and_set_waiting_apart():
    collapsed = ("run (a.py:1);Bridge.handle (statsbridge/bridge.py:9);decode (statsbridge/decoding.py:4) 30\n"
                 "run (a.py:1);Bridge.handle (statsbridge/bridge.py:9) 10\n"
                 "run (a.py:1);parse (x.py:2) 20\n"
                 "run (a.py:1);EpollSelector.select (selectors.py:468) 40\n")
    stages = [("decoding", ("statsbridge/decoding.py",)), ("handling", ("statsbridge/bridge.py",))]
    shares = stage_shares(collapsed, stages, ("EpollSelector.select",))
    assert shares.splitlines() == ["by stage (60 busy samples; 40 more waiting in a poll or an idle worker):",
                                   "   50.0%  decoding", "   33.3%  other", "   16.7%  handling"]
    assert stage_shares("x (a.py:1) 5\n", stages, ("x (a.py",)) == "no busy samples"


def test_chromium_profile_summary_excludes_idle():
    profile = {
        "nodes": [{"id": 1, "callFrame": {"functionName": "(idle)", "url": "", "lineNumber": -1}},
                  {"id": 2, "callFrame": {"functionName": "react", "url": "http://x/static/plotly.min.js",
                                          "lineNumber": 7}}],
        "samples": [1, 2, 2, 1], "timeDeltas": [1000, 3000, 1000, 5000],
    }
    summary = summarise_cpu_profile(profile)
    assert summary.splitlines()[0] == "4 ms busy, 6 ms idle; self time:"
    assert "100.0%  react plotly.min.js:8" in summary


def test_prometheus_value_sums_label_sets_and_names_missing_metrics():
    text = ('# HELP x\nccdash_updates_in_total 12.0\nccdash_fanout_messages_total{type="batch"} 3.0\n'
            'ccdash_fanout_messages_total{type="status"} 2.0\n')
    assert prometheus_value(text, "ccdash_updates_in_total") == 12.0
    assert prometheus_value(text, "ccdash_fanout_messages_total") == 5.0
    with pytest.raises(BenchError, match="ccdash_missing not exported"):
        prometheus_value(text, "ccdash_missing")


def test_workload_plans_distinct_agent_statistics_and_even_splits():
    agents = [f"agent{i:03}" for i in range(1, 5)]
    planned = plan_statistics(agents, 10)
    assert len(planned) == len(set(planned)) == 10 and agents_for(10) == 4
    with pytest.raises(ValueError, match="13 statistics need 5 agents"):
        plan_statistics(agents, 13)
    assert [len(part) for part in split(list(range(10)), 3)] == [4, 3, 3]
    assert split([1], 4) == [[1]]


def test_context_picks_by_mode():
    root = Path(".")
    assert Context(smoke=True, results_dir=root).pick(1, 2, 3) == 1
    assert Context(smoke=False, results_dir=root).pick(1, 2, 3) == 2
    assert Context(smoke=False, results_dir=root, hour=True).pick(1, 2, 3) == 3
    assert Context(smoke=False, results_dir=root, hour=True).pick(1, 2) == 2


def test_runqueue_seconds_reads_every_thread_of_a_process():
    done = threading.Event()
    worker = threading.Thread(target=done.wait)
    worker.start()
    try:
        first = runqueue_seconds([os.getpid()])
        assert first > 0 and runqueue_seconds([os.getpid()]) >= first
        assert runqueue_seconds([]) == 0 and runqueue_seconds([2**22 + 7]) == 0  # no such process: nothing read
    finally:
        done.set()
        worker.join()
