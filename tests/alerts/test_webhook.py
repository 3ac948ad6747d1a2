"""The engine against a real HTTP receiver: signed notifications, exactly once across a
restart of the engine (a takeover), retries with a delivery log, and bad answers."""

import datetime as dt
import logging

import pytest
from django.utils import timezone

from alerts import delivery
from alerts.engine import AlertEngine
from alerts.models import Alert, Delivery, Rule, Silence, Target
from dashboard.models import Dashboard, Widget, WidgetStatistic
from statsbridge.aio import SyncRunner
from statsbridge.models import Statistic
from statsbridge.observers import Observation
from statsbridge.wanted import Routes
from tests.alerts.receiver import Receiver
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-test-0123456789"


def fresh(number):
    return {"kind": "number", "value": number, "text": f"{number} calls", "state": "fresh", "timestamp": 1, "received": 1}


@pytest.fixture
def floor():
    board = Dashboard.objects.create(title="Floor", slug="floor")
    statistic = Statistic.objects.create(object_type="Queue", object_id="q1", name="CurrNumberWaitingCalls",
                                         label="Calls waiting")
    widget = Widget.objects.create(dashboard=board, type="kpi", label="Waiting", warning=10, critical=20,
                                   hysteresis=2)
    WidgetStatistic.objects.create(widget=widget, statistic=statistic)
    return board, widget, statistic


@pytest.fixture
async def receiver():
    server = await Receiver(SECRET).start()
    yield server
    await server.stop()


def make_rule(widget, board, url, **fields):
    target = Target.objects.create(name="ops hook", kind=Target.WEBHOOK, url=url, secret=SECRET, attempts=3)
    rule = Rule.objects.create(name="queue busy", severity="critical", kind=Rule.THRESHOLD, widget=widget, **fields)
    rule.dashboards.add(board)
    rule.targets.add(target)
    return rule


def observation(statistic, number, now):
    routes = Routes(dashboards_by_key={statistic.key: frozenset({statistic.widgets.get().dashboard_id})},
                    slugs={statistic.widgets.get().dashboard_id: "floor"})
    connection = {"upstream": "connected", "service": "AVAILABLE", "bridge": "up"}
    return Observation({statistic.key: fresh(number)}, routes, connection, True, now)


async def settled(engine, runner):
    """Wait until the engine has nothing left to send."""
    await eventually(lambda: not engine.sending, 10, "deliveries done")
    return await runner(lambda: list(Delivery.objects.order_by("pk").values_list("event", "status", "attempts")))


async def test_firing_and_resolved_reach_a_real_receiver_signed_and_exactly_once_across_a_takeover(floor, receiver):
    board, widget, statistic = floor
    runner = SyncRunner("test-alerts")
    try:
        await runner(make_rule, widget, board, receiver.url)
        observations = [await runner(observation, statistic, n, t) for n, t in ((12, 0), (12, 500), (9, 900), (7, 1000))]
        engine = AlertEngine(runner)
        await engine.observe(observations[0])  # at the widget's warning level, no duration: fires
        await eventually(lambda: receiver.states() == ["firing"], 5, "the firing notification")
        first = receiver.received[0]
        assert receiver.signed == [True]
        assert first["rule"] == "queue busy"
        assert (first["severity"], first["dashboard"], first["value"]) == ("critical", "floor", 12.0)
        assert first["text"] == "Waiting: Calls waiting is 12 calls (above 10)"
        alert = await runner(Alert.objects.get)
        assert first["url"].endswith(f"/alerts/{alert.pk}/")
        assert first["since"].endswith("Z")
        assert await settled(engine, runner) == [("firing", "sent", 1)]
        await engine.close()

        # A new bridge takes over with the condition still holding: nothing is sent again.
        successor = AlertEngine(runner)
        await successor.observe(observations[1])
        await successor.observe(observations[2])  # 9: within the hysteresis of 2, still firing
        assert await settled(successor, runner) == [("firing", "sent", 1)]
        assert receiver.states() == ["firing"]
        await successor.observe(observations[3])  # 7: clear
        await eventually(lambda: receiver.states() == ["firing", "resolved"], 5, "the resolved notification")
        assert receiver.signed == [True, True]
        assert await settled(successor, runner) == [("firing", "sent", 1), ("resolved", "sent", 1)]
        assert (await runner(Alert.objects.get)).state == Alert.RESOLVED
        await successor.close()
    finally:
        await runner.close()


