"""What an editor picks widgets from: the tenant's objects and statistic names.

The Statistics API has no object directory, so the catalogue is put together from what
is known here: the object list an admin imports or enters (display names, which also name
the objects), the objects and statistic names already in use, and, when the upstream is
the simulator, its own catalogue (``GET /simulator/catalog``: objects, group membership,
statistic descriptions). A simulator that does not answer is simply left out.
"""

from django.conf import settings
from django.core.cache import cache

from dashboard import names
from dashboard.models import DisplayName
from dashboard.seeding import CatalogError, fetch_catalog
from statsbridge.models import Statistic

# Up to this many objects the page gets them all and searches in the browser; beyond it
# (a real centre's thousands of agents and DNs) it asks the server (``search_objects``).
EMBED_LIMIT = 3000
SEARCH_LIMIT = 50
CACHE_KEY = "dashboard.catalogue.simulator"
CACHE_SECONDS = 60
FETCH_SECONDS = 3.0


def _simulator_catalogue() -> dict:
    cached = cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    try:
        found = fetch_catalog(settings.GENESYS["API_URL"], settings.SIMULATOR_CONTROL_KEY, timeout=FETCH_SECONDS)
    except (CatalogError, ValueError):
        found = {}
    if not isinstance(found, dict):
        found = {}
    cache.set(CACHE_KEY, found, CACHE_SECONDS)
    return found


def build_catalogue(embed_limit: int | None = None) -> dict:
    """``{"objects": {type: [{"id", "name"}]}, "groups": {group: [agent ids]}, "statistics": [...], "remote"}``.

    Each statistic is ``{"name", "label", "description", "objectTypes"}``; lists are sorted.
    With more than ``embed_limit`` objects, ``objects`` lists only the types (each empty)
    and ``remote`` is true: the page searches them with ``search_objects``.
    """
    found = full_catalogue()
    limit = EMBED_LIMIT if embed_limit is None else embed_limit
    total = sum(len(ids) for ids in found["objects"].values())
    if total > limit:
        return {**found, "objects": {t: [] for t in found["objects"]}, "remote": True,
                "counts": {t: len(ids) for t, ids in found["objects"].items()}}
    return {**found, "remote": False}


def search_objects(object_type: str, query: str, limit: int = SEARCH_LIMIT) -> tuple[list[dict], bool]:
    """Objects of a type whose id or name contains ``query`` (any case): the first ``limit``, and whether there are more."""
    query = query.strip().lower()
    matches = [o for o in full_catalogue()["objects"].get(object_type, [])
               if not query or query in o["id"].lower() or query in o["name"].lower()]
    return matches[:limit], len(matches) > limit


def full_catalogue() -> dict:
    """The whole catalogue (see ``build_catalogue``), every object listed."""
    simulator = _simulator_catalogue()
    objects: dict[str, set] = {t: set(ids) for t, ids in (simulator.get("objects") or {}).items()}
    statistics = {s["name"]: {"name": s["name"], "description": s.get("description", ""),
                              "objectTypes": list(s.get("objectTypes") or [])}
                  for s in simulator.get("statistics") or [] if isinstance(s, dict) and s.get("name")}
    for object_type, object_id, name in Statistic.objects.values_list("object_type", "object_id", "name"):
        objects.setdefault(object_type, set()).add(object_id)
        if name and name not in statistics:
            statistics[name] = {"name": name, "description": "", "objectTypes": [object_type]}
        elif name and object_type not in statistics[name]["objectTypes"]:
            statistics[name]["objectTypes"].append(object_type)
    aliases = {}
    for object_type, object_id, shown in DisplayName.objects.values_list("object_type", "object_id", "display_name"):
        aliases[(object_type, object_id)] = shown
        if object_type == names.STATISTIC:
            statistics.setdefault(object_id, {"name": object_id, "description": "", "objectTypes": []})
        else:
            objects.setdefault(object_type, set()).add(object_id)
    for entry in statistics.values():
        entry["label"] = aliases.get((names.STATISTIC, entry["name"]), entry["name"])
    return {
        "objects": {t: [{"id": i, "name": aliases.get((t, i), i)} for i in sorted(ids)] for t, ids in sorted(objects.items())},
        "groups": simulator.get("groups") or {},
        "statistics": sorted(statistics.values(), key=lambda s: s["name"]),
    }
