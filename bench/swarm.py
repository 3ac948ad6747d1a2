"""The harness side of ``bench.wsclients``: start a swarm, wait for it, read and diff its reports."""

import json
import math
from collections import Counter

from bench.procs import PYTHON, BenchError, Proc, wait_until
from bench.stack import Stack


class SwarmHandle:
    """A running client swarm and its report file."""

    def __init__(self, proc: Proc, report_path, clients: int):
        self.proc = proc
        self.report_path = report_path
        self.clients = clients

    def report(self) -> dict:
        """The latest report (empty before the first one)."""
        try:
            return json.loads(self.report_path.read_text())
        except (OSError, ValueError):
            return {}

    async def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait until every client is connected and has its snapshot."""
        async def ready() -> bool:
            report = self.report()
            if report.get("errors"):
                raise BenchError(f"WebSocket clients failed to connect: {report['errors']}")
            return report.get("connected", 0) >= self.clients and report.get("snapshots", 0) >= self.clients
        return await wait_until(ready, timeout, f"{self.clients} WebSocket clients with snapshots",
                                check=self.proc.check_alive)


async def start_swarm(stack: Stack, web, clients: int, name: str = "clients", *,
                      walls: bool = False, dashboards: list | None = None) -> SwarmHandle:
    """Start ``clients`` WebSocket clients spread round-robin over the seeded dashboards.

    ``web`` is one :class:`Web` or a list of them (clients alternate between servers).
    """
    webs = web if isinstance(web, list) else [web]
    seeded = dashboards or stack.seed["dashboards"]
    key = "wall_token" if walls else "slug"
    targets = [seeded[i % len(seeded)][key] for i in range(clients)]
    targets_path = stack.dir / f"{name}.targets.json"
    targets_path.write_text(json.dumps(targets))
    report = stack.dir / f"{name}.report.json"
    urls = [arg for w in webs for arg in ("--url", f"ws://127.0.0.1:{w.port}")]
    args = [PYTHON, "-m", "bench.wsclients", *urls, "--targets", str(targets_path), "--clients", str(clients),
            "--session", stack.seed["session"], "--report", str(report)]
    if walls:
        args.append("--walls")
    proc = stack.spawn(name, args)
    return SwarmHandle(proc, report, clients)


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
