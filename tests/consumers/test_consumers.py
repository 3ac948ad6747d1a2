"""WebSocket consumers, driven by WebsocketCommunicator (no bridge: frames come from the store/layer)."""

import json
import time

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Group, User

from contactboard.asgi import application
from dashboard.models import Display, DisplayItem
from statsbridge import frames, store
from statsbridge.control import display_changed_async, reload_display_async
from statsbridge.fanout import FRAME_MESSAGE, dashboard_group
from tests.consumers.helpers import (
    communicator_closed,
    desk,
    fresh,
    live_status,
    make_async,
    make_dashboard,
    router,
    staff_user,
)
from tests.live import Browser, eventually

pytestmark = pytest.mark.django_db(transaction=True)

async def test_anonymous_and_outsiders_are_refused_members_of_a_group_get_in():
    dashboard, _ = await make_async(make_dashboard)
    communicator, connected, code = await desk("floor", AnonymousUser())
    assert (connected, code) == (False, 4403)
    outsider = await make_async(User.objects.create_user, "outsider", password="x")
    communicator, connected, code = await desk("floor", outsider)
    assert (connected, code) == (False, 4403)
    member = await make_async(member_of_dashboard_group, dashboard)
    communicator, connected, _ = await desk("floor", member)
    assert connected
    frame = await Browser(communicator).next_frame()
    assert frame["type"] == "snapshot" and frame["dashboard"] == "floor"
    await communicator.disconnect()


def member_of_dashboard_group(dashboard):
    group = Group.objects.create(name="supervisors")
    dashboard.groups.add(group)
    user = User.objects.create_user("member", password="x")
    user.groups.add(group)
    return user


async def test_snapshot_first_with_stored_values_then_batches_in_sequence():
    dashboard, keys = await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, {keys[0]: fresh(7)}, {dashboard.pk: 41}, live_status())
    communicator, _connected, _ = await desk("floor", user)
    browser = Browser(communicator)
    snapshot = await browser.next_frame()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 41
    assert snapshot["values"][keys[0]]["value"] == 7 and snapshot["values"][keys[0]]["state"] == "fresh"
    # A statistic never received is unknown, not zero.
    assert snapshot["values"][keys[1]]["kind"] == "unknown" and snapshot["values"][keys[1]]["value"] is None
    layer = get_channel_layer()
    group = dashboard_group(dashboard.pk)
    # An old frame (seq <= snapshot) is dropped; newer ones pass in order.
    await layer.group_send(group, {"type": FRAME_MESSAGE, "frame": frames.batch("floor", 41, {keys[0]: fresh(1)})})
    await layer.group_send(group, {"type": FRAME_MESSAGE, "frame": frames.batch("floor", 42, {keys[0]: fresh(8)})})
    frame = await browser.next_frame()
    assert frame["seq"] == 42 and browser.values[keys[0]]["value"] == 8
    assert await communicator.receive_nothing(0.1)
    assert browser.gaps == []
    await communicator.disconnect()


async def test_values_are_shown_stale_when_no_bridge_beats():
    _dashboard, keys = await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, {keys[0]: fresh(7)}, {}, {**live_status(), "heartbeat": frames.now_ms() - 60_000})
    communicator, _, _ = await desk("floor", user)
    snapshot = await Browser(communicator).next_frame()
    assert snapshot["connection"]["bridge"] == "down"
    assert snapshot["values"][keys[0]]["state"] == "stale" and snapshot["values"][keys[0]]["value"] == 7
    await communicator.disconnect()


