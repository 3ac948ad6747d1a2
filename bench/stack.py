"""The system under test, as real processes on 127.0.0.1: simulator, database, web and bridge.

``Stack`` owns a temporary folder (SQLite database, logs, seed files) or, for
scale-out, a fresh PostgreSQL database and a Redis database claimed for the run
(emptied when claimed and when released); it starts and stops every process it
made, and nothing else.

Environment: ``BENCH_KEEP_LOGS=DIR`` keeps every process's log in ``DIR/<stack>/``;
``BENCH_SETTINGS_MODULE=module`` runs the Django processes with a candidate settings
module (one that imports ``contactboard.settings`` and changes it) instead of the default.
"""

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.common import REPO
from bench.procs import PYTHON, BenchError, Proc, free_port, port_open, wait_until
from bench.workload import agents_for, plan_statistics

CONTROL_KEY = "demo-control-key"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_ADDRESS = "redis://127.0.0.1:6379"
# Benchmarks claim one of these Redis databases for a run (others' tests use 0).
REDIS_DATABASES = range(8, 16)
REDIS_OWNER_KEY = "bench:owner"
STARTUP_SECONDS = 60.0


@dataclass
class Web:
    """A web process and the port it serves on."""

    proc: Proc
    port: int

    @property
    def url(self) -> str:
        """Its base HTTP URL."""
        return f"http://127.0.0.1:{self.port}"


