"""``manage.py serve`` with the embedded bridge: one process serves pages, sockets and the bridge."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.bridge.processes import RemoteBrowser, free_port, get_json, same_fresh_values, seed_command
from tests.fixtures_simulator import fast_config
from tests.live import eventually

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def simulator_config():
    return fast_config(tick_seconds=0.3, session_expiry_seconds=30.0)


async def test_serve_runs_the_bridge_in_its_loop_and_stops_cleanly(simulator, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "contactboard.settings",
        "SECRET_KEY": "embedded-test-" + uuid.uuid4().hex,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "BRIDGE_EMBEDDED": "true",
        "GENESYS_API_URL": simulator.url,
        "GENESYS_API_KEY": simulator.config.api_key,
        "GENESYS_CLIENT_ID": simulator.config.client_id,
        "GENESYS_CLIENT_SECRET": simulator.config.client_secret,
        "GENESYS_USERNAME": simulator.config.username,
        "GENESYS_PASSWORD": simulator.config.password,
    }
    python = sys.executable
    migrate = await asyncio.create_subprocess_exec(python, "manage.py", "migrate", "-v0", cwd=ROOT, env=env)
    assert await migrate.wait() == 0
    seeding = await asyncio.create_subprocess_exec(python, *seed_command(simulator.tenant.model.objects()), cwd=ROOT, env=env,
                                                   stdout=subprocess.PIPE)
    out, _ = await seeding.communicate()
    seeded = json.loads(out.decode().strip().splitlines()[-1])
    port = free_port()
    # The child gets its own copy of the descriptor, so ours can close once it has started.
    with open(tmp_path / "serve.log", "w") as log:  # noqa: ASYNC230 (a local file: opening it does not wait on anything)
        server = await asyncio.create_subprocess_exec(
            python, "manage.py", "serve", "--port", str(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    control = {"x-simulator-key": simulator.config.control_key}
    stop = asyncio.Event()
    try:
        async def ready():
            try:
                status, body = await get_json(f"http://127.0.0.1:{port}/readyz")
            except aiohttp.ClientError:
                return None
            return body if status == 200 else None

        await eventually(ready, 30, "embedded bridge ready")
        browser = RemoteBrowser(port, seeded["session"])
        task = asyncio.create_task(browser.run(stop))
        await eventually(lambda: same_fresh_values([browser], seeded["keys"]), 30, "fresh values over a real socket")
        _, truth = await get_json(simulator.url + "/simulator/values", control)
        assert sorted(v["statisticId"] for v in truth["values"]) == sorted(seeded["keys"])
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 20) == 0
        _, state = await get_json(simulator.url + "/simulator/state", control)
        assert state["subscriptions"] == 0, "SIGTERM must release the upstream subscriptions"
        stop.set()
        await task
    finally:
        stop.set()
        if server.returncode is None:
            server.kill()
            await server.wait()
