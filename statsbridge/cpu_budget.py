"""A CPU budget for the frame floor (pure: the clocks are injected, no I/O).

The self-clocked fan-out (``statsbridge.clocking``) sends a dashboard its next batch as
soon as the last one reached its sockets and ``FRAME_FLOOR_SECONDS`` passed. At moderate
rates nearly every update is then its own frame to every socket, and a socket frame costs
the web process far more than a value in a frame does (docs/benchmarks.md: 149 µs of web
CPU per delivered value at 200 updates/s against 5 µs at 10,000). Low latency is worth
that while the CPU is free; when it is not, the same CPU buys more values in fewer frames.

``FloorGovernor`` measures the publishing process's CPU share (``time.process_time``,
every thread, over ``PERIOD_SECONDS``) and steers the floor: over ``FRAME_CPU_BUDGET``
cores it grows, under ``SLACK`` × the budget it shrinks back towards
``FRAME_FLOOR_SECONDS``, between the two it holds (no hunting around the budget). The
step is proportional (``next_floor``): where the floor is what paces a dashboard, its
frames a second, and so most of the fan-out's CPU, go as 1/floor; the CPU that does not
(ingest, decoding, history) is why the step is capped (``GROW_LIMIT``, ``SHRINK_LIMIT``)
and repeated each period rather than trusted in one go. It shrinks faster than it grows:
CPU over budget for a second costs little, a floor left high after a burst (a reconnect
storm's snapshots, start-up) costs every value its latency. The floor never exceeds
``FLOOR_CEILING_SECONDS``, the fixed tick the fan-out had before it was self-clocked, so
a starved process is never slower than that tick was.

Only batches are clocked: status frames (bridge up/down, upstream lost) and alerts leave
at once whatever the floor, and the publishing loop's waits stay capped at the configured
floor, not the grown one, so a connection change is seen as fast as before (STALE ≤ 2 s).
"""

import time

FLOOR_CEILING_SECONDS = 0.25  # the old fixed tick: a grown floor never exceeds it
PERIOD_SECONDS = 1.0  # the CPU share is measured over this much wall time
GROW_LIMIT = 2.0  # the floor grows by at most this factor a period
SHRINK_LIMIT = 4.0  # and shrinks by at most this factor a period (0.25 s → 15 ms in 2-3 s)
SLACK = 0.8  # under SLACK × budget the floor shrinks; between that and the budget it holds


def next_floor(floor: float, share: float, budget: float, base: float,
               ceiling: float = FLOOR_CEILING_SECONDS) -> float:
    """Pure: the floor for the next period, from this period's CPU ``share`` (cores) and ``budget``.

    ``base`` is the configured floor (the least it may be); a budget ≤ 0 means no budget.
    """
    if budget <= 0:
        return base
    if share > budget:
        factor = min(GROW_LIMIT, share / budget)
    elif share < SLACK * budget:
        factor = max(1 / SHRINK_LIMIT, share / (SLACK * budget))
    else:
        return floor
    return min(max(ceiling, base), max(base, floor * factor))


class FloorGovernor:
    """The frame floor under a CPU budget: ``observe()`` returns it, re-decided once a period."""

    def __init__(self, base: float, budget: float, *, ceiling: float = FLOOR_CEILING_SECONDS,
                 period: float = PERIOD_SECONDS, cpu_time=time.process_time, monotonic=time.monotonic):
        self.base = base
        self.budget = budget
        self.ceiling = ceiling
        self.period = period
        self.floor = base
        self.share: float | None = None  # the CPU share of the last full period (cores)
        self._cpu_time = cpu_time
        self._monotonic = monotonic
        self._since: tuple[float, float] | None = None  # (wall, cpu) at the start of this period

    def observe(self) -> float:
        """The floor now; once ``period`` passed since the last decision, decided again from the
        CPU share since then (a period the loop spent idle counts as the idle it was)."""
        if self.budget <= 0:
            return self.floor
        # The wall clock first: the CPU clock is a system call (not a vDSO read), and the
        # publishing loop calls this on every turn (py-spy: 1.3 % of the process when read each time).
        now = self._monotonic()
        if self._since is None:
            self._since = (now, self._cpu_time())
            return self.floor
        wall = now - self._since[0]
        if wall < self.period:
            return self.floor
        cpu = self._cpu_time()
        self.share = (cpu - self._since[1]) / wall
        self._since = (now, cpu)
        self.floor = next_floor(self.floor, self.share, self.budget, self.base, self.ceiling)
        return self.floor
