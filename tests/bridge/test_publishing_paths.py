"""The publishing paths under load: self-clocked coalescing with a real loop, a heartbeat apart from slow
work, a hysteretic dead-bridge decision, and one database connection per runner thread."""

import asyncio
import threading

import msgpack
import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import Error as DatabaseBackendError
from django.db import connection

from dashboard.models import Dashboard
from statsbridge import frames, housekeeping, store
from statsbridge.aio import SyncRunner
from statsbridge.bridge import Bridge
from statsbridge.fanout import Fanout, continued_seqs, dashboard_group
from statsbridge.models import StatisticSample
from statsbridge.watch import bridge_seems_up
from tests.bridge.publishing import next_batch, next_batch_message, routes_of
from tests.waiting import eventually

TICK = 1.0  # how long a frame is waited for
FLOOR = 0.05
GENESYS = {"API_URL": "http://127.0.0.1:9", "API_KEY": "k", "CLIENT_ID": "c", "CLIENT_SECRET": "s", "USERNAME": "u",
           "PASSWORD": "p"}


def fresh(number):
    return frames.value(kind="number", value=number, text=str(number), state="fresh", timestamp=None, received=frames.now_ms())


async def fanout_and_viewer(layer, runner_name: str):
    """A fan-out of dashboard 1 (statistics a and b) on ``layer``, its runner, and a channel
    in dashboard 1's group to receive what it publishes."""
    runner = SyncRunner(runner_name)
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=FLOOR)
    await fanout.set_routes(routes_of({1: ["a", "b"]}))
    viewer = await layer.new_channel()
    await layer.group_add(dashboard_group(1), viewer)
    return runner, fanout, viewer


# ------------------------------------------------------------------ pure helpers


def test_the_dead_bridge_decision_has_hysteresis():
    dead_after = 1.0
    assert bridge_seems_up(None, 0.2, dead_after) is True
    assert bridge_seems_up(True, 0.9, dead_after) is True  # late but within the budget
    assert bridge_seems_up(True, 1.1, dead_after) is False  # detection is not delayed
    assert bridge_seems_up(False, 0.9, dead_after) is False  # a beat near the limit does not flap back
    assert bridge_seems_up(False, 0.4, dead_after) is True
    assert bridge_seems_up(True, None, dead_after) is False


# ------------------------------------------------------------------ self-clocking, with the real loop


async def test_an_isolated_update_goes_out_at_once_and_a_busy_dashboard_gets_the_rest_merged_after_its_round():
    layer = get_channel_layer()
    runner = SyncRunner("test-fanout")
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=FLOOR)
    fanout.clock.round_timeout = 3600.0  # only a hand-back ends a round here
    await fanout.set_routes(routes_of({1: ["a"], 2: ["b"]}))
    one, two = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(dashboard_group(1), one)
    await layer.group_add(dashboard_group(2), two)
    bridge = Bridge(GENESYS, runner, fanout)
    stop = asyncio.Event()
    publishing = asyncio.create_task(housekeeping.publish_loop(fanout, bridge.status_extra, stop))
    try:
        fanout.offer("a", fresh(1))
        frame, receipt, _ = await next_batch_message(layer, one, TICK)
        assert frame["values"]["a"]["value"] == 1
        first_sent = fanout.clock.last_sent[1]

        # Dashboard 1's batch is not handed back yet: what follows waits, merged.
        fanout.offer("a", fresh(2))
        fanout.offer("a", fresh(3))
        # Dashboard 2 was sent nothing: its update is not held back by dashboard 1.
        fanout.offer("b", fresh(20))
        frame_two, receipt_two, _ = await next_batch_message(layer, two, TICK)
        assert frame_two["values"]["b"]["value"] == 20
        receipt_two.hand_back()
        assert 1 in fanout._waiting, "dashboard 1's values wait for its round"

        receipt.hand_back()
        frame, receipt, _ = await next_batch_message(layer, one, TICK)
        assert frame["values"]["a"]["value"] == 3, "what came during the round is merged"
        # (The fan-out's own send times: arrival times would add the test's scheduling delays.)
        assert fanout.clock.last_sent[1] - first_sent >= FLOOR, "and no sooner than the floor"
        stored = await runner(store.read_values, ["a", "b"])
        assert stored["a"]["value"] == 3 and stored["b"]["value"] == 20
    finally:
        stop.set()
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)
        await runner.close()


# ------------------------------------------------------------------ history and shared frames


