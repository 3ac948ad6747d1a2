"""What the bridge must subscribe, where each value goes, and how to get there.

``load_routes`` asks the project for what is wanted: ``settings.BRIDGE_ROUTES_SOURCE``
names (by dotted path) a callable returning ``Routes``, usually made with
``build_routes``. The bridge reads no app's models itself, so the apps that show
statistics depend on it and never the other way round. ``plan_changes`` is the pure
diff between what is wanted and what is held upstream.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from statsbridge.decoding import Hint, hint_for


@dataclass(frozen=True, slots=True)
class Wanted:
    """One statistic to subscribe: its upstream descriptor and decoding hint (slotted: one per statistic)."""

    key: str
    descriptor: dict
    hint: Hint


@dataclass(frozen=True)
class Routes:
    """The wanted statistics and which dashboards show each of them."""

    wanted: dict[str, Wanted] = field(default_factory=dict)
    dashboards_by_key: dict[str, frozenset] = field(default_factory=dict)
    slugs: dict[int, str] = field(default_factory=dict)


def descriptor(key: str, object_type: str, object_id: str, name: str, definition: dict | None) -> dict:
    """The statistic as ``POST /subscriptions`` takes it."""
    item = {"statisticId": key, "objectId": object_id, "objectType": object_type}
    if definition:
        item["definition"] = definition
    else:
        item["name"] = name
    return item


def build_routes(rows: Iterable[tuple], slugs: Mapping[int, str]) -> Routes:
    """Routes from ``(key, object_type, object_id, name, definition, dashboard id)`` rows
    (one per statistic a dashboard shows) and the slug of every dashboard by id."""
    wanted: dict[str, Wanted] = {}
    by_key: dict[str, set] = {}
    for key, object_type, object_id, name, definition, dashboard_id in rows:
        if key not in wanted:
            wanted[key] = Wanted(key, descriptor(key, object_type, object_id, name, definition), hint_for(key, name, definition))
        by_key.setdefault(key, set()).add(dashboard_id)
    # Statistics shown on the same dashboards share one frozenset (a large tenant has
    # 100,000 statistics over a few hundred dashboard sets: ~200 bytes saved each).
    shared: dict[frozenset, frozenset] = {}
    by_dashboards = {}
    for key, ids in by_key.items():
        ids = frozenset(ids)
        by_dashboards[key] = shared.setdefault(ids, ids)
    return Routes(wanted=wanted, dashboards_by_key=by_dashboards, slugs=dict(slugs))


def load_routes() -> Routes:
    """Every statistic wanted now and the dashboards showing it, from ``settings.BRIDGE_ROUTES_SOURCE``."""
    source = getattr(settings, "BRIDGE_ROUTES_SOURCE", "")
    if not source:
        raise ImproperlyConfigured("BRIDGE_ROUTES_SOURCE must name the callable that says what the bridge subscribes")
    return import_string(source)()


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
