"""Runs fault rows against one running stack and measures them.

For each repetition: inject the fault, hold it (sampling the pages all the while),
clear it, wait until the upstream holds exactly the configured statistics again, then
until every tile is fresh and seen equal to the truth; then check that no process died
and no page reloaded, and read every process's memory. Every wait is a condition
with a deadline.
"""

import time
from dataclasses import asdict, dataclass, field

from tests.reliability.faults import STALE_DEADLINE, Fault
from tests.reliability.observer import Observer
from tests.reliability.stack import Stack, rss_kb

SAMPLE_INTERVAL = 0.15
MEMORY_SLACK_KB = 40 * 1024  # allowed RSS growth of one process over the whole run


def cpu_withheld(before: dict, after: dict) -> float:
    """Seconds the stack's event loops waited for a CPU between two ``Stack.cpu_waits`` readings.

    The recovery bounds are the product's (lease, backoff, resubscribe); a shared machine
    that keeps the loops off the CPU (a CI neighbour at load 15 added 0.5 s) is not the
    product being slow, so that time is added to the bound. On a quiet machine it is close
    to zero and the bounds hold as written. Only loops running at both readings count (a
    bridge restarted meanwhile waits for a CPU while Python starts, off the recovery's path);
    their waits are summed, as a recovery passes through each in turn.
    """
    return sum(seconds - before[loop] for loop, seconds in after.items() if loop in before)


@dataclass
class FaultFigures:
    """What one fault row measured."""

    name: str
    mode: str
    runs: int = 0
    recoveries: int = 0
    worst_stale: float = 0.0
    worst_reconnect: float = 0.0
    worst_tiles: float = 0.0
    worst_recovery: float = 0.0
    worst_starved: float = 0.0  # seconds the stack waited for a CPU during one recovery
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def all_stale(tiles: dict, truth) -> bool:
    """Every tile of every page is marked STALE."""
    return all(rows and all(state == "stale" for _, _, state in rows) for rows in tiles.values())