@pytest.mark.django_db(transaction=True)
async def test_history_is_throttled_per_interval_and_keeps_the_last_value_of_a_burst(settings):
    settings.BRIDGE = {**getattr(settings, "BRIDGE", {}), "HISTORY_INTERVAL_SECONDS": 0.3}
    runner, history_runner = SyncRunner("test-values"), SyncRunner("test-history")
    fanout = Fanout(runner, run_history=history_runner, layer=get_channel_layer(), floor_seconds=FLOOR)
    await fanout.set_routes(routes_of({1: ["a", "b"]}))

    def rows():
        return list(StatisticSample.objects.order_by("pk").values_list("key", "value"))

    try:
        for number in (1, 2, 3):  # one publish each, all within one interval
            fanout.offer("a", fresh(number))
            if number == 1:
                fanout.offer("b", fresh(10))
            await fanout.flush()
        # Nothing is published after the burst: its last value is written once the interval passed.
        async def burst_recorded():
            return ("a", 3.0) in await history_runner(rows)

        await eventually(burst_recorded, 5, "the last value of the burst in the history")
        recorded = await history_runner(rows)
        assert recorded == [("a", 1.0), ("b", 10.0), ("a", 3.0)], "2 was superseded within the interval"
        fanout.offer("a", fresh(4))
        await fanout.flush()
        fanout.offer("a", fresh(5))
        await fanout.publish_down()  # stopping writes what waits, without waiting for the interval
        recorded = await history_runner(rows)
        assert recorded[-2:] == [("a", 5.0), ("b", 10.0)]
        stale = await history_runner(lambda: StatisticSample.objects.filter(key="b").order_by("-pk").first().data)
        assert stale["state"] == "stale"
    finally:
        await runner.close()
        await history_runner.close()


async def test_every_recipient_gets_the_published_frame_itself_not_a_copy():
    layer = get_channel_layer()
    runner = SyncRunner("test-shared")
    fanout = Fanout(runner, layer=layer, record_history=False, floor_seconds=FLOOR)
    await fanout.set_routes(routes_of({1: ["a"]}))
    one, two = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(dashboard_group(1), one)
    await layer.group_add(dashboard_group(1), two)
    try:
        fanout.offer("a", fresh(7))
        await fanout.flush()
        first, _ = await next_batch(layer, one, TICK)
        second, _ = await next_batch(layer, two, TICK)
        assert first is second and first["values"]["a"]["value"] == 7
        frames.validate_frame(first)
        # channels_redis serialises it with msgpack as the plain dict it is.
        assert msgpack.unpackb(msgpack.packb({"frame": first}), raw=False)["frame"] == dict(first)
    finally:
        await runner.close()


async def test_after_the_store_lost_its_data_the_next_beat_publishes_every_value_again():
    layer = get_channel_layer()
    runner, fanout, viewer = await fanout_and_viewer(layer, "test-reset")
    try:
        fanout.offer("a", fresh(7))
        fanout.offer("b", fresh(8))
        await fanout.flush()
        await next_batch(layer, viewer, TICK)
        assert not await fanout.beat()
        assert not await fanout.beat()  # same store: nothing to republish
        assert not fanout._pending
        seq = store.read_seqs([1])[1]

        cache.clear()  # what a Redis restart does to the store
        assert await fanout.beat(), "the beat tells its bridge that the store lost its data"
        await fanout.flush()
        assert {k: v["value"] for k, v in store.read_values(["a", "b"]).items()} == {"a": 7, "b": 8}
        assert store.read_seqs([1])[1] > seq  # screens that reconnect continue in sequence
        frame, _ = await next_batch(layer, viewer, TICK)
        assert {k: v["value"] for k, v in frame["values"].items()} == {"a": 7, "b": 8}
    finally:
        await runner.close()


def test_a_sequence_the_store_lost_restarts_above_anything_sent_before():
    # Stored numbers continue; a lost one (new dashboard, Redis restarted empty) starts at
    # the clock, above what an earlier bridge sent (it grew by at most one a tick since).
    assert continued_seqs({1: 41, 2: 0}, 1_767_225_600_000) == {1: 41, 2: 1_767_225_600_000}


async def test_a_new_bridge_after_the_store_lost_its_numbers_is_not_dropped_by_open_sockets():
    layer = get_channel_layer()
    runner = SyncRunner("test-seq")
    first = Fanout(runner, layer=layer, record_history=False, floor_seconds=FLOOR)
    await first.set_routes(routes_of({1: ["a"]}))
    viewer = await layer.new_channel()
    await layer.group_add(dashboard_group(1), viewer)
    try:
        for number in range(3):
            first.offer("a", fresh(number))
            await first.flush()
        seen, _ = await next_batch(layer, viewer, TICK)
        while True:  # the last frame the socket saw
            try:
                seen, _ = await next_batch(layer, viewer, 0.2)
            except AssertionError:
                break
        cache.clear()  # Redis restarted empty; a new bridge takes over
        second = Fanout(runner, layer=layer, record_history=False, floor_seconds=FLOOR)
        await second.set_routes(routes_of({1: ["a"]}))
        second.offer("a", fresh(9))
        await second.flush()
        frame, _ = await next_batch(layer, viewer, TICK)
        assert frame["seq"] > seen["seq"] and frame["values"]["a"]["value"] == 9
        frames.validate_frame(frame)
    finally:
        await runner.close()


