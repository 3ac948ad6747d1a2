"""The ops page's update rate: sliding windows in the bridge, shown from the shared status."""

import asyncio
import re

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

from dashboard.models import Dashboard, Widget, WidgetStatistic
from dashboard.views import ops_summary, window_label
from statsbridge import frames, store
from statsbridge.host import BridgeHost
from statsbridge.lease import LocalLease
from statsbridge.models import Statistic
from statsbridge.rates import WINDOWS, UpdateRates, rate
from tests.bridge.simulated import Control, genesys_for
from tests.live import eventually
from tests.live_fixtures import fresh_live_state  # noqa: F401  (fast bridge timings, clean cache)

LOAD = 40.0  # updates per second the simulator is asked to push


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_between_two_samples():
    assert rate((12.0, 50), (10.0, 30)) == 10.0
    assert rate((10.0, 50), (10.0, 30)) is None
    assert rate((12.0, 5), (10.0, 9)) == 0.0  # a count never runs backwards into a negative rate


def test_rates_slide_over_their_windows_overall_and_per_subscription():
    clock = Clock()
    rates = UpdateRates((2, 4), every=1.0, clock=clock)
    held = {"a": {"k1", "k2"}, "b": {"k3"}}
    first = rates.snapshot(held)
    assert first["rates"] == [None, None] and first["by_subscription"] == {"a": [None, None], "b": [None, None]}
    for _ in range(4):  # 4 s of 3 updates/s on a, 1 update/s on b
        clock.now += 1.0
        for key in ("k1", "k2", "k1", "k3"):
            rates.count(key)
        snap = rates.snapshot(held)
    assert snap["total"] == 16 and snap["windows"] == [2, 4]
    assert snap["rates"] == [4.0, 4.0]
    assert snap["by_subscription"] == {"a": [3.0, 3.0], "b": [1.0, 1.0]}
    clock.now += 0.5  # not yet due: the last sample stands
    rates.count("k3")
    assert rates.snapshot(held) == snap
    for _ in range(3):  # silence: the 2 s window empties, the 4 s one keeps part of the load
        clock.now += 1.0
        snap = rates.snapshot(held)
    assert snap["rates"] == [0.0, round(5 / 4.5, 2)]
    # A new subscription has a rate only from its first sample on; dropped keys stop counting.
    held = {"c": {"k1"}}
    clock.now += 1.0
    rates.count("k1")
    assert rates.snapshot(held)["by_subscription"] == {"c": [None, None]}
    clock.now += 1.0
    rates.count("k1")
    rates.count("k2")
    assert rates.snapshot(held)["by_subscription"] == {"c": [1.0, 1.0]}


def test_ops_summary_and_page_show_the_published_rates(client, demo):
    connection = frames.connection(upstream="connected", service="AVAILABLE", bridge="up")
    status = {"connection": connection, "heartbeat": frames.now_ms(), "started": frames.now_ms(),
              "updates": {"total": 1234, "windows": [10, 60], "rates": [12.5, None]},
              "subscription_details": [{"id": "sub-1", "statistics": 3, "last_update": None, "rates": [2.0, None]}]}
    summary = ops_summary(status, connection, frames.now_ms() / 1000)
    assert summary["update_rates"] == [{"window": "10 s", "rate": 12.5}, {"window": "1 min", "rate": None}]
    assert summary["updates_total"] == 1234
    assert ops_summary(None, connection, 0.0)["update_rates"] == []
    assert [window_label(s) for s in (10, 60, 90, 120)] == ["10 s", "1 min", "90 s", "2 min"]
    store.write(status=status)
    client.force_login(User.objects.get(username=demo.username))
    html = client.get("/ops/").content.decode()
    assert '<span data-window="10 s" data-rate="12.5">12.5/s over 10 s</span>' in html
    assert '<span data-window="1 min" data-rate="">— over 1 min</span>' in html
    assert "1234 since the bridge started" in html
    assert re.search(r'<tr data-subscription="sub-1">.*?<td data-rate="2.0">2.0</td><td data-rate="">—</td>', html, re.S)
    metrics = client.get("/metrics").content.decode()
    assert 'ccdash_shared_update_rate{window_seconds="10"} 12.5' in metrics
    assert 'window_seconds="60"' not in metrics  # no rate yet: no sample


# ---------------------------------------------------------------- against the simulator


def seed_quiet(queues):
    """A staff user and one widget of statistics the simulator never pushes by itself.

    ``NoNotification`` keeps the model's own changes off the wire, so every update the
    bridge receives is one of the simulator's load updates, whose rate the test sets.
    Four statistics in batches of 3 make two subscriptions of 3 and 1 statistics.
    """
    with transaction.atomic():
        user = User.objects.create_user("ops", password="x", is_staff=True, is_superuser=True)
        dashboard = Dashboard.objects.create(title="Quiet", slug="quiet")
        widget = Widget.objects.create(dashboard=dashboard, type=Widget.QUEUE_TABLE, label="Answered")
        for position, queue in enumerate(queues[:4]):
            statistic = Statistic(object_type="Queue", object_id=queue, name="", definition={
                "category": "TotalNumber", "subject": "DNAction", "mainMask": "CallAnswered",
                "notificationMode": "NoNotification", "intervalType": "GrowingWindow"})
            statistic.full_clean()
            statistic.save()
            WidgetStatistic.objects.create(widget=widget, statistic=statistic, position=position)
        return user


