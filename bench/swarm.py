"""The harness side of ``bench.wsclients``: start a swarm, wait for it, read and diff its reports.

A swarm may be spread over several client processes (``processes``), so that the load
generator's own event loop is not what limits deliveries; its report is the sum of theirs.
"""

import json
import math
import time
from collections import Counter

from bench.procs import PYTHON, BenchError, CpuWindow, Proc, wait_until
from bench.stack import Stack

# How long connecting may take: a fixed allowance for start-up (imports, the first
# handshakes) plus a floor on the connection rate. A 2-core machine at load 10-14
# connected 1,000 clients to one channels_redis + PostgreSQL web process at 5.8-6.9/s
# (two processes: 9-15/s); below 4/s something is wrong, and waiting longer would only
# hide it.
CONNECT_ALLOWANCE_SECONDS = 30.0
MIN_CONNECTS_PER_SECOND = 4.0
SUMMED = ("connected", "snapshots", "frames", "values", "closed", "connect_retries", "clients_not_fresh",
          "values_not_fresh")


def connect_deadline(clients: int) -> float:
    """Seconds allowed for ``clients`` clients to connect and get their snapshots."""
    return CONNECT_ALLOWANCE_SECONDS + clients / MIN_CONNECTS_PER_SECOND


def merge_reports(reports: list) -> dict:
    """Pure: one report of several client processes (counts summed, histograms and errors merged).

    ``all_fresh_at`` is known only once every process has one (the last of them);
    ``some_stale_at`` is the latest of any; ``at`` the oldest (the merged report is as old as that).
    """
    if any(not report for report in reports):
        return {}
    merged = {key: sum(report.get(key, 0) for report in reports) for key in SUMMED}
    errors, latency = Counter(), Counter()
    for report in reports:
        errors.update(report.get("errors", {}))
        latency.update(report.get("latency_ms", {}))
    for key in ("connect_ms_max", "connect_ms_median"):  # (the median: the largest of the processes')
        known = [report[key] for report in reports if report.get(key) is not None]
        merged[key] = max(known) if known else None
    fresh = [report.get("all_fresh_at") for report in reports]
    stale = [s for s in (report.get("some_stale_at") for report in reports) if s is not None]
    merged.update(errors=dict(errors), latency_ms=dict(latency),
                  all_fresh_at=None if None in fresh else max(fresh),
                  some_stale_at=max(stale) if stale else None, at=min(report.get("at", 0) for report in reports))
    return merged


class SwarmHandle:
    """Running client swarm processes and their report files."""

    def __init__(self, procs: list, report_paths: list, clients: int):
        self.procs = procs
        self.report_paths = report_paths
        self.clients = clients

    @property
    def proc(self) -> Proc:
        """The first client process (callers that started a single one)."""
        return self.procs[0]

    def report(self) -> dict:
        """The latest merged report (empty until every process wrote one)."""
        reports = []
        for path in self.report_paths:
            try:
                reports.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                return {}
        return merge_reports(reports)

    def check_alive(self) -> None:
        """Raise if a client process exited."""
        for proc in self.procs:
            proc.check_alive()

    def cpu_window(self) -> CpuWindow:
        """A CPU window over every client process."""
        return CpuWindow([proc.pid for proc in self.procs])

    async def stop(self, stack: Stack) -> None:
        """Stop every client process."""
        for proc in self.procs:
            await stack.stop(proc)

    async def wait_ready(self, timeout: float | None = None) -> float:
        """Wait until every client is connected and has its snapshot, by a deadline
        (default :func:`connect_deadline`); the error says how far connecting got."""
        timeout = connect_deadline(self.clients) if timeout is None else timeout
        start = time.monotonic()

        async def ready() -> bool:
            report = self.report()
            if report.get("errors"):
                raise BenchError(f"WebSocket clients failed to connect: {report['errors']} "
                                 f"({progress(report, self.clients, time.monotonic() - start)})")
            return report.get("connected", 0) >= self.clients and report.get("snapshots", 0) >= self.clients
        try:
            return await wait_until(ready, timeout, f"{self.clients} WebSocket clients with snapshots",
                                    check=self.check_alive)
        except BenchError as error:
            if "timed out" not in str(error):
                raise
            raise BenchError(f"{error}: {progress(self.report(), self.clients, time.monotonic() - start)}") from None


def progress(report: dict, clients: int, seconds: float) -> str:
    """Pure: how far connecting got, for an error message."""
    connected = report.get("connected", 0)
    return (f"{connected} of {clients} connected ({connected / seconds if seconds else 0:.1f}/s), "
            f"{report.get('snapshots', 0)} snapshots, {report.get('connect_retries', 0)} handshake retries, "
            f"{report.get('closed', 0)} closed, opening a socket (handshake to snapshot) took "
            f"{report.get('connect_ms_median')} ms median and {report.get('connect_ms_max')} ms at most, "
            f"errors {report.get('errors') or 'none'}")


def split_targets(targets: list, processes: int) -> list:
    """Pure: ``targets`` cut into ``processes`` consecutive parts of nearly equal size; consecutive,
    not dealt, so each part keeps the round-robin mix over the dashboards."""
    size = math.ceil(len(targets) / max(1, processes))
    return [targets[i:i + size] for i in range(0, len(targets), size)] if targets else []


async def start_swarm(stack: Stack, web, clients: int, name: str = "clients", *,
                      walls: bool = False, dashboards: list | None = None, processes: int = 1,
                      connect_concurrency: int | None = None) -> SwarmHandle:
    """Start ``clients`` WebSocket clients spread round-robin over the seeded dashboards,
    in ``processes`` client processes (each with at most ``connect_concurrency`` handshakes
    in flight, the client's default if None).

    ``web`` is one :class:`Web` or a list of them (clients alternate between servers).
    """
    webs = web if isinstance(web, list) else [web]
    seeded = dashboards or stack.seed["dashboards"]
    key = "wall_token" if walls else "slug"
    targets = [seeded[i % len(seeded)][key] for i in range(clients)]
    urls = [arg for w in webs for arg in ("--url", f"ws://127.0.0.1:{w.port}")]
    procs, reports = [], []
    for number, part in enumerate(split_targets(targets, processes)):
        label = name if processes == 1 else f"{name}-{number}"
        targets_path = stack.dir / f"{label}.targets.json"
        targets_path.write_text(json.dumps(part))
        report = stack.dir / f"{label}.report.json"
        args = [PYTHON, "-m", "bench.wsclients", *urls, "--targets", str(targets_path), "--clients", str(len(part)),
                "--session", stack.seed["session"], "--report", str(report)]
        if walls:
            args.append("--walls")
        if connect_concurrency is not None:
            args += ["--connect-concurrency", str(connect_concurrency)]
        procs.append(stack.spawn(label, args))
        reports.append(report)
    return SwarmHandle(procs, reports, clients)


def histogram(report: dict) -> Counter:
    """The latency histogram (ms → count) of a report."""
    return Counter({int(k): v for k, v in report.get("latency_ms", {}).items()})


def histogram_percentiles(counts: Counter, fractions=(0.5, 0.95, 0.99)) -> dict:
    """Nearest-rank percentiles (and max, count) of a ms → count histogram."""
    total = sum(counts.values())
    result = {"count": total, "max": max(counts) if counts else None}
    if not total:
        return {**result, **dict.fromkeys(fractions)}
    ordered = sorted(counts.items())
    for fraction in fractions:
        rank, seen = max(1, math.ceil(fraction * total)), 0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                result[fraction] = value
                break
    return result