async def test_failed_answers_are_retried_logged_once_and_kept_in_the_delivery_log(floor, receiver, caplog, monkeypatch):
    board, widget, statistic = floor
    monkeypatch.setattr(delivery, "backoff_seconds", lambda attempt: 0.01 * attempt)
    runner = SyncRunner("test-alerts")
    try:
        await runner(make_rule, widget, board, receiver.url)
        receiver.answers = [500, 503, 502]  # all three attempts fail
        receiver.garbage = True
        engine = AlertEngine(runner)
        with caplog.at_level(logging.WARNING, logger="alerts"):
            await engine.observe(await runner(observation, statistic, 30, 0))
            log = await settled(engine, runner)
        assert log == [("firing", "failed", 3)]
        assert len(receiver.received) == 3
        failure = await runner(lambda: Delivery.objects.get().last_error)
        assert failure == "the receiver answered HTTP 502"
        failures = [r for r in caplog.records if r.name.startswith("alerts") and r.levelno >= logging.WARNING]
        assert len(failures) == 1
        assert SECRET not in caplog.text and SECRET not in failure

        # A 2xx answer with a garbage body counts as delivered: the receiver took it.
        await engine.observe(await runner(observation, statistic, 1, 100))
        await eventually(lambda: receiver.states()[-1:] == ["resolved"], 5, "the resolved notification")
        assert (await settled(engine, runner))[-1] == ("resolved", "sent", 1)
        await engine.close()
    finally:
        await runner.close()


async def test_an_unreachable_receiver_is_a_clear_failure(floor, monkeypatch):
    board, widget, statistic = floor
    monkeypatch.setattr(delivery, "backoff_seconds", lambda attempt: 0.01)
    runner = SyncRunner("test-alerts")
    try:
        await runner(make_rule, widget, board, "http://127.0.0.1:9/hook")
        engine = AlertEngine(runner)
        await engine.observe(await runner(observation, statistic, 30, 0))
        assert await settled(engine, runner) == [("firing", "failed", 3)]
        error = await runner(lambda: Delivery.objects.get().last_error)
        assert error.startswith("could not reach the receiver")
        await engine.close()
    finally:
        await runner.close()


def test_signature_is_the_hmac_of_the_exact_body():
    body = delivery.encode({"b": 1, "a": "é"})
    assert body == b'{"a":"\\u00e9","b":1}'
    assert delivery.signature("k", body) == "sha256=" + __import__("hmac").new(b"k", body, "sha256").hexdigest()


async def test_an_unacknowledged_alert_escalates_once_and_a_silence_holds_notifications(floor, receiver):
    board, widget, statistic = floor
    second = await Receiver(SECRET).start()
    runner = SyncRunner("test-alerts")

    def escalating():
        rule = make_rule(widget, board, receiver.url, escalate_after_minutes=1)
        rule.escalation_targets.add(Target.objects.create(name="duty manager", kind=Target.WEBHOOK, url=second.url,
                                                          secret=SECRET))

    try:
        await runner(escalating)
        engine = AlertEngine(runner, reload_seconds=0)
        await engine.observe(await runner(observation, statistic, 30, 0))
        await engine.observe(await runner(observation, statistic, 30, 59_999))
        await settled(engine, runner)
        assert (receiver.states(), second.states()) == (["firing"], [])
        await engine.observe(await runner(observation, statistic, 30, 60_000))
        await engine.observe(await runner(observation, statistic, 30, 120_000))
        await settled(engine, runner)
        assert (receiver.states(), second.states()) == (["firing"], ["firing"])
        assert second.signed == [True]

        # A maintenance window: the alert resolves and fires again, and nobody is told.
        await runner(lambda: Silence.objects.create(reason="upgrade", starts=timezone.now() - dt.timedelta(minutes=1),
                                                    ends=timezone.now() + dt.timedelta(minutes=5)))
        for number, now in ((1, 130_000), (30, 140_000)):
            await engine.observe(await runner(observation, statistic, number, now))
        await settled(engine, runner)
        assert await runner(lambda: sorted(Alert.objects.values_list("state", flat=True))) == ["firing", "resolved"]
        assert (receiver.states(), second.states()) == (["firing"], ["firing"])
        await engine.close()
    finally:
        await runner.close()
        await second.stop()
