"""``python -m tests.reliability [--long] [--repeats N] [--cut-seconds S] [-k EXPR]``

Runs the fault matrix (short CI mode by default: each fault its CI count; ``--long``:
every fault 100 times) and prints its figures as the Markdown table of
docs/reliability.md.
"""

import argparse
import json
import subprocess
import sys

from tests.reliability.stack import ROOT

LONG_REPEATS = 100


def summary_table(documents: list[dict]) -> str:
    """The Markdown table of the figures of each mode's run."""
    lines = [("| mode | fault | runs | recoveries | worst stale (s) | worst reconnect (s) | worst tiles true (s) "
              "| worst recovery (s) | failures |"), "|---|---|---|---|---|---|---|---|---|"]
    for document in documents:
        for row in document["faults"]:
            lines.append(f"| {document['mode']} | {row['name']} | {row['runs']} | {row['recoveries']} "
                         f"| {row['worst_stale']:.2f} | {row['worst_reconnect']:.2f} | {row['worst_tiles']:.2f} "
                         f"| {row['worst_recovery']:.2f} | {len(row['failures'])} |")
    runs = sum(row["runs"] for d in documents for row in d["faults"])
    recovered = sum(row["recoveries"] for d in documents for row in d["faults"])
    worst = max((row["worst_recovery"] for d in documents for row in d["faults"]), default=0.0)
    failures = sum(len(row["failures"]) for d in documents for row in d["faults"])
    lines.append(f"\nTotal: {runs} faults injected, {recovered} recoveries, worst recovery {worst:.2f} s, "
                 f"{failures} failures.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run pytest on the matrix, then print the figures."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help=f"repeat every fault {LONG_REPEATS} times")
    parser.add_argument("--repeats", type=int, help="repeat every fault N times")
    parser.add_argument("--cut-seconds", type=float, default=30.0, help="length of the network cut")
    parser.add_argument("-k", dest="select", help="pytest -k expression (e.g. embedded, runbridge, network-cut)")
    options = parser.parse_args(argv)
    repeats = LONG_REPEATS if options.long else options.repeats
    command = [sys.executable, "-m", "pytest", "tests/reliability", "-p", "no:cacheprovider", "-q", "-s",
               f"--fault-cut-seconds={options.cut_seconds}"]
    if repeats:
        # A row repeated N times outlives pytest.ini's per-test timeout, which is sized
        # for CI's counts: allow each row ~90 s per repeat (a network cut plus backoff).
        command += [f"--fault-repeats={repeats}", f"--timeout={int(repeats * 90 + 300)}"]
    if options.select:
        command += ["-k", options.select]
    status = subprocess.call(command, cwd=ROOT)
    documents = [json.loads(path.read_text()) for path in sorted((ROOT / "test-artifacts").glob("reliability-*.json"))]
    if documents:
        print(summary_table(documents))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
