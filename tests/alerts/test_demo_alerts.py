"""``manage.py demo --alert-webhook URL``: a service outage fires the demo's staleness rule's
webhook within 15 s, and AVAILABLE resolves it within 15 s."""

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from alerts.demo import STALE_RULE
from tests.alerts.receiver import Receiver
from tests.dashboard.test_demo import ROOT, fetch, printed, stop_demo
from tests.waiting import wait_for

SECRET = "demo-webhook-secret-0123456789"


class ThreadedReceiver:
    """The webhook receiver on a loop of its own thread (the demo is a child process)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.receiver = asyncio.run_coroutine_threadsafe(Receiver(SECRET).start(), self.loop).result(10)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def receiver():
    threaded = ThreadedReceiver()
    yield threaded.receiver
    threaded.stop()


def test_a_demo_outage_fires_the_staleness_webhook_and_available_resolves_it(tmp_path, receiver):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "contactboard.settings", "DEBUG": "true",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "LOG_LEVEL": "WARNING",
           "ALERT_WEBHOOK_SECRET": SECRET}
    env.pop("REDIS_URL", None)
    env.pop("SECRET_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", "0", "--sim-port", "0", "--control-key", "k-test",
         "--alert-webhook", receiver.url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
    try:
        output = printed(lines)
        assert f"alerts:      2 demo rules, posting to {receiver.url}" in output
        base = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", output).group(1)
        simulator = re.search(r"simulator:\s+(http://\S+?)/?\s+control key: k-test", output).group(1)
        wait_for(lambda: fetch(f"{base}/readyz")[0] == 200, 20, "the demo's bridge never became ready")
        control = {"x-simulator-key": "k-test", "content-type": "application/json"}

        def stale_notes(state):
            return sorted(n["dashboard"] for n in receiver.received if n["rule"] == STALE_RULE and n["state"] == state)

        assert stale_notes("firing") == []
        pulled = time.monotonic()
        fetch(f"{simulator}/simulator/service", json.dumps({"state": "UNAVAILABLE"}).encode(), control)
        wait_for(lambda: stale_notes("firing") == ["agents", "overview", "queues"], 15,
                 "the staleness webhook did not fire within 15 s of the outage")
        fired_after = time.monotonic() - pulled
        assert fired_after >= 9.5  # the rule says "for more than 10 s"
        note = next(n for n in receiver.received if n["rule"] == STALE_RULE)
        assert note["severity"] == "critical"
        assert "statistics service UNAVAILABLE" in note["text"]
        assert note["url"].startswith(f"{base}/alerts/")
        restored = time.monotonic()
        fetch(f"{simulator}/simulator/service", json.dumps({"state": "AVAILABLE"}).encode(), control)
        wait_for(lambda: stale_notes("resolved") == ["agents", "overview", "queues"], 15,
                 "the staleness alert did not resolve within 15 s of AVAILABLE")
        print(f"fired {fired_after:.1f} s after the outage, resolved {time.monotonic() - restored:.1f} s after AVAILABLE")
        stale_signed = [ok for ok, n in zip(receiver.signed, receiver.received, strict=True) if n["rule"] == STALE_RULE]
        assert stale_signed == [True] * 6
        assert stale_notes("firing") == ["agents", "overview", "queues"]  # each fired once
    finally:
        stop_demo(process)