async def test_bridge_death_and_return_reach_open_sockets_as_snapshots():
    _dashboard, keys = await make_async(make_dashboard)
    user = await make_async(staff_user)
    await make_async(store.write, {keys[0]: fresh(7)}, {}, live_status())
    communicator, _, _ = await desk("floor", user)
    browser = Browser(communicator)
    await browser.next_frame()
    assert browser.connection["bridge"] == "up"
    # The bridge stops beating: the client is told (the watcher's budget is 0.8 s here; the
    # 2 s product budget is measured end to end by the browser and fault-matrix tests, this
    # deadline also covers connecting on a loaded machine).
    await browser.until(lambda b: b.connection["bridge"] == "down", 10, "bridge death not reported")
    assert browser.values[keys[0]]["state"] == "stale"
    await make_async(store.write, {}, {}, live_status())
    await browser.until(lambda b: b.connection["bridge"] == "up", 10, "bridge return not reported")
    assert browser.values[keys[0]]["state"] == "fresh"
    await communicator.disconnect()


async def test_bad_frames_get_error_frames_and_the_socket_stays_open():
    await make_async(make_dashboard)
    user = await make_async(staff_user)
    communicator, _, _ = await desk("floor", user)
    browser = Browser(communicator)
    await browser.next_frame()
    cases = [
        ("{not json", "bad_json"),
        (json.dumps([1, 2]), "bad_message"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "ping"}), "bad_message"),
        (json.dumps({"type": "ping", "t": 1, "extra": 2}), "bad_message"),
        (json.dumps({"type": "ping", "t": "x" * 5000}), "too_large"),
    ]
    for text, code in cases:
        await communicator.send_to(text_data=text)
        frame = await browser.next_frame()
        assert (frame["type"], frame["code"]) == ("error", code), text[:40]
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await browser.next_frame())["code"] == "bad_message"
    await communicator.send_to(text_data=json.dumps({"type": "telemetry", "version": "1", "memory": 1, "latency": 1}))
    assert (await browser.next_frame())["code"] == "bad_message"
    await communicator.disconnect()


async def test_ping_resync_and_flood_limit():
    dashboard, keys = await make_async(make_dashboard)
    user = await make_async(staff_user)
    communicator, _, _ = await desk("floor", user)
    browser = Browser(communicator)
    await browser.next_frame()
    await communicator.send_json_to({"type": "ping", "t": 123.5})
    pong = await browser.next_frame()
    assert pong["type"] == "pong" and pong["t"] == 123.5 and abs(pong["server_time"] - frames.now_ms()) < 5000
    await make_async(store.write, {keys[1]: fresh(93.5, "93.5%")}, {dashboard.pk: 5}, live_status())
    await communicator.send_json_to({"type": "resync"})
    snapshot = await browser.next_frame()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 5 and snapshot["values"][keys[1]]["value"] == 93.5
    # Burst is 4 x 5/s = 20 frames; 60 at once: 1 rate_limited error, the rest answered or dropped.
    # The bucket refills at 5/s and may warn once a second while the flood is handled, so
    # the bounds grow with the time it took (a loaded machine handles it slowly).
    before = len(browser.frames)
    started = last = time.monotonic()
    for i in range(60):
        await communicator.send_json_to({"type": "ping", "t": i})
    while not await communicator.receive_nothing(timeout=1.0, interval=0.005):
        browser.apply(await communicator.receive_json_from())
        last = time.monotonic()
    elapsed = last - started
    flood = browser.frames[before:]
    pongs = [f for f in flood if f["type"] == "pong"]
    limited = [f for f in flood if f["type"] == "error" and f["code"] == "rate_limited"]
    assert 1 <= len(limited) <= 1 + int(elapsed), (len(limited), elapsed)
    assert 15 <= len(pongs) <= 20 + 5 * elapsed + 1, (len(pongs), elapsed)
    await communicator.disconnect()


