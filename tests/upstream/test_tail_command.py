"""``manage.py tail_notifications`` as a real process against Faye and the CometD Node server."""

import time

import pytest

from tests.upstream.helpers import NodePeer
from tests.upstream.tail_process import TailProcess

pytestmark = pytest.mark.interop

UPDATES = "/statistics/v3/updates"


@pytest.fixture
async def run():
    started = []

    async def start(script, *peer_args, tail_args=()):
        peer = NodePeer(script, *peer_args).start()
        tail = await TailProcess.start("--url", peer.url, "--token", "tail-test-token", "--api-key", "k",
                                       "--network-allowance", "2", *tail_args)
        started.append((peer, tail))
        return peer, tail
    yield start
    for peer, tail in started:
        await tail.kill()
        peer.stop()


@pytest.mark.parametrize("script", ["faye_server.js", "cometd_server.js"])
async def test_tail_prints_messages_as_json_lines_and_exits_0_at_max_messages(run, script):
    peer, tail = await run(script, tail_args=["--max-messages", "5"])
    await tail.wait_stderr("handshake: session established")
    await peer.control("publish", {"channel": UPDATES, "count": 8})
    assert await tail.wait_exit() == 0
    assert [line["data"]["seq"] for line in tail.stdout] == [1, 2, 3, 4, 5]
    assert all(line["channel"] == UPDATES for line in tail.stdout)
    assert any("stopping after 5 messages" in line for line in tail.stderr)


async def test_tail_reports_a_rehandshake_and_keeps_going(run):
    peer, tail = await run("faye_server.js", tail_args=["--max-messages", "2"])
    await tail.wait_stderr("handshake: session established")
    await peer.control("forget")
    await tail.wait_stderr("re-handshake: session established")
    await peer.control("publish", {"channel": UPDATES, "count": 2})
    assert await tail.wait_exit() == 0
    assert [line["data"]["seq"] for line in tail.stdout] == [1, 2]
    assert any("advice: reconnect=handshake" in line for line in tail.stderr)


async def test_tail_exits_0_at_max_seconds(run):
    started = time.monotonic()
    _peer, tail = await run("cometd_server.js", tail_args=["--max-seconds", "1.5"])
    assert await tail.wait_exit() == 0
    assert 1.5 <= time.monotonic() - started < 20
    assert tail.stdout == []
    assert any("stopping after 1.5 s" in line for line in tail.stderr)


async def test_tail_exits_non_zero_on_reconnect_none(run):
    peer, tail = await run("cometd_server.js")
    await tail.wait_stderr("handshake: session established")
    await peer.control("reconnect-none")
    assert await tail.wait_exit() == 1
    assert tail.stderr[-1].startswith("CommandError: stopped:") and "reconnect none" in tail.stderr[-1]


async def test_tail_exits_non_zero_on_a_wrong_api_key(run):
    _peer, tail = await run("faye_server.js", "--api-key", "the-right-key")
    assert await tail.wait_exit() == 1
    assert tail.stderr[-1] == ("CommandError: stopped: the API key was rejected by the CometD endpoint "
                               "(HTTP 403): check the API key (GENESYS_API_KEY)")
    assert tail.stdout == []