class OpsPage:
    """The ops page as a staff member's browser gets it, read into numbers."""

    def __init__(self, user):
        self.client = Client()
        self.client.force_login(user)

    async def read(self) -> dict:
        """Overall rates by window label, per-subscription rates, and the total received."""
        html = await database_sync_to_async(lambda: self.client.get("/ops/").content.decode())()
        overall = {w: _number(r) for w, r in re.findall(r'<span data-window="([^"]+)" data-rate="([^"]*)"', html)}
        rows = re.findall(r'<tr data-subscription="[^"]+"><td><code>[^<]+</code></td><td>(\d+)</td>(.*?)</tr>', html, re.S)
        subscriptions = {int(n): [_number(r) for r in re.findall(r'<td data-rate="([^"]*)"', cells)] for n, cells in rows}
        total = re.search(r"(\d+) since the bridge started", html)
        return {"overall": overall, "subscriptions": subscriptions, "total": int(total.group(1)) if total else None}

    async def metrics(self) -> str:
        """The /metrics body of this web process."""
        return await database_sync_to_async(lambda: self.client.get("/metrics").content.decode())()


def _number(text: str) -> float | None:
    return float(text) if text else None


def within(value, expected: float, tolerance: float = 0.3) -> bool:
    """``value`` is a number within ``tolerance`` (a fraction) of ``expected``."""
    return value is not None and abs(value - expected) <= tolerance * expected


@pytest.mark.django_db(transaction=True)
async def test_the_ops_page_shows_the_update_rate_the_simulator_offers(simulator):
    control = Control(simulator)
    user = await database_sync_to_async(seed_quiet)(simulator.tenant.model.objects()["Queue"])
    page = await database_sync_to_async(OpsPage)(user)
    host = BridgeHost(genesys_for(simulator), lease=LocalLease())
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    try:
        await eventually(lambda: _state_has(control, subscriptions=2, statistics=4), 10, "two subscriptions upstream")
        # Nothing pushed yet: the rate is 0, not unknown, once the bridge has two samples.
        quiet = await eventually(lambda: _ready(page), 10, "a first rate on the ops page")
        assert quiet["overall"]["10 s"] == 0.0 and quiet["total"] == 0

        await control.call("POST", "/load", {"updates_per_second": LOAD})
        # The 10 s rate reaches the offered rate once its whole window lies in the load
        # period; a counter counting twice (or not at all) never gets within the band.
        loaded = await eventually(lambda: _rate_near(page, "10 s", LOAD), WINDOWS[0] + 10, "the 10 s rate at the load")
        sent = (await control.state())["loadUpdatesSent"]
        assert within(loaded["overall"]["10 s"], LOAD), loaded
        assert loaded["total"] <= sent, "an update counted twice"
        # Load is spread evenly over the 4 statistics: 3/4 of it to one subscription, 1/4 to the other.
        assert within(loaded["subscriptions"][3][0], LOAD * 3 / 4) and within(loaded["subscriptions"][1][0], LOAD / 4), loaded
        shared = re.search(r'ccdash_shared_update_rate\{window_seconds="10"\} ([\d.]+)', await page.metrics())
        assert shared and within(float(shared.group(1)), LOAD), "the rate in /metrics"

        await control.call("POST", "/load", {"updates_per_second": 0})
        silent = await eventually(lambda: _rate_is(page, "10 s", 0.0), WINDOWS[0] + 10, "the 10 s rate back to 0")
        # Every update counted once: with the load stopped, the total reaches exactly what the
        # simulator sent (compared while it still moved, the pipeline's lag on a loaded machine
        # made any fixed margin a race).
        sent = (await control.state())["loadUpdatesSent"]
        await eventually(lambda: _total_is(page, sent), 10, f"the total at the {sent} updates sent")
        assert silent["subscriptions"][3][0] == 0.0 and silent["subscriptions"][1][0] == 0.0
        assert 0 < silent["overall"]["1 min"] < LOAD  # the minute still remembers the load
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def _state_has(control, **expected):
    state = await control.state()
    return all(state[k] == v for k, v in expected.items())


async def _ready(page):
    read = await page.read()
    return read if read["overall"].get("10 s") is not None else None


async def _rate_near(page, window, expected):
    read = await page.read()
    return read if within(read["overall"].get(window), expected) else None


async def _total_is(page, total):
    read = await page.read()
    return read if read["total"] == total else None


async def _rate_is(page, window, value):
    read = await page.read()
    return read if read["overall"].get(window) == value else None
