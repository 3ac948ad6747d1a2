"""The bridge's login against the simulator: short tokens with refresh refused, a bad API key."""

import asyncio
import logging
import os
import time

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from statsbridge import store
from statsbridge.host import BridgeHost
from statsbridge.lease import LocalLease
from statsbridge.views import readiness
from tests.bridge.simulated import Control, genesys_for, open_desk, seed, truth_with, until_equal
from tests.fixtures_simulator import fast_config
from tests.live import eventually

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN_SECONDS = 4  # the 20 s tokens, shortened: the bridge refreshes at 80 % of it


@pytest.fixture
def simulator_config():
    return fast_config(tick_seconds=0.3, token_ttl=TOKEN_SECONDS)


async def run_bridge(genesys):
    host = BridgeHost(genesys, lease=LocalLease())
    stop = asyncio.Event()
    return host, stop, asyncio.create_task(host.run(stop))


@pytest.mark.parametrize("status, form", [(401, "envelope"), (400, "oauth")])
async def test_short_tokens_with_refresh_refused_keep_every_tile_fresh(simulator, status, form):
    control = Control(simulator)
    user, _dashboard, _widget, keys = await database_sync_to_async(seed)(simulator.tenant.model.objects())
    host, stop, task = await run_bridge(genesys_for(simulator))
    try:
        await eventually(lambda: truth_with(control, set(keys)), 10, "subscribed")
        browser = await open_desk(user)
        await until_equal(browser, control, keys, "live values")
        await control.call("POST", "/refuse-refresh", {"status": status, "form": form, "count": 1000})
        tokens = host.bridge.link.tokens
        before = len(tokens.grants_sent)
        # Three token lifetimes: every tile must stay fresh and the link connected throughout.
        deadline = time.monotonic() + 3 * TOKEN_SECONDS
        while time.monotonic() < deadline:
            await browser.pump(0.1)
            stale = [k for k in keys if browser.values[k]["state"] != "fresh"]
            assert not stale, f"stale tiles {stale} (grants: {list(tokens.grants_sent)})"
            assert browser.connection["upstream"] == "connected"
        grants = list(tokens.grants_sent)[before:]
        assert grants.count("refresh_token") >= 2, grants
        # Each refused refresh is followed at once by a fresh login with the configured grant.
        assert all(grants[i + 1] == "password" for i, g in enumerate(grants[:-1]) if g == "refresh_token"), grants
        await until_equal(browser, control, keys, "values still equal to the truth")
        assert (await control.state())["sessions"] == 1, "the same CometD session all along"
        await browser.communicator.disconnect()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_a_bad_api_key_is_reported_on_readyz_and_the_ops_page_without_the_key(simulator, admin_user, caplog):
    caplog.set_level(logging.DEBUG, logger="statsbridge")
    await database_sync_to_async(seed)(simulator.tenant.model.objects())
    wrong = "wrong-key-0123456789"
    _host, stop, task = await run_bridge({**genesys_for(simulator), "API_KEY": wrong})
    try:
        def refused():
            status = store.read_status()
            return status if status and status.get("config_error") else None
        status = await eventually(lambda: database_sync_to_async(refused)(), 10, "the refusal in the status")
        ready, reason, _ = readiness(status)
        assert not ready and reason.startswith("upstream is down: the API key was rejected")
        client = AsyncClient()
        # The reason is for operators: /readyz shows it with the metrics token (tests/settings.py).
        readyz = await client.get("/readyz", headers={"authorization": f"Bearer {os.environ['METRICS_TOKEN']}"})
        body = readyz.json()
        assert readyz.status_code == 503 and "GENESYS_API_KEY" in body["reason"] and body["config_error"]
        await database_sync_to_async(client.force_login)(admin_user)
        ops = await client.get("/ops/")
        page = ops.content.decode()
        assert ops.status_code == 200 and 'data-field="config_error"' in page and "GENESYS_API_KEY" in page
        for text in (page, readyz.content.decode()):
            assert wrong not in text and simulator.config.client_secret not in text
        # Several links started and stopped meanwhile; the refusal is one log line at ERROR.
        await eventually(lambda: len(simulator.tenant.hub.by_client_id) == 0 and len(
            [r for r in caplog.records if "stopped: the API key was rejected" in r.getMessage()]) >= 2, 10,
            "a second link stopped on the same refusal")
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len([e for e in errors if "API key" in e]) == 1, errors
        assert not [r for r in caplog.records if wrong in r.getMessage()]
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
