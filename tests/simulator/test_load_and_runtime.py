"""Benchmark load, in-process/threaded running, and the ``simulate`` command."""

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from statsbridge.simulator import SimulatorConfig, SimulatorThread, start_simulator
from tests.fixtures_simulator import fast_config
from tests.waiting import free_port

from .helpers import CONTROL, QUEUE, Client, control, updates_in

ROOT = Path(__file__).resolve().parents[2]
STATS = [{"statisticId": f"n{n}", "objectType": "Agent", "objectId": f"agent{n:03d}",
          "definition": {"category": "CurrentState", "notificationMode": "NoNotification"}} for n in range(1, 11)]


async def test_a_changing_load_moves_numeric_values_and_a_plain_one_repeats_them(client: Client):
    numbers = [{"statisticId": f"q{n}", "objectType": "Queue", "objectId": QUEUE,
                "definition": {"category": "CurrentNumber", "mainMask": "CallWait",
                               "notificationMode": "NoNotification"}} for n in range(1, 4)]
    await client.start_session()
    assert (await client.subscribe_statistics(numbers))[0] == 200

    async def values_under(load: dict) -> dict:
        await control(client, "POST", "load", load)
        messages = await client.collect(lambda got: len(updates_in(got)) >= 30, timeout=5)
        await control(client, "POST", "load", {"updates_per_second": 0})
        seen: dict = {}
        for item in updates_in(messages):
            seen.setdefault(item["statisticId"], []).append(item["value"])
        return seen

    repeated = await values_under({"updates_per_second": 200})
    assert all(len(set(map(json.dumps, values))) == 1 for values in repeated.values()), repeated
    moved = await values_under({"updates_per_second": 200, "changing": True})
    assert set(moved) == {s["statisticId"] for s in numbers}
    assert all(len(set(map(json.dumps, values))) > 1 for values in moved.values()), moved
    assert (await control(client, "POST", "load", {"updates_per_second": 1, "changing": "yes"}))[0] == 400


async def test_load_delivers_the_requested_rate_with_emission_time(client: Client):
    await client.start_session()
    assert (await client.subscribe_statistics(STATS))[0] == 200
    await control(client, "POST", "load", {"updates_per_second": 400})
    started = time.monotonic()
    messages = await client.collect(lambda got: len(updates_in(got)) >= 400, timeout=5)
    elapsed = time.monotonic() - started
    await control(client, "POST", "load", {"updates_per_second": 0})
    items = updates_in(messages)
    assert 250 <= len(items) / elapsed <= 600, len(items) / elapsed
    counts = {i["statisticId"] for i in items}
    assert counts == {s["statisticId"] for s in STATS}  # spread over every live statistic
    for message in messages:
        emitted = message["ext"]["simulator"]["emittedAt"]
        assert abs(emitted - message["data"]["data"]["statistics"][0]["timestamp"]) < 5
        assert list(message["data"]["data"]["statistics"][0]["value"]) != ["ext"]
    state = (await control(client, "GET", "state"))[1]
    assert state["loadUpdatesSent"] >= len(items)


def test_simulator_thread_serves_sync_code():
    with SimulatorThread(fast_config()) as thread:
        request = urllib.request.Request(thread.url + "/simulator/state", headers=CONTROL)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        assert thread.call(lambda tenant: tenant.service_state) == "AVAILABLE"
        url = thread.url
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/simulator/state", timeout=2)


async def test_start_simulator_reports_bound_port_and_secrets_stay_out_of_repr():
    config = fast_config(api_key="k-SECRET-1", client_secret="s-SECRET-2", password="p-SECRET-3",
                         control_key="c-SECRET-4")
    running = await start_simulator(config)
    try:
        assert running.url.startswith("http://127.0.0.1:") and not running.url.endswith(":0")
        for secret in ("k-SECRET-1", "s-SECRET-2", "p-SECRET-3", "c-SECRET-4"):
            assert secret not in repr(config) and secret not in repr(running)
    finally:
        await running.stop()


def test_demo_defaults_match_the_bridge_settings():
    """The simulator's defaults are what the settings use when no GENESYS_* is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_")}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    script = "import json, django; django.setup(); from django.conf import settings; print(json.dumps(settings.GENESYS))"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    genesys = json.loads(done.stdout)
    defaults = SimulatorConfig()
    assert (f"http://{defaults.host}:{defaults.port}", defaults.api_key, defaults.client_id,
            defaults.client_secret) == (genesys["API_URL"], genesys["API_KEY"], genesys["CLIENT_ID"],
                                        genesys["CLIENT_SECRET"])


async def test_simulate_command_serves_given_credentials():
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 (Popen returns at once; its output is read on a thread below)
        [sys.executable, "manage.py", "simulate", "--port", str(port), "--api-key", "cmd-key", "--client-id", "cid",
         "--client-secret", "csecret", "--username", "acme\\boss", "--password", "pw", "--control-key", "ck",
         "--token-ttl", "77", "--seed", "5", "--agents", "6", "--queues", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"})
    try:
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        assert f"listening on http://127.0.0.1:{port}" in line and "pw" not in line and "csecret" not in line
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            token = await http.post(url + "/auth/v3/oauth/token", headers={
                "x-api-key": "cmd-key", "Authorization": "Basic " + base64.b64encode(b"cid:csecret").decode()},
                data={"grant_type": "password", "username": "acme\\boss", "password": "pw"})
            assert token.status == 200 and (await token.json())["expires_in"] == 77
            catalog = await (await http.get(url + "/simulator/catalog", headers={"x-simulator-key": "ck"})).json()
            assert len(catalog["objects"]["Agent"]) == 6 and len(catalog["objects"]["Queue"]) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0 and "stopped" in output


