"""py-spy profiles of a running process, summarised as the functions that take the time."""

import asyncio
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.common import REPO

TOP = 15


def stacks(collapsed: str):
    """``(frames, samples)`` of each line of py-spy's collapsed (raw) output, root frame first."""
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def summarise(collapsed: str, top: int = TOP) -> str:
    """Top functions by own (leaf) samples and by inclusive samples, from collapsed stacks."""
    own, inclusive, total = Counter(), Counter(), 0
    for frames, samples in stacks(collapsed):
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "own time (leaf frames):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time (project code):"]
    project = [(frame, n) for frame, n in inclusive.most_common() if "statsbridge" in frame or "dashboard" in frame]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in project[:top]]
    return "\n".join(lines)


def stage_shares(collapsed: str, stages: list[tuple[str, tuple[str, ...]]], waiting: tuple[str, ...]) -> str:
    """Where the busy samples went, by stage: each stack goes to the first stage one of
    whose patterns is in any of its frames (so list the inner stages first), else "other".

    Stacks whose leaf frame contains a ``waiting`` pattern (a selector's poll, an idle
    worker's queue) are counted apart: py-spy cannot always tell a thread waiting in a
    system call from one running, and they are no stage's work.
    """
    counts: Counter = Counter()
    waited = busy = 0
    for frames, samples in stacks(collapsed):
        if any(pattern in frames[-1] for pattern in waiting):
            waited += samples
            continue
        busy += samples
        stage = next((name for name, patterns in stages if any(p in f for p in patterns for f in frames)), "other")
        counts[stage] += samples
    if not busy:
        return "no busy samples"
    lines = [f"by stage ({busy} busy samples; {waited} more waiting in a poll or an idle worker):"]
    lines += [f"  {100 * n / busy:5.1f}%  {name}" for name, n in counts.most_common()]
    return "\n".join(lines)


async def profile_process(pid: int, seconds: float, out: Path, stages=None, waiting=()) -> str | None:
    """Sample ``pid`` with py-spy for ``seconds``; return the summary (None if py-spy is missing),
    preceded by ``stage_shares`` when ``stages`` are given."""
    spy = shutil.which("py-spy") or str(REPO / ".venv" / "bin" / "py-spy")
    if not await asyncio.to_thread(Path(spy).exists):
        return None
    process = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200", "--format", "raw",
        "--nonblocking", "--output", str(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, error = await asyncio.wait_for(process.communicate(), seconds + 30)
    except TimeoutError:
        process.kill()
        return "py-spy did not finish in time"
    if process.returncode != 0 or not await asyncio.to_thread(out.exists):
        return f"py-spy failed: {error.decode(errors='replace')[-500:]}"
    # The raw profile can be large: read it off the event loop, which may be running the benchmark.
    collapsed = await asyncio.to_thread(out.read_text)
    summary = summarise(collapsed)
    return f"{stage_shares(collapsed, stages, waiting)}\n\n{summary}" if stages else summary


def summarise_cpu_profile(profile: dict, top: int = TOP) -> str:
    """Top functions by self time of a Chrome DevTools ``Profiler.stop`` profile (idle excluded)."""
    by_id = {node["id"]: node for node in profile.get("nodes", [])}
    own: Counter = Counter()
    for node_id, delta in zip(profile.get("samples", []), profile.get("timeDeltas", []), strict=True):
        frame = by_id.get(node_id, {}).get("callFrame", {})
        name = frame.get("functionName") or "(anonymous)"
        url = frame.get("url", "").rsplit("/", 1)[-1]
        own[f"{name} {url}:{frame.get('lineNumber', -1) + 1}" if url else name] += delta
    idle = own.pop("(idle)", 0)
    busy = sum(own.values())
    if not busy:
        return "no busy samples"
    lines = [f"{busy / 1000:.0f} ms busy, {idle / 1000:.0f} ms idle; self time:"]
    lines += [f"  {100 * t / busy:5.1f}%  {name}" for name, t in own.most_common(top)]
    return "\n".join(lines)
