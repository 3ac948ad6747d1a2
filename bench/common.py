"""What every benchmark shares: modes, figures, targets, results, the machine it ran on.

A benchmark is a module with ``async def run(ctx: Context, result: Result)`` that fills
``result`` (see ``bench/__main__.py`` for the list). Every figure is reported as
a ratio against a peer or a limit measured (or fixed, for targets) in the same run,
because this machine is shared and noisy and absolute numbers drift between runs.
"""

import datetime
import json
import math
import os
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
SMOKE_RESULTS_DIR = RESULTS_DIR / "smoke"

AT_LEAST = ">="
AT_MOST = "<="


@dataclass(frozen=True)
class Target:
    """A bound on a figure's ratio: ``ratio >= bound`` or ``ratio <= bound``."""

    op: str
    bound: float

    def met(self, ratio: float | None) -> bool | None:
        """Whether ``ratio`` meets the target (None when there is no ratio)."""
        if ratio is None or not math.isfinite(ratio):
            return None
        return ratio >= self.bound if self.op == AT_LEAST else ratio <= self.bound

    def text(self) -> str:
        """How the target reads in the table, e.g. ``≥ 0.8×``."""
        return f"{'≥' if self.op == AT_LEAST else '≤'} {self.bound:g}×"


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference``, or None when either is missing or the reference is zero."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


@dataclass
class Figure:
    """One measured figure, its reference (a peer or a limit) and the ratio between them."""

    name: str
    value: float | None
    unit: str
    reference: str
    reference_value: float | None
    target: Target | None = None
    ratio: float | None = None
    met: bool | None = None

    def __post_init__(self) -> None:
        self.ratio = ratio(self.value, self.reference_value)
        self.met = self.target.met(self.ratio) if self.target else None


@dataclass
class Result:
    """What one benchmark run produced."""

    name: str
    title: str
    mode: str
    command: str
    figures: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    profile: str | None = None
    # Extra tables (e.g. a curve): {"title", "columns": [names], "rows": [[cells]]}.
    tables: list = field(default_factory=list)
    error: str | None = None
    started: str = ""
    seconds: float = 0.0
    machine: dict = field(default_factory=dict)

    def add(self, *args, **kwargs) -> Figure:
        """Add a :class:`Figure` (same arguments) and return it."""
        figure = Figure(*args, **kwargs)
        self.figures.append(figure)
        return figure

    def missed(self) -> list:
        """Figures whose target was missed."""
        return [f for f in self.figures if f.met is False]

    def to_json(self) -> dict:
        """The JSON document written to the results file."""
        data = asdict(self)
        for figure in data["figures"]:
            if figure["target"] is not None:
                target = figure["target"]
                figure["target"] = {**target, "text": Target(**target).text()}
        return data


@dataclass(frozen=True)
class Context:
    """How a benchmark should run: smoke (seconds, for CI) or full, and where results go."""

    smoke: bool
    results_dir: Path
    hour: bool = False

    @property
    def mode(self) -> str:
        """``smoke``, ``full`` or ``hour`` (the browser benchmark's one-hour mode)."""
        return "smoke" if self.smoke else ("hour" if self.hour else "full")

    def pick(self, smoke, full, hour=None):
        """The setting for this mode."""
        if self.smoke:
            return smoke
        return hour if (self.hour and hour is not None) else full


def machine() -> dict:
    """The machine a result was measured on: cores, memory, CPU model, Python, load at the start."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "cpu": model,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        # Other work on this shared machine at the start of the run.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def now_iso() -> str:
    """Current UTC time, to the second."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def command_line(name: str, ctx: Context) -> str:
    """The exact command that reproduces a run."""
    args = [".venv/bin/python", "-m", "bench", name]
    if ctx.smoke:
        args.append("--smoke")
    if ctx.hour:
        args.append("--hour")
    return shlex.join(args)


def write_result(result: Result, directory: Path) -> Path:
    """Write ``<directory>/<name>.json`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.name}.json"
    path.write_text(json.dumps(result.to_json(), indent=2, sort_keys=False) + "\n")
    return path
