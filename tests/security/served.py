"""A real ``manage.py serve --no-bridge`` on a free port over a seeded SQLite database, for the
security tests that must see daphne itself (request bodies, socket sessions)."""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """A running server: its port, process, log file, environment and seed (staff session, dashboards)."""

    port: int
    process: subprocess.Popen
    log: Path
    env: dict
    seed: dict

    def rss_kb(self) -> int:
        """The server process's resident memory now, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def django(self, code: str) -> str:
        """Run Python with Django set up on the server's database; its printed output."""
        done = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout


@contextlib.contextmanager
def serving(directory: Path, statistics: int = 5, **extra_env: str):
    """Migrate, seed (a staff user ``bench`` with a session, one dashboard and its wall) and serve."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "contactboard.settings", "DEBUG": "false",
           "SECRET_KEY": "security-test-" + uuid.uuid4().hex, "ALLOWED_HOSTS": "127.0.0.1",
           "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}", "REDIS_URL": "", "BRIDGE_EMBEDDED": "false",
           **extra_env}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    plan = {"statistics": [["Agent", f"agent-{i:04d}", "CurrentAgentState"] for i in range(statistics)],
            "dashboards": 1}
    (directory / "plan.json").write_text(json.dumps(plan))
    subprocess.run([sys.executable, "-m", "bench.seed", "--plan", str(directory / "plan.json"),
                    "--out", str(directory / "seed.json")], cwd=ROOT, env=env, check=True)
    seed = json.loads((directory / "seed.json").read_text())
    port = free_port()
    log_path = directory / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "manage.py", "serve", "--no-bridge", "--port", str(port)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "listening on" in log_path.read_text() or process.poll() is not None, 60, "serve to listen")
        assert process.poll() is None, log_path.read_text()
        yield Served(port, process, log_path, env, seed)
    finally:
        process.terminate()
        process.wait(20)
