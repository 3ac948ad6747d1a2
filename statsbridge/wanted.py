"""What the bridge must subscribe, where each value goes, and how to get there.

``load_routes`` reads the widgets' statistics from the database; ``plan_changes`` is
the pure diff between what is wanted and what is held upstream.
"""

from dataclasses import dataclass, field

from statsbridge.decoding import Hint, hint_for


@dataclass(frozen=True)
class Wanted:
    """One statistic to subscribe: its upstream descriptor and decoding hint."""

    key: str
    descriptor: dict
    hint: Hint


@dataclass(frozen=True)
class Routes:
    """The wanted statistics and which dashboards show each of them."""

    wanted: dict[str, Wanted] = field(default_factory=dict)
    dashboards_by_key: dict[str, frozenset] = field(default_factory=dict)
    slugs: dict[int, str] = field(default_factory=dict)

    def keys_of(self, dashboard_id: int) -> list[str]:
        """Statistic keys shown on a dashboard."""
        return sorted(k for k, ids in self.dashboards_by_key.items() if dashboard_id in ids)


def descriptor(key: str, object_type: str, object_id: str, name: str, definition: dict | None) -> dict:
    """The statistic as ``POST /subscriptions`` takes it."""
    item = {"statisticId": key, "objectId": object_id, "objectType": object_type}
    if definition:
        item["definition"] = definition
    else:
        item["name"] = name
    return item


def load_routes() -> Routes:
    """Read every statistic used by a widget, and the dashboards showing it."""
    from dashboard.models import Dashboard, WidgetStatistic

    rows = WidgetStatistic.objects.values_list(
        "statistic__key",
        "statistic__object_type",
        "statistic__object_id",
        "statistic__name",
        "statistic__definition",
        "widget__dashboard_id",
    )
    wanted: dict[str, Wanted] = {}
    by_key: dict[str, set] = {}
    for key, object_type, object_id, name, definition, dashboard_id in rows:
        if key not in wanted:
            wanted[key] = Wanted(key, descriptor(key, object_type, object_id, name, definition), hint_for(key, name, definition))
        by_key.setdefault(key, set()).add(dashboard_id)
    slugs = dict(Dashboard.objects.values_list("pk", "slug"))
    return Routes(wanted=wanted, dashboards_by_key={k: frozenset(v) for k, v in by_key.items()}, slugs=slugs)


def dashboard_keys(dashboard_id: int) -> list[str]:
    """Statistic keys shown on one dashboard, straight from the database."""
    from dashboard.models import WidgetStatistic

    return sorted(set(WidgetStatistic.objects.filter(widget__dashboard_id=dashboard_id).values_list("statistic__key", flat=True)))


@dataclass(frozen=True)
class Plan:
    """Upstream changes that take what is held to what is wanted.

    ``create``: keys to subscribe anew. ``delete``: subscriptions none of whose
    statistics are wanted any more. ``replace``: subscriptions holding some
    unwanted statistics, to be re-created with only their wanted ones (created
    before the old one is deleted, so their values never pause).
    """

    create: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    replace: dict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when nothing needs to change."""
        return not (self.create or self.delete or self.replace)


def plan_changes(wanted: set, held: dict) -> Plan:
    """Diff wanted keys against held subscriptions ``{subscription id: set of keys}``."""
    held_keys = set().union(*held.values()) if held else set()
    create = tuple(sorted(wanted - held_keys))
    delete, replace = [], {}
    for subscription_id, keys in sorted(held.items()):
        keep = keys & wanted
        if not keep:
            delete.append(subscription_id)
        elif keep != keys:
            replace[subscription_id] = tuple(sorted(keep))
    return Plan(create=create, delete=tuple(delete), replace=replace)
