"""``python -m bench <name>|all [--smoke] [--hour] [--results-dir DIR]``: run benchmarks.

Each benchmark writes ``<results-dir>/<name>.json``; full-mode runs into the default
directory also regenerate ``docs/benchmarks.md``. Exit status 1 when a benchmark could
not run (a missed target is a result, not a failure).
"""

import argparse
import asyncio
import importlib
import logging
import sys
import time
import traceback
from pathlib import Path

from bench.common import RESULTS_DIR, SMOKE_RESULTS_DIR, Context, Result, command_line, machine, now_iso, write_result
from bench.report import write_docs

# name → (module, title); modules are imported only when run.
BENCHMARKS = {
    "latency": ("bench.latency", "1. Update-to-browser latency"),
    "ingest": ("bench.ingest", "2. Bridge ingest per CPU core"),
    "fanout": ("bench.fanout", "3. Fan-out deliveries and memory per idle connection"),
    "recovery": ("bench.recovery", "4. Recovery after the service returns"),
    "browser": ("bench.browser", "5. Browser wall: main-thread busy and JS heap growth"),
    "memory": ("bench.memory", "6. Bridge memory"),
    "scale": ("bench.scale", "7. Scale: one vs two web processes on channels_redis"),
}


def run_one(name: str, ctx: Context) -> Result:
    """Run one benchmark and write its result (an error is recorded, not raised)."""
    module_name, title = BENCHMARKS[name]
    result = Result(name=name, title=title, mode=ctx.mode, command=command_line(name, ctx),
                    started=now_iso(), machine=machine())
    start = time.monotonic()
    try:
        module = importlib.import_module(module_name)
        asyncio.run(module.run(ctx, result))
    except Exception as error:  # One broken benchmark must not stop the others.
        logging.getLogger("bench").error("%s could not run:\n%s", name, traceback.format_exc())
        result.error = f"{type(error).__name__}: {error}"
    result.seconds = round(time.monotonic() - start, 1)
    path = write_result(result, ctx.results_dir)
    print(f"{name}: {'ERROR ' + result.error if result.error else 'ok'} → {path}")
    for figure in result.figures:
        verdict = {True: "met", False: "MISSED", None: ""}[figure.met]
        ratio = "—" if figure.ratio is None else f"{figure.ratio:.2f}x"
        print(f"  {figure.name}: {figure.value} {figure.unit} vs {figure.reference} {figure.reference_value}"
              f" → {ratio} {verdict}")
    return result


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI (results not in the docs)")
    parser.add_argument("--hour", action="store_true", help="browser benchmark: run for one hour")
    parser.add_argument("--results-dir", type=Path, help="where to write results (default bench/results[/smoke])")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    default_dir = SMOKE_RESULTS_DIR if args.smoke else RESULTS_DIR
    ctx = Context(smoke=args.smoke, results_dir=args.results_dir or default_dir, hour=args.hour)
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    results = [run_one(name, ctx) for name in names]
    if not args.smoke and ctx.results_dir == RESULTS_DIR:
        print(f"table → {write_docs()}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