async def test_wrong_origin_is_refused_by_the_full_application():
    await make_async(make_dashboard)
    communicator = WebsocketCommunicator(application, "/ws/dashboards/floor/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


# ------------------------------------------------------------------ walls


def make_display(dashboards):
    display = Display(name="Floor TV")
    token = display.issue_token()
    display.save()
    for position, dashboard in enumerate(dashboards):
        DisplayItem.objects.create(display=display, dashboard=dashboard, position=position)
    return display, token


async def wall(token):
    communicator = WebsocketCommunicator(router, f"/ws/wall/{token}/")
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_wall_follows_its_playlist_reports_telemetry_and_is_closed_on_revoke():
    first, first_keys = await make_async(make_dashboard, "first")
    second, _ = await make_async(make_dashboard, "second")
    third, _ = await make_async(make_dashboard, "third")
    display, token = await make_async(make_display, [first, second])
    communicator, connected, code = await wall("not-a-token")
    assert (connected, code) == (False, 4403)
    communicator, connected, _ = await wall(token)
    assert connected
    browser = Browser(communicator)
    await browser.until(lambda b: set(b.seq) == {"first", "second"}, 10, "snapshots of the playlist")
    # Telemetry is stored on the display.
    await communicator.send_json_to({"type": "telemetry", "version": "v7", "memory": 181.5, "latency": 42})
    stored = await eventually(
        lambda: make_async(lambda: Display.objects.filter(pk=display.pk, page_version="v7").first()),
        10, "telemetry stored",
    )
    assert (stored.memory_mb, stored.latency_ms) == (181.5, 42) and stored.last_seen is not None
    # Frames of every playlist dashboard reach the wall.
    await get_channel_layer().group_send(
        dashboard_group(first.pk), {"type": FRAME_MESSAGE, "frame": frames.batch("first", 1, {first_keys[0]: fresh(3)})}
    )
    await browser.until(lambda b: b.values.get(first_keys[0], {}).get("value") == 3, 10, "batch of first")
    # Adding a dashboard to the playlist (a signal after commit) brings its snapshot.
    await make_async(DisplayItem.objects.create, display=display, dashboard=third, position=2)
    await browser.until(lambda b: "third" in b.seq, 10, "snapshot of the added dashboard")
    await reload_display_async(display.pk, "new version")
    await browser.until(lambda b: b.frames[-1] == {"type": "reload", "reason": "new version"}, 10, "reload frame")
    # Revoking the token closes the socket.
    await make_async(revoke, display)
    closed = await eventually(lambda: communicator_closed(communicator), 10, "socket closed after revoke")
    assert closed["code"] == 4403


def revoke(display):
    display.revoked = True
    display.save()


async def test_reissuing_a_token_closes_sockets_opened_with_the_old_one():
    dashboard, _ = await make_async(make_dashboard)
    display, token = await make_async(make_display, [dashboard])
    communicator, connected, _ = await wall(token)
    assert connected
    await Browser(communicator).next_frame()

    def reissue():
        display.issue_token()
        display.save()

    await make_async(reissue)
    closed = await eventually(lambda: communicator_closed(communicator), 10, "socket closed after re-issue")
    assert closed["code"] == 4403
    await display_changed_async(display.pk)  # Harmless with no socket left.


async def test_deleting_a_dashboard_closes_its_desk_sockets_and_walls_drop_it():
    first, _ = await make_async(make_dashboard, "first")
    second, _ = await make_async(make_dashboard, "second")
    _display, token = await make_async(make_display, [first, second])
    user = await make_async(staff_user)
    communicator, _, _ = await desk("second", user)
    await Browser(communicator).next_frame()
    wall_socket, _, _ = await wall(token)
    wall_browser = Browser(wall_socket)
    await wall_browser.until(lambda b: set(b.seq) == {"first", "second"}, 10, "wall snapshots")
    await make_async(second.delete)
    closed = await eventually(lambda: communicator_closed(communicator), 10, "desk socket closed")
    assert closed["code"] == 4404
    # The wall stays open and keeps following the first dashboard only.
    layer = get_channel_layer()
    await layer.group_send(dashboard_group(second.pk), {"type": FRAME_MESSAGE, "frame": frames.batch("second", 99, {})})
    assert await wall_socket.receive_nothing(0.2)
    await wall_socket.send_json_to({"type": "resync"})
    await wall_browser.until(lambda b: [f["dashboard"] for f in b.frames[-1:]] == ["first"], 10, "resync covers the rest")
    await wall_socket.disconnect()
