"""Independent peers against the simulator: the CometD project's JS client and the official Genesys JS client."""

import asyncio
import json
import time
from pathlib import Path

import pytest

from .helpers import GROUP, QUEUE, Client, control

PEERS = Path(__file__).resolve().parents[1] / "peers"
pytestmark = pytest.mark.interop
LIVELY = [{"statisticId": f"time{n}", "objectType": "Agent", "objectId": f"agent{n:03d}",
           "name": "TimeInCurrentState"} for n in range(1, 4)]


class NodePeer:
    """A Node script printing JSON lines; events are gathered as they come."""

    def __init__(self, script: str, options: dict) -> None:
        self.script, self.options = script, options
        self.events: list = []
        self.stderr = b""

    async def __aenter__(self) -> "NodePeer":
        self.process = await asyncio.create_subprocess_exec(
            "node", self.script, json.dumps(self.options), cwd=PEERS,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for line in self.process.stdout:
            self.events.append(json.loads(line))

    async def __aexit__(self, *exc) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self._reader.cancel()

    async def wait_for(self, predicate, timeout: float = 15.0, what: str = "event") -> list:
        deadline = time.monotonic() + timeout
        while True:
            matched = [e for e in self.events if predicate(e)]
            if matched:
                return matched
            errors = [e for e in self.events if e["event"] == "error"]
            if errors or time.monotonic() > deadline or self.process.returncode not in (None, 0):
                stderr = (await self._drain_stderr()).decode(errors="replace")[-2000:]
                raise AssertionError(f"{self.script}: no {what}; events={self.events[-8:]} stderr={stderr}")
            await asyncio.sleep(0.05)

    async def _drain_stderr(self) -> bytes:
        if self.process.returncode is None:
            return b""
        return await self.process.stderr.read()


def statistic_items(data: dict) -> list:
    return (data.get("data") or data).get("statistics", [])


async def test_cometd_js_client_receives_updates_and_rehandshakes_after_forget(simulator, client: Client):
    options = {"url": simulator.url, "apiKey": "demo-api-key", "token": client.token, "statistics": LIVELY}
    async with NodePeer("sim_cometd_client.js", options) as peer:
        handshake = (await peer.wait_for(lambda e: e["event"] == "handshake", what="handshake"))[0]
        assert handshake["successful"] and handshake["cookies"] == ["BAYEUX_BROWSER", "STATISTICS_SESSIONID"]
        subscribed = await peer.wait_for(lambda e: e["event"] == "subscribed" and e["channel"].endswith("updates"))
        assert subscribed[0]["successful"]
        rest = (await peer.wait_for(lambda e: e["event"] == "rest", what="REST subscription"))[0]
        assert rest["status"] == 200 and rest["body"]["data"]["subscriptionId"] == "cometd-1"
        first = await peer.wait_for(lambda e: e["event"] == "message" and e["channel"] == "/statistics/v3/updates",
                                    what="StatisticUpdate")
        assert {i["subscriptionId"] for i in statistic_items(first[0]["data"])} == {"cometd-1"}

        await control(client, "POST", "forget-clients")
        await peer.wait_for(lambda e: e["event"] == "handshake" and e["successful"] and
                            len([h for h in peer.events if h["event"] == "handshake"]) >= 2, what="re-handshake")
        await peer.wait_for(lambda e: e["event"] == "rest" and e["body"]["data"]["subscriptionId"] == "cometd-2")
        after = await peer.wait_for(lambda e: e["event"] == "message" and any(
            i["subscriptionId"] == "cometd-2" for i in statistic_items(e["data"])), what="updates after re-handshake")
        assert after
        assert any(e["event"] == "connect-failed" and e["advice"]["reconnect"] == "handshake" for e in peer.events)

        await control(client, "POST", "service", {"state": "UNAVAILABLE"})
        service = await peer.wait_for(lambda e: e["event"] == "message" and e["channel"] == "/statistics/v3/service")
        assert service[0]["data"]["data"]["serviceState"] == "UNAVAILABLE"


async def test_cometd_js_client_is_refused_with_a_wrong_api_key(simulator, client: Client):
    options = {"url": simulator.url, "apiKey": "not-the-key", "token": client.token, "statistics": LIVELY,
               "exitOnFailure": True}
    async with NodePeer("sim_cometd_client.js", options) as peer:
        handshake = (await peer.wait_for(lambda e: e["event"] == "handshake", what="handshake reply"))[0]
        assert handshake["successful"] is False and handshake["cookies"] == []
        assert (await control(client, "GET", "state"))[1]["sessions"] == 0


async def test_official_genesys_js_client_works_unchanged(simulator, client: Client):
    read = {"name": "CallsWaiting", "objectId": QUEUE, "objectType": "Queue"}
    statistics = [*LIVELY, {"statisticId": "ready", "objectType": "GroupAgents", "objectId": GROUP,
                            "name": "AgentsReady"}]
    options = {"url": simulator.url, "apiKey": "demo-api-key", "token": client.token, "statistics": statistics,
               "peekIds": ["time1", "ready"], "read": read}
    async with NodePeer("sim_genesys_client.js", options) as peer:
        initialized = (await peer.wait_for(lambda e: e["event"] == "initialized"))[0]
        assert "STATISTICS_SESSIONID" in initialized["cookies"]
        created = (await peer.wait_for(lambda e: e["event"] == "created"))[0]["body"]
        assert created["status"]["code"] == 0 and created["data"]["subscriptionId"] == "genesys-js"
        peeked = (await peer.wait_for(lambda e: e["event"] == "peeked"))[0]["body"]
        assert [s["statisticId"] for s in peeked["data"]["statistics"]] == ["time1", "ready"]
        value = (await peer.wait_for(lambda e: e["event"] == "value"))[0]["body"]
        assert value["data"]["statistic"]["name"] == "CallsWaiting"
        values = (await peer.wait_for(lambda e: e["event"] == "values"))[0]["body"]
        assert values["data"]["statistics"][0]["objectId"] == QUEUE
        updates = await peer.wait_for(lambda e: e["event"] == "updates", what="StatisticUpdate notifications")
        items = statistic_items(updates[0]["data"])
        assert items and {i["subscriptionId"] for i in items} == {"genesys-js"}
        assert {i["statisticId"] for i in items} <= {s["statisticId"] for s in statistics}
        await control(client, "POST", "service", {"state": "UNAVAILABLE"})
        service = await peer.wait_for(lambda e: e["event"] == "service")
        assert service[0]["data"]["data"]["serviceState"] == "UNAVAILABLE"
        state = (await control(client, "GET", "state"))[1]
        assert state["subscriptions"] == 0