class Stack:
    """Processes and data of one benchmark run; use as ``async with Stack(...) as stack``."""

    def __init__(self, name: str, *, redis: bool = False, postgres: bool = False, keep_logs: Path | None = None):
        self.name = name
        self.redis = redis
        self.postgres = postgres
        self.dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self.keep_logs = keep_logs or (Path(os.environ["BENCH_KEEP_LOGS"]) / name
                                       if os.environ.get("BENCH_KEEP_LOGS") else None)
        self.procs: list = []
        self.sim_port = 0
        self.sim_proc: Proc | None = None
        self.seed: dict = {}
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.database = f"bench_{self.prefix}"
        self._http: aiohttp.ClientSession | None = None
        self._db_created = False
        self.redis_url = ""

    async def __aenter__(self) -> "Stack":
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        if self.redis:
            self.redis_url = await asyncio.to_thread(_claim_redis_database, self.prefix)
        return self

    async def __aexit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self._http is not None:
            await self._http.close()
        if self.redis_url:
            await asyncio.to_thread(_release_redis_database, self.redis_url)
        if self._db_created:
            _postgres(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.keep_logs is not None:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in self.dir.glob("*.log"):
                shutil.copy(log, self.keep_logs / log.name)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- processes ----------------------------------------------------------

    def spawn(self, name: str, args: list, env: dict | None = None) -> Proc:
        """Start a child process logged to this stack's folder; it is stopped on exit."""
        proc = Proc(name, args, env=env, log_dir=self.dir)
        self.procs.append(proc)
        return proc

    async def stop(self, proc: Proc) -> None:
        """Stop one process early (e.g. between phases)."""
        await asyncio.to_thread(proc.stop)
        self.procs.remove(proc)

    @property
    def sim_url(self) -> str:
        """The simulator's base URL."""
        return f"http://127.0.0.1:{self.sim_port}"

    async def start_simulator(self, statistics: int) -> None:
        """Start the simulator with enough agents for ``statistics`` benchmark statistics."""
        self.sim_port = free_port()
        self.sim_proc = self.spawn("simulator", [PYTHON, "-m", "bench.simproc", "--port", str(self.sim_port),
                                                 "--agents", str(max(24, agents_for(statistics)))])
        await wait_until(lambda: port_open(self.sim_port), STARTUP_SECONDS, "the simulator to listen",
                         check=self.sim_proc.check_alive)

    def django_env(self, **extra) -> dict:
        """Environment of every Django process of this stack."""
        env = {
            # BENCH_SETTINGS_MODULE measures a candidate configuration (a module that
            # imports contactboard.settings and changes it) against the default.
            "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "contactboard.settings"),
            "SECRET_KEY": "bench-secret-key-not-secret-0123456789abcdefghijklmnop",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "GENESYS_API_URL": self.sim_url,
            "PYTHONUNBUFFERED": "1",
        }
        if self.postgres:
            env["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{self.database}"
        else:
            env["DATABASE_URL"] = f"sqlite:///{self.dir / 'db.sqlite3'}"
        if self.redis:
            env["REDIS_URL"] = self.redis_url
            env["CACHE_KEY_PREFIX"] = self.prefix
        env.update({k: str(v) for k, v in extra.items()})
        return env

    async def prepare(self, statistics: int, dashboards: int, *, kpi_tiles: bool = False) -> dict:
        """Migrate a fresh database and seed ``statistics`` statistics over ``dashboards`` dashboards."""
        if self.postgres:
            _postgres(f'CREATE DATABASE "{self.database}"')
            self._db_created = True
        env = {**os.environ, **self.django_env()}
        await _run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env, "migrate")
        catalog = await self.sim_get("/simulator/catalog")
        planned = plan_statistics(catalog["objects"]["Agent"], statistics)
        plan_path, out_path = self.dir / "plan.json", self.dir / "seed.json"
        plan_path.write_text(json.dumps({"statistics": planned, "dashboards": dashboards, "kpi_tiles": kpi_tiles}))
        await _run([PYTHON, "-m", "bench.seed", "--plan", str(plan_path), "--out", str(out_path)], env, "seeding")
        self.seed = json.loads(out_path.read_text())
        self.seed["planned"] = planned
        return self.seed

    async def start_web(self, name: str = "web", *, bridge: bool = True, module: list | None = None,
                        env: dict | None = None) -> Web:
        """Start daphne (``manage.py serve``, or ``module`` args with ``--port``) and wait until it listens."""
        port = free_port()
        args = [PYTHON, *(module or ["manage.py", "serve", "--bridge" if bridge else "--no-bridge"]),
                "--port", str(port)]
        proc = self.spawn(name, args, self.django_env(BRIDGE_EMBEDDED=str(bridge).lower(), **(env or {})))
        await wait_until(lambda: port_open(port), STARTUP_SECONDS, f"{name} to listen", check=proc.check_alive)
        return Web(proc, port)

    async def start_runbridge(self, name: str = "bridge", env: dict | None = None) -> tuple:
        """Start ``manage.py runbridge`` with its /metrics; returns ``(proc, metrics port)``."""
        port = free_port()
        proc = self.spawn(name, [PYTHON, "manage.py", "runbridge", "--metrics-port", str(port)],
                          self.django_env(BRIDGE_EMBEDDED="false", **(env or {})))
        await wait_until(lambda: port_open(port), STARTUP_SECONDS, f"{name} metrics to listen", check=proc.check_alive)
        return proc, port

    # -- simulator control --------------------------------------------------

    async def sim_get(self, path: str) -> dict:
        """GET a control-API path of the simulator."""
        async with self._http.get(self.sim_url + path, headers={"x-simulator-key": CONTROL_KEY}) as response:
            if response.status != 200:
                raise BenchError(f"simulator GET {path}: HTTP {response.status}")
            return await response.json()

    async def sim_post(self, path: str, body: dict) -> dict:
        """POST to a control-API path of the simulator."""
        async with self._http.post(self.sim_url + path, json=body, headers={"x-simulator-key": CONTROL_KEY}) as response:
            if response.status != 200:
                raise BenchError(f"simulator POST {path}: HTTP {response.status}")
            return await response.json()

    async def set_load(self, updates_per_second: float, *, changing: bool = False) -> None:
        """Extra updates per second spread over every subscribed statistic (0 stops); each
        repeats the statistic's value with a new time, or with ``changing`` moves it by one."""
        await self.sim_post("/simulator/load", {"updates_per_second": updates_per_second, "changing": changing})

    async def sim_state(self) -> dict:
        """The simulator's counts."""
        return await self.sim_get("/simulator/state")

    async def wait_subscribed(self, statistics: int, timeout: float = 60.0, check=None) -> float:
        """Wait until the simulator holds at least ``statistics`` subscribed statistics."""
        async def enough() -> bool:
            return (await self.sim_state())["statistics"] >= statistics
        return await wait_until(enough, timeout, f"{statistics} statistics subscribed upstream", interval=0.1,
                                check=check)

    async def get_metric(self, port: int, name: str) -> float:
        """One sample of a Prometheus metric (summing label sets) from ``/metrics`` on ``port``."""
        async with self._http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
        return prometheus_value(text, name)


def prometheus_value(text: str, name: str) -> float:
    """Sum of every sample named exactly ``name`` in a Prometheus exposition."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric = line.split(" ", 1)[0].split("{", 1)[0]
        if metric == name:
            total += float(line.rsplit(" ", 1)[1])
            found = True
    if not found:
        raise BenchError(f"metric {name} not exported")
    return total


async def _run(args: list, env: dict, what: str) -> None:
    """Run a short command to completion; raise with its output if it fails."""
    process = await asyncio.create_subprocess_exec(*args, env=env, cwd=REPO,
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 300)
    except TimeoutError:
        process.kill()
        raise BenchError(f"{what} took longer than 300 s") from None
    if process.returncode != 0:
        raise BenchError(f"{what} failed ({process.returncode}):\n{output.decode(errors='replace')[-3000:]}")


def _claim_redis_database(owner: str) -> str:
    """Claim a free benchmark Redis database, empty it, and return its URL.

    Emptying matters: channels_redis group memberships of an earlier run's killed
    processes would otherwise linger for a day. Claiming keeps concurrent runs apart.
    """
    import redis

    for number in REDIS_DATABASES:
        client = redis.Redis.from_url(f"{REDIS_ADDRESS}/{number}")
        try:
            if client.set(REDIS_OWNER_KEY, owner, nx=True, ex=3600):
                client.flushdb()
                client.set(REDIS_OWNER_KEY, owner, ex=3600)
                return f"{REDIS_ADDRESS}/{number}"
        finally:
            client.close()
    raise BenchError(f"every benchmark Redis database ({REDIS_DATABASES.start}-{REDIS_DATABASES.stop - 1}) is in use")


def _release_redis_database(url: str) -> None:
    """Empty a claimed database, which also releases the claim."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _postgres(sql: str) -> None:
    """Run one administrative statement on the machine's PostgreSQL."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)
