"""The whole product running for the fault matrix: simulator behind a cuttable proxy,
web process(es), the bridge (embedded, or two ``runbridge`` on a private Redis), and
Chromium with a desk dashboard and a wall page open.

Everything is a real process or server on 127.0.0.1; every wait is a condition with a
deadline. Helpers shared with the browser suite come from ``tests.browser.conftest``.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from statsbridge.lease import holder_of
from statsbridge.simulator import SimulatorThread
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, login, manage
from tests.fixtures_simulator import fast_config
from tests.reliability.proxy import CuttableProxy
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
CONTROL_KEY = "reliability-control-key"
TILES_JS = ("() => [...document.querySelectorAll('[data-statistic]')]"
            ".map((t) => [t.dataset.statistic, t.dataset.value, t.dataset.state])")
BANNER_JS = "() => document.getElementById('connection-banner').dataset.state"


def rss_kb(pid: int) -> int | None:
    """Resident set size of a process from /proc, in KiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def thread_cpu_wait(pid: int, tid: int | None) -> float:
    """Seconds a thread has spent runnable but not running (``/proc/<pid>/task/<tid>/schedstat``);
    0 for one that is gone."""
    try:
        return int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class SimulatorControl:
    """The simulator on a fixed port, killable and restartable, and its control API."""

    def __init__(self, **overrides):
        self.port = free_port()
        self.config = fast_config(**{"port": self.port, "tick_seconds": 0.5, "control_key": CONTROL_KEY,
                                     "session_expiry_seconds": 3.0, **overrides})
        self.thread: SimulatorThread | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the simulator on its port."""
        self.thread = SimulatorThread(self.config).start()

    def kill(self) -> None:
        """Stop it: its sessions, tokens and subscriptions are gone with it."""
        if self.thread is not None:
            self.thread.stop()
            self.thread = None

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One control API call; raises on HTTP errors."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"x-simulator-key": self.config.control_key,
                                                  "content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.load(reply)

    def truth(self) -> dict | None:
        """``{statisticId: item}`` of every subscribed statistic, or None while it is down."""
        if self.thread is None:
            return None
        try:
            return {item["statisticId"]: item for item in self.call("GET", "/simulator/values")["values"]}
        except (OSError, urllib.error.URLError):
            return None

    def state(self) -> dict:
        """``GET /simulator/state``."""
        return self.call("GET", "/simulator/state")


@dataclass
class Managed:
    """A ``manage.py`` child process we may kill and start again."""

    name: str
    args: list[str]
    env: dict
    log: Path
    health_url: str | None = None
    process: subprocess.Popen | None = None
    deliberate_exits: int = 0

    def start(self) -> None:
        """Start it; with a health URL, wait until it answers."""
        with self.log.open("a") as handle:
            self.process = subprocess.Popen([sys.executable, "manage.py", *self.args], cwd=ROOT, env=self.env,
                                            stdout=handle, stderr=subprocess.STDOUT)
        if self.health_url:
            wait_for(self._healthy, 30, f"{self.name} did not start; see {self.log}", interval=0.1)

    def _healthy(self) -> bool:
        assert self.process.poll() is None, f"{self.name} exited at start; see {self.log}"
        try:
            with urllib.request.urlopen(self.health_url, timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no goodbye to anyone."""
        if self.alive:
            self.deliberate_exits += 1
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it hangs."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """Its pid while it runs."""
        return self.process.pid if self.alive else None


class PrivateRedis:
    """A redis-server of our own (no persistence), so restarting it disturbs nobody else."""

    def __init__(self, home: Path):
        self.port = free_port()
        self.home = home
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait for PONG."""
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.home)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._pong, 10, "redis-server did not start", interval=0.05)

    def _pong(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL it: every lease, cached value and channel-layer group is lost."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    @property
    def alive(self) -> bool:
        """Whether it runs."""
        return self.process is not None and self.process.poll() is None


@dataclass
class Stack:
    """One running deployment ("embedded" or "runbridge") and its open pages."""

    mode: str
    home: Path
    simulator: SimulatorControl = field(default_factory=SimulatorControl)
    proxy: CuttableProxy | None = None
    redis: PrivateRedis | None = None
    web: Managed | None = None
    bridges: list[Managed] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    database: str | None = None
    seeded: dict = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    pages: dict = field(default_factory=dict)
    extra_env: dict = field(default_factory=dict)

    # -- start and stop -------------------------------------------------------------------

    def start(self) -> None:
        """Simulator, proxy, database, processes; seeded with the demo dashboards."""
        self.simulator.start()
        self.proxy = CuttableProxy(self.simulator.port).start()
        run = uuid.uuid4().hex[:8]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "contactboard.settings",
            "SECRET_KEY": f"reliability-{run}-0123456789abcdef0123456789abcdef",
            "DEBUG": "false",
            "GENESYS_API_URL": self.proxy.url,
            "LOG_LEVEL": "INFO",
            "GENESYS_API_KEY": self.simulator.config.api_key,
            "GENESYS_CLIENT_ID": self.simulator.config.client_id,
            "GENESYS_CLIENT_SECRET": self.simulator.config.client_secret,
            **self.extra_env,
        }
        self.env.pop("REDIS_URL", None)
        port = free_port()
        if self.mode == "embedded":
            self.env.update(DATABASE_URL=f"sqlite:///{self.home / 'db.sqlite3'}", BRIDGE_EMBEDDED="true")
            serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--bridge"]
        else:
            self.redis = PrivateRedis(self.home)
            self.redis.start()
            self.database = f"ccdash_reliability_{run}"
            with psycopg.connect("host=127.0.0.1 dbname=test", autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self.database}"')
            user = os.environ.get("USER", "root")
            self.env.update(DATABASE_URL=f"postgres://{user}@127.0.0.1:5432/{self.database}", REDIS_URL=self.redis.url,
                            CACHE_KEY_PREFIX=f"rel-{run}", BRIDGE_EMBEDDED="false")
            serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-bridge"]
        manage(self.env, "migrate", "--verbosity", "0")
        self.seeded = json.loads(manage(self.env, "seed_demo", "--simulator", self.simulator.url,
                                        "--control-key", self.simulator.config.control_key, "--seconds", "5"))
        self.keys = set(json.loads(manage(self.env, "shell", "-c", (
            "import json; from dashboard.models import WidgetStatistic as W; "
            "print(json.dumps(sorted(set(W.objects.values_list('statistic__key', flat=True)))))")).strip().splitlines()[-1]))
        self.web = Managed("web", serve, self.env, self.home / "web.log", health_url=f"http://127.0.0.1:{port}/healthz")
        self.web.start()
        if self.mode == "runbridge":
            for name in ("bridge-a", "bridge-b"):
                bridge = Managed(name, ["runbridge"], self.env, self.home / f"{name}.log")
                bridge.start()
                self.bridges.append(bridge)

    def stop(self) -> None:
        """Stop everything we started."""
        for process in [self.web, *self.bridges]:
            if process is not None:
                process.stop()
        if self.proxy is not None:
            self.proxy.stop()
        self.simulator.kill()
        if self.redis is not None:
            self.redis.kill()
        if self.database:
            with psycopg.connect("host=127.0.0.1 dbname=test", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    @property
    def base(self) -> str:
        """The web process's base URL."""
        return self.web.health_url.removesuffix("/healthz")

    # -- pages ------------------------------------------------------------------------------

    def open_pages(self, context) -> None:
        """A desk dashboard (the agent board, logged in) and the wall (overview + queues)."""
        desk = context.new_page()
        login(desk, self.base, self.seeded["username"], self.seeded["password"], "/d/agents/")
        wall = context.new_page()
        wall.goto(self.base + self.seeded["wall_path"])
        self.pages = {"desk": desk, "wall": wall}
        for page in self.pages.values():
            page.page_errors = []
            page.on("pageerror", lambda error, errors=page.page_errors: errors.append(str(error)))
            page.evaluate("() => { window.sameDocument = 'yes'; }")

    def tiles(self) -> dict[str, list]:
        """``{page: [[key, value, state], ...]}`` as the DOM shows them now."""
        return {name: page.evaluate(TILES_JS) for name, page in self.pages.items()}

    def banners(self) -> dict[str, str]:
        """The connection banner of each page."""
        return {name: page.evaluate(BANNER_JS) for name, page in self.pages.items()}

    # -- processes --------------------------------------------------------------------------

    def processes(self) -> list[Managed]:
        """Every product process (web and bridges)."""
        return [self.web, *self.bridges]

    def cpu_waits(self) -> dict[tuple[int, int], float]:
        """Seconds each event loop of the stack has spent runnable but waiting for a CPU, by
        (pid, thread id): each product process's main thread, and the simulator's thread
        here. A recovery's critical path runs through these loops, one after another."""
        loops = [(p.pid, p.pid) for p in self.processes() if p is not None and p.pid is not None]
        if self.simulator.thread is not None:
            loops.append((os.getpid(), self.simulator.thread.native_id))
        return {loop: thread_cpu_wait(*loop) for loop in loops}

    def lease_holder(self) -> Managed | None:
        """The runbridge holding the lease (runbridge mode)."""
        import redis

        client = redis.Redis.from_url(self.redis.url)
        try:
            holder = holder_of(client.get(f"{self.env['CACHE_KEY_PREFIX']}:sb:lease"))
        finally:
            client.close()
        if not holder:
            return None
        pid = int(holder.split(":")[1])
        return next((b for b in self.bridges if b.pid == pid), None)


def launch_chromium(playwright, profile: Path):
    """Debian's Chromium, headless, background networking off, fresh profile."""
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: run bin/setup --test"
    return playwright.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                         args=CHROMIUM_ARGS, viewport={"width": 1600, "height": 900})


def elapsed_since(start: float) -> float:
    """Seconds since a ``time.monotonic()`` reading."""
    return time.monotonic() - start
