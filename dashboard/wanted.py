"""What the dashboards want from the bridge: the statistics their widgets show.

``bridge_routes`` is the bridge's source of routes (``settings.BRIDGE_ROUTES_SOURCE``);
``dashboard_keys`` gives one dashboard's keys to its sockets' snapshots.
"""

from dashboard.models import Dashboard, WidgetStatistic
from statsbridge.wanted import Routes, build_routes


def bridge_routes() -> Routes:
    """Read every statistic used by a widget, and the dashboards showing it."""
    rows = WidgetStatistic.objects.values_list(
        "statistic__key",
        "statistic__object_type",
        "statistic__object_id",
        "statistic__name",
        "statistic__definition",
        "widget__dashboard_id",
    )
    return build_routes(rows, dict(Dashboard.objects.values_list("pk", "slug")))


def dashboard_keys(dashboard_id: int) -> list[str]:
    """Statistic keys shown on one dashboard, straight from the database."""
    return sorted(set(WidgetStatistic.objects.filter(widget__dashboard_id=dashboard_id).values_list("statistic__key", flat=True)))
