"""``manage.py demo``: one command brings up simulator, bridge and web server, seeded and moving."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def fetch(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def start_demo(database: Path) -> tuple[subprocess.Popen, list[str]]:
    """``manage.py demo`` on free ports and this SQLite file; its output lines collect in the list."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "contactboard.settings", "DEBUG": "true",
           "DATABASE_URL": f"sqlite:///{database}", "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    env.pop("SECRET_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", "0", "--sim-port", "0", "--control-key", "k-test"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    return process, lines


def stop_demo(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def printed(lines: list[str]) -> str:
    return wait_for(lambda: "".join(lines) if "pull the plug" in "".join(lines) else None, 30,
                    "the demo did not print its URLs")


@pytest.fixture
def demo_process(tmp_path):
    process, lines = start_demo(tmp_path / "demo.sqlite3")
    try:
        yield process, lines
    finally:
        stop_demo(process)


def test_a_restarted_demo_keeps_its_data_and_its_wall_link(tmp_path):
    database = tmp_path / "demo.sqlite3"
    process, lines = start_demo(database)
    try:
        first = printed(lines)
    finally:
        stop_demo(process)
    assert re.search(r"seeded:\s+overview, agents, queues, agents-", first)
    process, lines = start_demo(database)
    try:
        second = printed(lines)
        wall = re.search(r"wall:\s+http://\S+(/wall/[\w-]+/)", second).group(1)
        base = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", second).group(1)
        assert wall == re.search(r"wall:\s+http://\S+(/wall/[\w-]+/)", first).group(1), "the wall link changed"
        assert "seeded:      nothing new (kept the rest from the last run)" in second
        status, html = fetch(base + wall)
        assert status == 200 and "Contact-centre overview" in html
    finally:
        stop_demo(process)


def test_demo_prints_where_everything_is_and_values_move(demo_process):
    process, lines = demo_process
    output = printed(lines)
    base = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", output).group(1)
    wall = re.search(r"wall:\s+(http://\S+/wall/[\w-]+/)", output).group(1)
    simulator = re.search(r"simulator:\s+(http://\S+?)/?\s+control key: k-test", output).group(1)
    assert re.search(r"login:\s+demo / \S+", output)
    assert f"{base}/d/overview/" in output

    wait_for(lambda: fetch(f"{base}/readyz")[0] == 200, 15, "the demo's bridge never became ready")
    state = json.loads(fetch(f"{simulator}/simulator/state", headers={"x-simulator-key": "k-test"})[1])
    assert state["serviceState"] == "AVAILABLE"

    def readings():
        status, html = fetch(wall)
        assert status == 200
        return dict(re.findall(r'data-statistic="(\w+)" data-value="[^"]*" data-state="fresh"[^>]*data-as-of="(\d+)"', html))

    first = wait_for(readings, 10, "the wall showed no fresh value")
    wait_for(lambda: any(readings().get(k, v) != v for k, v in first.items()), 15, "no value moved on the wall")
    assert process.poll() is None
