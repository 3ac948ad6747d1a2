"""Open alerts on screens: the ``alerts`` frame's schema, its path through the store and
the consumers (after every snapshot, and live), and what the engine puts there."""

import pytest
from django.contrib.auth.models import User

from alerts.engine import AlertEngine
from alerts.models import Alert, Rule
from statsbridge import frames, store
from statsbridge.aio import SyncRunner
from statsbridge.fanout import Fanout
from statsbridge.observers import Observation
from statsbridge.wanted import load_routes
from tests.consumers.test_consumers import desk, live_status, make_async, make_dashboard
from tests.live import Browser

ALERT = frames.alert(id=3, rule="queue busy", severity="critical", state="firing", text="Calls waiting is 30", since=5)


def test_the_alerts_frame_follows_the_schema():
    frames.validate_frame(frames.alerts("floor", [ALERT]))
    frames.validate_frame(frames.alerts("floor", []))
    for bad in ({**ALERT, "severity": "panic"}, {**ALERT, "state": "resolved"}, {**ALERT, "id": 0},
                {**ALERT, "since": None}, {**ALERT, "extra": 1}, {k: v for k, v in ALERT.items() if k != "text"}):
        with pytest.raises(frames.FrameError):
            frames.validate_frame(frames.alerts("floor", [bad]))
    with pytest.raises(frames.FrameError):
        frames.validate_frame({"type": "alerts", "dashboard": "floor", "alerts": {}})


@pytest.mark.django_db(transaction=True)
async def test_open_alerts_reach_open_sockets_and_follow_every_snapshot():
    dashboard, _keys = await make_async(make_dashboard)
    user = await make_async(User.objects.create_user, "boss", password="x", is_staff=True)
    await make_async(store.write, status=live_status())
    runner = SyncRunner("test-screens")
    try:
        fanout = Fanout(runner, record_history=False)
        await fanout.set_routes(await runner(load_routes))
        communicator, connected, _ = await desk("floor", user)
        assert connected
        browser = Browser(communicator)
        assert (await browser.next_frame())["type"] == "snapshot"
        assert await communicator.receive_nothing(0.1)  # no alert yet: no alerts frame
        assert await fanout.publish_alerts(dashboard.pk, [ALERT])
        assert await browser.next_frame() == frames.alerts("floor", [ALERT])
        await communicator.send_json_to({"type": "resync"})
        assert (await browser.next_frame())["type"] == "snapshot"
        assert await browser.next_frame() == frames.alerts("floor", [ALERT])
        assert await fanout.publish_alerts(dashboard.pk, [])
        assert await browser.next_frame() == frames.alerts("floor", [])
        assert await make_async(store.read_alerts, dashboard.pk) is None
        assert not await fanout.publish_alerts(dashboard.pk + 100, [ALERT])  # not routed
        await communicator.disconnect()
    finally:
        await runner.close()


@pytest.mark.django_db(transaction=True)
async def test_the_engine_shows_fired_alerts_and_clears_them_when_resolved():
    dashboard, keys = await make_async(make_dashboard)
    runner = SyncRunner("test-screens")
    published = []

    class Screens:  # the observers' Publisher interface
        async def publish_alerts(self, dashboard_id, items):
            published.append((dashboard_id, [(i["rule"], i["state"], i["text"]) for i in items]))
            return True

    publish = Screens()

    def add_rule():
        rule = Rule.objects.create(name="stale floor", severity="warning", kind=Rule.STALE, stale_seconds=1)
        rule.dashboards.add(dashboard)

    try:
        await runner(add_rule)
        routes = await runner(load_routes)
        fresh = {k: frames.value(kind="number", value=1, text="1", state="fresh", timestamp=1, received=1) for k in keys}
        down = {"upstream": "connected", "service": "UNAVAILABLE", "bridge": "up"}
        up = {"upstream": "connected", "service": "AVAILABLE", "bridge": "up"}
        engine = AlertEngine(runner, reload_seconds=0)
        await engine.observe(Observation(fresh, routes, up, True, 0, publisher=publish))
        assert published == [(dashboard.pk, [])]  # a new bridge clears what a predecessor left
        await engine.observe(Observation(fresh, routes, down, False, 100, publisher=publish))
        await engine.observe(Observation(fresh, routes, down, False, 1_099, publisher=publish))
        assert len(published) == 1
        await engine.observe(Observation(fresh, routes, down, False, 1_100, publisher=publish))
        text = "Data on Floor stale for more than 1 s: statistics service UNAVAILABLE"
        assert published[1:] == [(dashboard.pk, [("stale floor", "firing", text)])]
        await runner(lambda: Alert.objects.update(state=Alert.ACKNOWLEDGED))
        await engine.observe(Observation(fresh, routes, down, False, 1_200, publisher=publish))
        assert published[2:] == [(dashboard.pk, [("stale floor", "acknowledged", text)])]
        await engine.observe(Observation(fresh, routes, up, True, 1_300, publisher=publish))
        assert published[3:] == [(dashboard.pk, [])]
        assert await runner(lambda: Alert.objects.get().state) == Alert.RESOLVED
        await engine.close()
    finally:
        await runner.close()


