"""Every benchmark still runs: each in ``--smoke`` mode, checked for a complete, sane result file.

The speed figures themselves are never asserted (they belong in docs/benchmarks.md);
only that each run measured something and computed its ratios.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# benchmark → a count that must be positive if the run really measured something.
MEASURED = {
    "ingest": "bridge_updates",
    "latency": "latency_samples",
    "fanout": "idle_clients",
    "recovery": "statistics",
    "browser": "tile_updates_per_second",
    "memory": "updates_per_second",
    "scale": "clients",
}
MARKS = {"browser": [pytest.mark.browser], "scale": [pytest.mark.scaleout]}


def run_smoke(name: str, results: Path) -> dict:
    """Run one benchmark in smoke mode into ``results``; return its result document."""
    completed = subprocess.run([sys.executable, "-m", "bench", name, "--smoke", "--results-dir", str(results)],
                               cwd=REPO, capture_output=True, text=True, timeout=150)
    path = results / f"{name}.json"
    assert path.exists(), f"{name} wrote no result:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    document = json.loads(path.read_text())
    assert completed.returncode == 0 and document["error"] is None, (
        f"{name} failed: {document['error']}\n{completed.stderr[-4000:]}")
    return document


@pytest.mark.parametrize("name", [pytest.param(n, marks=MARKS.get(n, [])) for n in MEASURED])
def test_benchmark_smoke_run_produces_sane_result(name, tmp_path):
    document = run_smoke(name, tmp_path)
    assert document["name"] == name and document["mode"] == "smoke"
    assert document["command"] == f".venv/bin/python -m bench {name} --smoke"
    assert document["machine"]["nproc"] >= 1 and document["machine"]["python"]
    assert document["figures"], f"{name} reported no figures"
    for figure in document["figures"]:
        assert figure["value"] is not None and math.isfinite(figure["value"]), figure
        assert figure["reference_value"], figure
        assert figure["ratio"] == pytest.approx(figure["value"] / figure["reference_value"]), figure
        if figure["target"] is not None:
            assert figure["met"] in (True, False), figure
    assert document["counts"][MEASURED[name]] > 0, document["counts"]
