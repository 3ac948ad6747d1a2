"""Scale-out on the machine's Redis and PostgreSQL: two daphne web processes, two runbridges.

A client on each web process gets the same values; killing the active bridge makes
the standby take over within 5 s, with no duplicate upstream subscriptions.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
import pytest
import redis

from statsbridge.lease import holder_of
from statsbridge.simulator import start_simulator
from tests.bridge.processes import RemoteBrowser, free_port, get_json, same_fresh_values, seed_command
from tests.fixtures_simulator import fast_config
from tests.live import eventually

pytestmark = pytest.mark.scaleout

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

class Deployment:
    """The environment of one scale-out run, and the processes it started."""

    def __init__(self, simulator):
        run = uuid.uuid4().hex[:10]
        self.database = f"ccdash_scaleout_{run}"
        self.redis_db = 9
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "contactboard.settings",
            "SECRET_KEY": "scaleout-test-key-" + run,
            "DATABASE_URL": f"postgres://{os.environ.get('USER', 'root')}@127.0.0.1:5432/{self.database}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
            "CACHE_KEY_PREFIX": f"scaleout-{run}",
            "BRIDGE_EMBEDDED": "false",
            "GENESYS_API_URL": simulator.url,
            "GENESYS_API_KEY": simulator.config.api_key,
            "GENESYS_CLIENT_ID": simulator.config.client_id,
            "GENESYS_CLIENT_SECRET": simulator.config.client_secret,
            "GENESYS_USERNAME": simulator.config.username,
            "GENESYS_PASSWORD": simulator.config.password,
            "LOG_LEVEL": "INFO",
        }
        self.prefix = self.env["CACHE_KEY_PREFIX"]
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = Path(f"/tmp/ccdash-scaleout-{run}")
        self.logs.mkdir()

    def create(self, objects) -> dict:
        with psycopg.connect("host=127.0.0.1 dbname=test", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        seeded = subprocess.run(
            [PYTHON, *seed_command(objects)],
            cwd=ROOT, env=self.env, check=True, capture_output=True, text=True,
        )
        return json.loads(seeded.stdout.strip().splitlines()[-1])

    def start(self, name: str, *args: str) -> subprocess.Popen:
        # The child gets its own copy of the descriptor, so ours can close once it has started.
        with open(self.logs / f"{name}.log", "w") as log:
            process = subprocess.Popen([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def lease_holder_pid(self) -> int | None:
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        holder = holder_of(client.get(f"{self.prefix}:sb:lease"))
        client.close()
        return int(holder.split(":")[1]) if holder else None

    def destroy(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        for key in client.scan_iter(f"{self.prefix}*"):
            client.delete(key)
        client.close()
        with psycopg.connect("host=127.0.0.1 dbname=test", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


async def test_two_web_processes_two_bridges_and_a_takeover():
    simulator = await start_simulator(fast_config(tick_seconds=0.3, session_expiry_seconds=30.0))
    deployment = Deployment(simulator)
    control = {"x-simulator-key": simulator.config.control_key}
    stop = asyncio.Event()
    try:
        seeded = await asyncio.to_thread(deployment.create, simulator.tenant.model.objects())
        keys = seeded["keys"]
        ports = [free_port(), free_port()]
        for index, port in enumerate(ports):
            deployment.start(f"web{index}", "serve", "--port", str(port), "--no-bridge")
        first = deployment.start("bridge0", "runbridge")
        await eventually(lambda: deployment.lease_holder_pid() == first.pid, 20, "first bridge holds the lease")
        second = deployment.start("bridge1", "runbridge")

        async def ready(port):
            try:
                status, body = await get_json(f"http://127.0.0.1:{port}/readyz",
                                              {"Authorization": "Bearer " + os.environ["METRICS_TOKEN"]})
            except aiohttp.ClientError:
                return None
            return body if status == 200 else None

        for port in ports:
            await eventually(lambda port=port: ready(port), 30, f"web process on {port} ready")
        browsers = [RemoteBrowser(port, seeded["session"]) for port in ports]
        tasks = [asyncio.create_task(b.run(stop)) for b in browsers]
        await eventually(lambda: same_fresh_values(browsers, keys), 30, "both web processes show the same fresh values")
        _, truth = await get_json(simulator.url + "/simulator/values", control)
        assert sorted(v["statisticId"] for v in truth["values"]) == sorted(keys)

        # Kill the active bridge: the standby takes over within 5 s, without duplicates.
        old_holder = deployment.lease_holder_pid()
        assert old_holder == first.pid
        for browser in browsers:
            browser.saw_bridge_down = False
        killed_at = time.monotonic()
        os.kill(first.pid, signal.SIGKILL)
        # Never block the loop: the simulator runs in it.
        await asyncio.to_thread(first.wait, 10)
        # Ready and holding subscriptions: a heartbeat can pair the counts read just before
        # the first subscription with the connection as it is just after (AVAILABLE).
        await eventually(
            lambda: _ready_from(ready(ports[0]), f"{second.pid}"), 5.0,
            "standby bridge took over within 5 s",
        )
        took_over = time.monotonic() - killed_at
        _, truth = await get_json(simulator.url + "/simulator/values", control)
        assert sorted(v["statisticId"] for v in truth["values"]) == sorted(keys), "no duplicate upstream subscriptions"
        _, state = await get_json(simulator.url + "/simulator/state", control)
        assert state["subscriptions"] == 1, "the dead bridge's subscription was deleted by its successor"
        # Both screens were told the bridge was gone (each web process's watcher sends that
        # on its own, not in step with the standby's /readyz), and are fresh again under the new one.
        await eventually(lambda: all(b.saw_bridge_down for b in browsers), 10, "both screens told the bridge was down")
        await eventually(
            lambda: same_fresh_values(browsers, keys) and all(b.connection["bridge"] == "up" for b in browsers),
            30, "values fresh again on both web processes",
        )
        print(f"takeover after {took_over:.2f} s")

        # The survivor stops cleanly on SIGTERM: its subscriptions are deleted upstream.
        stopping = time.monotonic()
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 20) == 0
        assert time.monotonic() - stopping < 5, "a clean stop must not wait on timeouts"
        _, state = await get_json(simulator.url + "/simulator/state", control)
        assert state["subscriptions"] == 0
        await eventually(
            lambda: all(b.connection and b.connection["bridge"] == "down" for b in browsers), 10, "bridge down reported"
        )
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        await asyncio.to_thread(deployment.destroy)
        await simulator.stop()


async def _ready_from(probe, pid: str):
    """The /readyz body once bridge ``pid`` reports itself ready with subscriptions held."""
    body = await probe
    return body if body and body.get("bridge", "").split(":")[1:2] == [pid] and body["subscriptions"] >= 1 else None
