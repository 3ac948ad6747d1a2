"""Snapshots read a dashboard's statistic keys from the database once per configuration version."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.consumers import DashboardKeysCache, build_snapshot
from dashboard.models import Widget, WidgetStatistic
from statsbridge.models import Statistic
from tests.consumers.helpers import make_dashboard

pytestmark = pytest.mark.django_db(transaction=True)


def test_keys_are_cached_until_an_admin_edit_bumps_the_version():
    dashboard, keys = make_dashboard()
    cached = DashboardKeysCache()
    assert cached(dashboard.pk) == sorted(keys)
    with CaptureQueriesContext(connection) as queries:
        assert cached(dashboard.pk) == sorted(keys)
    assert len(queries) == 0, [q["sql"] for q in queries]

    widget = Widget.objects.get(dashboard=dashboard)
    added = Statistic.objects.create(object_type="Queue", object_id="VQ_floor", name="CallsAbandoned")
    WidgetStatistic.objects.create(widget=widget, statistic=added, position=9)  # commits: the version moves
    assert cached(dashboard.pk) == sorted([*keys, added.key])


def test_a_lost_version_is_never_taken_for_the_cached_one():
    dashboard, keys = make_dashboard()
    cached = DashboardKeysCache()
    assert cached(dashboard.pk) == sorted(keys)
    # A cleared store forgets the version; an edit made meanwhile must still show.
    cache.clear()
    WidgetStatistic.objects.filter(widget__dashboard=dashboard, statistic__key=keys[0]).delete()
    cache.clear()
    assert cached(dashboard.pk) == sorted(keys[1:])


def test_the_snapshot_shows_every_key_of_the_dashboard():
    dashboard, keys = make_dashboard()
    frame = build_snapshot(dashboard.pk, dashboard.slug)
    assert sorted(frame["values"]) == sorted(keys) and frame["connection"]["bridge"] == "down"