class MatrixRun:
    """Drives faults against a started stack with its pages open."""

    def __init__(self, stack: Stack, *, repeats: int | None, cut_seconds: float):
        self.stack = stack
        self.repeats = repeats
        self.cut_seconds = cut_seconds
        self.observer = Observer(lag=STALE_DEADLINE)
        self.memory: dict[str, list[int]] = {}
        self.figures: list[FaultFigures] = []

    # -- sampling waits -----------------------------------------------------------------------

    def sample(self) -> tuple[dict, dict | None]:
        """One observation of every page and the truth, checked by the observer."""
        read_at = time.monotonic()
        tiles = self.stack.tiles()
        truth = self.stack.simulator.truth()
        self.observer.sample(tiles, truth, at=read_at)
        return tiles, truth

    def watch(self, seconds: float) -> None:
        """Sample for ``seconds`` (the fault is held meanwhile)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sample()
            time.sleep(SAMPLE_INTERVAL)

    def watch_until(self, condition, timeout: float) -> float | None:
        """Sample until ``condition(tiles, truth)`` holds; seconds taken, or None at the deadline."""
        start = time.monotonic()
        while True:
            tiles, truth = self.sample()
            if condition(tiles, truth):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                return None
            time.sleep(SAMPLE_INTERVAL)

    # -- the run ------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Wait for live pages showing the truth and exactly the configured subscriptions."""
        if self.watch_until(self.observer.recovered, 30) is None:
            states = {name: sorted({state for _, _, state in rows}) for name, rows in self.stack.tiles().items()}
            raise AssertionError(f"the pages never showed fresh values equal to the truth: banners "
                                 f"{self.stack.banners()}, tile states {states}; see the logs in {self.stack.home}")
        problem = self.check_upstream("start", timeout=10)
        assert problem is None, problem
        self.record_memory()

    def run_fault(self, fault: Fault) -> FaultFigures:
        """One row: the fault repeated (``--fault-repeats`` or its CI count)."""
        figures = FaultFigures(fault.name, self.stack.mode)
        self.figures.append(figures)
        for _ in range(self.repeats or fault.ci_repeats):
            seen = len(self.observer.violations)
            self.run_once(fault, figures)
            figures.failures += [f"run {figures.runs}: {v}" for v in self.observer.violations[seen:]]
            self.record_memory()
        return figures

    def run_once(self, fault: Fault, figures: FaultFigures) -> None:
        """Inject, hold, clear, recover, check."""
        figures.runs += 1
        fault.inject(self.stack)
        injected = time.monotonic()
        if fault.outage:
            self.observer.outage(fault.name, fault.stale_deadline)
        try:
            if fault.outage:
                took = self.watch_until(all_stale, fault.stale_deadline + 1.0)
                if took is None:
                    figures.failures.append(f"run {figures.runs}: not every tile STALE within {fault.stale_deadline} s")
                else:
                    figures.worst_stale = max(figures.worst_stale, round(took, 2))
            if fault.held_for_cut:
                self.watch(self.cut_seconds - (time.monotonic() - injected))
        finally:
            cleared = time.monotonic()
            waits_at_clear = self.stack.cpu_waits()
            fault.clear(self.stack)
            self.observer.outage_over()
        problem = self.check_upstream(fault.name, timeout=fault.reconnect_bound + 15)
        reconnected = time.monotonic()
        waits_at_reconnect = self.stack.cpu_waits()
        self.observer.outage_over()  # confirmations count from here on
        if problem:
            figures.failures.append(f"run {figures.runs}: {problem}")
            return
        tiles = self.watch_until(self.flowing_and_true(self.stack.tiles()), fault.tiles_bound + 15)
        if tiles is None:
            tiles, truth = self.sample()
            figures.failures.append(f"run {figures.runs}: tiles not fresh and true within {fault.tiles_bound + 15:.0f} s"
                                    f" ({self.observer.why_not_recovered(tiles, truth)}; banners {self.stack.banners()})")
            return
        reconnect_starved = cpu_withheld(waits_at_clear, waits_at_reconnect)
        tiles_starved = cpu_withheld(waits_at_reconnect, self.stack.cpu_waits())
        figures.worst_starved = max(figures.worst_starved, round(reconnect_starved + tiles_starved, 2))
        reconnect = reconnected - cleared
        figures.worst_reconnect = max(figures.worst_reconnect, round(reconnect, 2))
        figures.worst_tiles = max(figures.worst_tiles, round(tiles, 2))
        figures.worst_recovery = max(figures.worst_recovery, round(reconnect + tiles, 2))
        slow = []
        if reconnect > fault.reconnect_bound + reconnect_starved:
            slow.append(f"upstream restored {reconnect:.1f} s after clearing (bound {fault.reconnect_bound:g} s"
                        f" + {reconnect_starved:.1f} s the machine withheld the CPU)")
        if tiles > fault.tiles_bound + tiles_starved:
            slow.append(f"tiles true {tiles:.1f} s after the upstream was restored (bound {fault.tiles_bound:g} s"
                        f" + {tiles_starved:.1f} s the machine withheld the CPU)")
        problem = self.check_processes()
        if slow or problem:
            figures.failures += [f"run {figures.runs}: {text}" for text in [*slow, problem] if text]
        else:
            figures.recoveries += 1

    # -- checks -------------------------------------------------------------------------------

    def flowing_and_true(self, before: dict):
        """Recovered: every tile fresh and seen equal to the truth, and values are moving
        again (some tile differs from ``before``), so a frozen page cannot pass."""
        def check(tiles: dict, truth) -> bool:
            # A page missing from ``before`` (or with fewer rows) has nothing to compare: not strict.
            moved = any(row != old for name, rows in tiles.items()
                        for row, old in zip(rows, before.get(name, []), strict=False))
            return moved and self.observer.recovered(tiles, truth)
        return check

    def check_upstream(self, when: str, timeout: float) -> str | None:
        """Exactly the configured statistics subscribed upstream, each once, by exactly one
        CometD session of a live bridge (after a hard kill the dead bridge's session and
        subscriptions go after the simulator's session expiry)."""
        wanted = self.stack.keys
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = self.stack.simulator.state()
                ids = [item["statisticId"] for item in self.stack.simulator.call("GET", "/simulator/values")["values"]]
            except OSError as error:
                state, ids = {"statistics": None, "subscriptions": None, "error": str(error)}, []
            if (state["statistics"] == len(wanted) and len(ids) == len(set(ids)) and set(ids) == wanted
                    and state.get("sessions") == 1 and self.one_live_bridge()):
                return None
            if time.monotonic() > deadline:
                duplicated = sorted({i for i in ids if ids.count(i) > 1})
                return (f"after {when}: upstream holds {state['statistics']} statistics in {state['subscriptions']} "
                        f"subscriptions and {state.get('sessions')} CometD sessions (want 1; lease holder "
                        f"alive: {self.one_live_bridge()}) "
                        f"subscriptions for {len(wanted)} configured; missing {sorted(wanted - set(ids))[:5]}, "
                        f"duplicated {duplicated[:5]}, unexpected {sorted(set(ids) - wanted)[:5]}")
            self.sample()
            time.sleep(SAMPLE_INTERVAL)

    def one_live_bridge(self) -> bool:
        """In runbridge mode, a running bridge holds the lease."""
        if self.stack.mode != "runbridge":
            return True
        holder = self.stack.lease_holder()
        return holder is not None and holder.alive

    def check_processes(self) -> str | None:
        """No process died (those killed on purpose were started again) and no page reloaded."""
        dead = [p.name for p in self.stack.processes() if not p.alive]
        if self.stack.redis is not None and not self.stack.redis.alive:
            dead.append("redis")
        if dead:
            return f"processes died: {dead}"
        reloaded = [name for name, page in self.stack.pages.items() if page.evaluate("() => window.sameDocument") != "yes"]
        if reloaded:
            return f"pages reloaded: {reloaded}"
        errors = {name: page.page_errors[:3] for name, page in self.stack.pages.items() if page.page_errors}
        return f"page errors: {errors}" if errors else None

    def record_memory(self) -> None:
        """RSS of every product process now (keyed by name and pid: a restart is a new process)."""
        for process in self.stack.processes():
            if process.pid and (rss := rss_kb(process.pid)) is not None:
                self.memory.setdefault(f"{process.name}:{process.pid}", []).append(rss)

    def memory_report(self) -> tuple[dict, list[str]]:
        """Growth per process from its second reading (after warm-up) to its last."""
        report, problems = {}, []
        for name, readings in self.memory.items():
            if len(readings) < 3:
                continue
            growth = readings[-1] - readings[1]
            report[name] = {"first_kb": readings[1], "last_kb": readings[-1], "readings": len(readings)}
            if growth > MEMORY_SLACK_KB:
                problems.append(f"{name}: RSS grew {growth / 1024:.0f} MB over {len(readings)} readings")
        return report, problems