# ------------------------------------------------------------------ heartbeat


async def test_the_heartbeat_is_written_while_the_value_runner_is_stuck():
    runner, beat_runner = SyncRunner("test-values"), SyncRunner("test-beat")
    fanout = Fanout(runner, run_status=beat_runner, layer=get_channel_layer(), record_history=False)
    release = threading.Event()
    stuck = asyncio.create_task(runner(release.wait, 10))
    try:
        before = frames.now_ms()
        await asyncio.wait_for(fanout.beat({"subscriptions": 7}), 2)
        status = await beat_runner(store.read_status)
        assert status["heartbeat"] >= before and status["subscriptions"] == 7
        assert not stuck.done(), "the value runner was meant to be busy during the beat"
    finally:
        release.set()
        await stuck
        await runner.close()
        await beat_runner.close()


async def test_a_snapshot_never_pairs_a_new_sequence_number_with_the_previous_connection():
    """Regression (long fault matrix: a desk stuck on "reconnecting" after a takeover): the
    status frame's seq and its connection reach the store in one write, whatever the
    status runner is doing, so a snapshot taken at any moment shows them together."""
    runner, beat_runner = SyncRunner("test-values"), SyncRunner("test-beat")
    fanout = Fanout(runner, run_status=beat_runner, layer=get_channel_layer(), record_history=False)
    await fanout.set_routes(routes_of({1: ["a"]}))
    await fanout.flush(heartbeat=True)
    release = threading.Event()
    stuck = asyncio.create_task(beat_runner(release.wait, 10))  # the status thread is busy
    try:
        seq = store.read_seqs([1])[1]
        fanout.set_connection(upstream="connected", service="AVAILABLE")
        publishing = asyncio.create_task(fanout.flush())
        await eventually(lambda: store.read_seqs([1])[1] > seq, 5, "the status frame's seq stored")
        snapshot = store.dashboard_snapshot(1, "d1", ["a"])
        assert snapshot["connection"]["upstream"] == "connected", snapshot["connection"]
        release.set()
        await asyncio.wait_for(publishing, 5)
    finally:
        release.set()
        await stuck
        await runner.close()
        await beat_runner.close()


# ------------------------------------------------------------------ runner connections


def raw_connection():
    Dashboard.objects.exists()
    return connection.connection


def break_connection():
    connection.connection.close()
    Dashboard.objects.exists()  # fails: Django marks the connection as having errors


@pytest.mark.django_db(transaction=True)
async def test_the_runner_keeps_its_connection_and_replaces_a_broken_one():
    runner = SyncRunner("test-db")
    try:
        first = await runner(raw_connection)
        assert await runner(raw_connection) is first, "a new database connection was opened per call"
        # Which error a closed connection raises depends on the backend (ProgrammingError on
        # SQLite, InterfaceError or OperationalError on PostgreSQL); all are django.db.Error.
        with pytest.raises(DatabaseBackendError):
            await runner(break_connection)
        replaced = await runner(raw_connection)
        assert replaced is not None and replaced is not first
        assert await runner(raw_connection) is replaced
    finally:
        await runner.close()
    assert answers_no_more(replaced), "close() left the runner's connection open"


def answers_no_more(raw) -> bool:
    try:
        raw.cursor().execute("SELECT 1")
    except Exception:
        return True
    return False


@pytest.mark.scaleout
async def test_values_of_a_publish_that_failed_go_out_with_the_next_one(tmp_path):
    """Found by the fault matrix: a publish that met a restarting Redis lost the values it
    had taken, and a wall showed the previous ones, fresh, until those statistics changed
    again (21 s once)."""
    from channels_redis.core import RedisChannelLayer
    from redis.exceptions import RedisError

    from tests.reliability.stack import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    layer = RedisChannelLayer(hosts=[server.url])
    runner, fanout, viewer = await fanout_and_viewer(layer, "test-put-back")
    try:
        fanout.offer("a", fresh(7))
        fanout.offer("b", fresh(1))
        await fanout.flush()
        assert (await next_batch(layer, viewer, 5))[0]["values"]["a"]["value"] == 7

        server.kill()
        fanout.offer("a", fresh(8))
        with pytest.raises(RedisError):
            await fanout.flush()
        fanout.offer("b", fresh(2))  # queued while Redis is away: the newer value must win
        server.start()

        async def published() -> bool:
            try:
                await layer.group_add(dashboard_group(1), viewer)  # groups went with Redis
                await fanout.flush()
                return True
            except RedisError:  # the first command on a connection Redis closed fails
                return False

        await eventually(published, 5, "a publish gets through to the restarted Redis")
        frame, _ = await next_batch(layer, viewer, 5)
        assert {k: v["value"] for k, v in frame["values"].items()} == {"a": 8, "b": 2}
    finally:
        await runner.close()
        await layer.flush()
        server.kill()
