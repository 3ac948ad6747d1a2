"""The demo's three dashboards, one drill-down board per agent group, and one wall.

``seed_demo(catalog)`` seeds only what is missing, in one transaction: dashboards,
display names and the wall that exist are kept as they are (with any edits made in the
admin), so a restarted demo shows the same boards under the same widget ids. The wall's
link is derived from the secret key (``demo_wall_token``), so it stays the same across
restarts and an open wall reconnects; ``reset=True`` re-creates the demo dashboards and
wall (same link). ``catalog`` is what the simulator lists at
``GET /simulator/catalog``: ``{"objects": {type: [ids]}, "groups": {group: [agent ids]},
"statistics": [{"name", "objectTypes", ...}]}``. Each group's "<group> agents" board (an
agent grid of its members) is the drill-down of the widgets that show that one group.
"""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.crypto import salted_hmac
from django.utils.text import slugify

from dashboard import names, sso_demo
from dashboard.models import Dashboard, Display, DisplayItem, DisplayName, Widget, WidgetStatistic, hash_token
from statsbridge.models import Statistic, statistic_key

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-dashboards"
DEMO_SLUGS = ("overview", "agents", "queues")
DEMO_DISPLAY = "Floor wall (demo)"
AGENT_GRID_SIZE = 24
TIME_IN_STATE_AGENTS = 12
NEEDED = {
    "CurrentAgentState": "Agent",
    "TimeInCurrentState": "Agent",
    "AgentsReady": "GroupAgents",
    "AgentsNotReady": "GroupAgents",
    "AgentsTalking": "GroupAgents",
    "AgentsAfterCallWork": "GroupAgents",
    "AgentsLoggedIn": "GroupAgents",
    "CallsWaiting": "Queue",
    "LongestWaitTime": "Queue",
    "CallsAbandoned": "Queue",
    "ServiceLevel": "Queue",
}


# What the demo calls the simulator's statistic names (agent-state counts as the one state table words them).
STATISTIC_NAMES = {
    "CurrentAgentState": "State",
    "TimeInCurrentState": "Time in state",
    "AgentsReady": names.agent_state_label("Ready"),
    "AgentsNotReady": names.agent_state_label("NotReady"),
    "AgentsTalking": names.agent_state_label("Talking"),
    "AgentsAfterCallWork": names.agent_state_label("AfterCallWork"),
    "AgentsLoggedIn": "Logged in",
    "CallsWaiting": "Waiting",
    "LongestWaitTime": "Longest wait",
    "CallsAbandoned": "Abandoned",
    "ServiceLevel": "Service level",
}
# The queue table's columns measure different things: each has its own thresholds,
# the same as the tiles showing that statistic elsewhere on the demo.
COLUMN_LIMITS = {
    "CallsWaiting": {"warning": 3, "critical": 6, "hysteresis": 1},
    "LongestWaitTime": {"warning": 30, "critical": 60, "hysteresis": 5},
    "ServiceLevel": {"warning": 80, "critical": 60, "direction": "below", "hysteresis": 2},
    "CallsAbandoned": {"warning": 5, "critical": 10, "hysteresis": 1},
}
FIRST_NAMES = ("Anna", "Ben", "Chloé", "Dev", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
               "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tess", "Umar", "Vera", "Wei", "Yara")
SURNAMES = ("Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen", "Kowalski",
            "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Sato", "Tanaka", "Urban", "Varga",
            "Weber", "Xu", "Young", "Zhou")


class CatalogError(ValueError):
    """The catalogue lacks what the demo needs; the message says what."""


@dataclass(frozen=True)
class DemoSeed:
    """What seeding made or kept: the dashboards, the wall and its token, the login."""

    dashboards: list
    display: Display
    wall_token: str
    username: str
    password: str
    created: list  # slugs of the dashboards made this time (the others were kept)


def fetch_catalog(simulator_url: str, control_key: str, timeout: float = 10.0) -> dict:
    """GET the simulator's catalogue (objects and statistic names) with its control key."""
    request = urllib.request.Request(
        simulator_url.rstrip("/") + "/simulator/catalog", headers={"x-simulator-key": control_key}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as error:
        raise CatalogError(f"The simulator refused the catalogue request (HTTP {error.code}); check the control key.") from None
    except (urllib.error.URLError, OSError) as error:
        raise CatalogError(f"Cannot reach the simulator at {simulator_url}: {error}.") from None


def check_catalog(catalog: dict) -> dict:
    """Return the catalogue's objects by type, or raise CatalogError naming what is missing."""
    objects = catalog.get("objects") or {}
    names = {s.get("name"): set(s.get("objectTypes") or ()) for s in catalog.get("statistics") or ()}
    problems = [f"statistic {n} for {t}" for n, t in NEEDED.items() if t not in names.get(n, set())]
    problems += [f"objects of type {t}" for t in ("Agent", "GroupAgents", "Queue") if not objects.get(t)]
    members = catalog.get("groups")
    known_agents = set(objects.get("Agent") or ())
    if not isinstance(members, dict):
        problems.append("group membership (\"groups\")")
    else:
        problems += [f"members of group {g}" for g in objects.get("GroupAgents") or ()
                     if not isinstance(members.get(g), list) or not members[g]
                     or not set(members[g]) <= known_agents]
    if problems:
        raise CatalogError("The simulator's catalogue lacks " + ", ".join(problems) + ".")
    return objects


def demo_wall_token() -> str:
    """The demo wall's secret, derived from SECRET_KEY: the same on every restart of one
    checkout (bin/manage keeps its key in .demo-secret-key), so an open wall reconnects."""
    return salted_hmac("dashboard.seeding.demo_wall_token", DEMO_DISPLAY, algorithm="sha256").hexdigest()


def agent_name(index: int) -> str:
    """A readable, distinct name for the demo's ``index``-th agent (distinct for the first 576)."""
    first = index % len(FIRST_NAMES)
    return f"{FIRST_NAMES[first]} {SURNAMES[(index // len(FIRST_NAMES) + first) % len(SURNAMES)]}"


def demo_names(objects: dict) -> dict[tuple[str, str], str]:
    """The demo's display names: queues by their group ("VQ_Sales@SIP_Switch" → "Sales"),
    groups as "<group> team", agents by person, the statistics in words."""
    aliases = {("Queue", q): _queue_name(q) for q in objects["Queue"]}
    aliases.update({("GroupAgents", g): f"{g} team" for g in objects["GroupAgents"]})
    aliases.update({("Agent", a): agent_name(i) for i, a in enumerate(objects["Agent"])})
    aliases.update({(names.STATISTIC, n): text for n, text in STATISTIC_NAMES.items()})
    return aliases


def _ensure_names(aliases: dict[tuple[str, str], str]) -> None:
    """Add the display names that are missing; ones that exist (maybe edited in the admin) stay."""
    existing = set(DisplayName.objects.filter(object_id__in={i for _, i in aliases}).values_list("object_type", "object_id"))
    DisplayName.objects.bulk_create([DisplayName(object_type=t, object_id=i, display_name=n)
                                     for (t, i), n in aliases.items() if (t, i) not in existing])


# The labels the demo gave its statistics before display names existed, by statistic name.
_LEGACY_WORDS = {
    "TimeInCurrentState": "in state", "AgentsLoggedIn": "logged in", "AgentsReady": "ready",
    "AgentsTalking": "talking", "AgentsAfterCallWork": "after-call work", "AgentsNotReady": "not ready",
    "CallsWaiting": "waiting", "LongestWaitTime": "longest wait", "ServiceLevel": "service level",
    "CallsAbandoned": "abandoned",
}


def legacy_label(object_type: str, object_id: str, name: str) -> str | None:
    """The label an older demo seed wrote on this statistic ("agent001", "Sales waiting"), if any."""
    if object_type == "Agent" and name == "CurrentAgentState":
        return object_id
    word = _LEGACY_WORDS.get(name)
    if word is None:
        return None
    return f"{_queue_name(object_id) if object_type == 'Queue' else object_id} {word}"


def _drop_legacy_labels(objects: dict) -> None:
    """Clear labels an older demo seed wrote (they would hide the display names); labels
    anyone typed differently stay. A demo database from before display names then reads like a new one."""
    ids = {i for kind in ("Agent", "GroupAgents", "Queue") for i in objects[kind]}
    stale = [s for s in Statistic.objects.filter(object_id__in=ids).exclude(label="")
             if s.label == legacy_label(s.object_type, s.object_id, s.name)]
    for stat in stale:
        stat.label = ""
    Statistic.objects.bulk_update(stale, ["label"], batch_size=500)


def group_board_slug(group_id: str) -> str:
    """The slug of a group's drill-down board, e.g. ``agents-sales``."""
    return "agents-" + slugify(group_id)


def _stat(object_type: str, object_id: str, name: str) -> Statistic:
    """The statistic, made if missing, with no label of its own: display names word it ("Sales waiting")."""
    existing = Statistic.objects.filter(key=statistic_key(object_type, object_id, name, None)).first()
    if existing is not None:
        return existing
    return Statistic.objects.create(object_type=object_type, object_id=object_id, name=name)


def _widget(dashboard: Dashboard, stats: list, limits: dict | None = None, **fields) -> Widget:
    """A widget of these statistics; ``limits`` gives statistics their own thresholds by name."""
    widget = Widget(dashboard=dashboard, **fields)
    widget.full_clean(exclude=["dashboard"])
    widget.save()
    links = [WidgetStatistic(widget=widget, statistic=s, position=i, **(limits or {}).get(s.name, {}))
             for i, s in enumerate(stats)]
    for link in links:
        link.full_clean(exclude=["widget", "statistic"])
    WidgetStatistic.objects.bulk_create(links)
    return widget


def _queue_name(queue_id: str) -> str:
    return queue_id.removeprefix("VQ_").split("@")[0]


def _group_board(owner, group_id: str, members: list) -> Dashboard:
    board = Dashboard.objects.create(
        title=f"{group_id} agents", slug=group_board_slug(group_id), owner=owner,
        description=f"The agents of group {group_id}, behind its numbers.",
    )
    states = [_stat("Agent", a, "CurrentAgentState") for a in members]
    _widget(board, states, type="agent_grid", label=f"{group_id} agents", x=0, y=0, w=12, h=4, interval="now")
    return board


def _overview(owner, queues: list, groups: list, group_boards: dict) -> Dashboard:
    board = Dashboard.objects.create(
        title="Contact-centre overview", slug="overview", owner=owner, description="Queues and agents at a glance."
    )
    first_queue, first_group = queues[0], groups[0]
    waiting = [_stat("Queue", q, "CallsWaiting") for q in queues]
    _widget(board, [waiting[0]], type="kpi", label=f"Calls waiting · {_queue_name(first_queue)}", x=0, y=0, w=3, h=2,
            unit="calls", warning=3, critical=6, hysteresis=1, interval="now", history_minutes=15)
    level = _stat("Queue", first_queue, "ServiceLevel")
    _widget(board, [level], type="kpi", label=f"Service level · {_queue_name(first_queue)}", x=3, y=0, w=3, h=2,
            format="percent", direction="below", warning=80, critical=60, hysteresis=2, interval="since start",
            history_minutes=15)
    longest = _stat("Queue", first_queue, "LongestWaitTime")
    _widget(board, [longest], type="gauge", label=f"Longest wait · {_queue_name(first_queue)}", x=6, y=0, w=3, h=2,
            format="duration", warning=30, critical=60, hysteresis=5, interval="now")
    states = [
        _stat("GroupAgents", first_group, name)
        for name, word in (("AgentsReady", "ready"), ("AgentsTalking", "talking"),
                           ("AgentsAfterCallWork", "after-call work"), ("AgentsNotReady", "not ready"))
    ]
    _widget(board, states, type="donut", label=f"Agents by state · {first_group}", x=9, y=0, w=3, h=2, interval="now",
            drilldown=group_boards[first_group])
    _widget(board, waiting, type="bar", label="Calls waiting per queue", x=0, y=2, w=6, h=2,
            warning=3, critical=6, hysteresis=1, interval="now")
    _widget(board, waiting[:3], type="line", label="Calls waiting, last 15 min", x=6, y=2, w=6, h=2,
            history_minutes=15, interval="now")
    for index, group in enumerate(groups):
        logged_in = _stat("GroupAgents", group, "AgentsLoggedIn")
        _widget(board, [logged_in], type="kpi", label=f"{group} logged in", x=(index * 3) % 12, y=4 + (index // 4) * 2,
                w=3, h=2, unit="agents", interval="now", history_minutes=15, drilldown=group_boards[group])
    return board


def _agents(owner, agents: list, groups: list) -> Dashboard:
    board = Dashboard.objects.create(title="Agent board", slug="agents", owner=owner, description="Every agent's state.")
    shown = agents[:AGENT_GRID_SIZE]
    states = [_stat("Agent", a, "CurrentAgentState") for a in shown]
    _widget(board, states, type="agent_grid", label="Agents", x=0, y=0, w=9, h=4, interval="now")
    _widget(board, states, type="donut", label="Agents by state", x=9, y=0, w=3, h=2, interval="now")
    logged_in = [_stat("GroupAgents", g, "AgentsLoggedIn") for g in groups]
    _widget(board, logged_in, type="bar", label="Logged in per group", x=9, y=2, w=3, h=2, interval="now")
    in_state = [_stat("Agent", a, "TimeInCurrentState") for a in shown[:TIME_IN_STATE_AGENTS]]
    _widget(board, in_state, type="bar", label="Time in current state", x=0, y=4, w=12, h=2, format="duration",
            warning=600, critical=1200, hysteresis=10, interval="now")
    return board


def _queues(owner, queues: list) -> Dashboard:
    board = Dashboard.objects.create(title="Queue wall", slug="queues", owner=owner, description="Queues for the floor.")
    columns = ("CallsWaiting", "LongestWaitTime", "ServiceLevel", "CallsAbandoned")
    cells = [_stat("Queue", q, name) for q in queues for name in columns]
    _widget(board, cells, type="queue_table", label="Queues", x=0, y=0, w=8, h=4, interval="now / since start",
            limits=COLUMN_LIMITS)
    abandoned = [_stat("Queue", q, "CallsAbandoned") for q in queues]
    _widget(board, abandoned, type="bar", label="Abandoned per queue", x=8, y=0, w=4, h=2,
            warning=5, critical=10, hysteresis=1, interval="since start")
    waiting = [_stat("Queue", q, "CallsWaiting") for q in queues]
    _widget(board, [waiting[0]], type="kpi", label=f"Waiting · {_queue_name(queues[0])}", x=8, y=2, w=4, h=2,
            unit="calls", warning=3, critical=6, hysteresis=1, interval="now")
    return board


def _demo_user():
    """The demo login, made if missing; its password is only reset when it no longer matches
    (a new hash would log out every open session of the demo user)."""
    user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
    if not (user.is_staff and user.is_superuser and user.check_password(DEMO_PASSWORD)):
        user.is_staff = user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def _demo_display(playlist: list, seconds_per_dashboard: int, token: str) -> Display:
    """The demo wall, made if missing, opened by ``token`` (a revoked or re-issued link is restored)."""
    display = Display.objects.filter(name=DEMO_DISPLAY).first()
    if display is None:
        display = Display(name=DEMO_DISPLAY, seconds_per_dashboard=seconds_per_dashboard)
        display.full_clean(exclude=["token_hash"])
        display.token_hash, display.revoked = hash_token(token), False
        display.save()
        for position, dashboard in enumerate(playlist):
            DisplayItem.objects.create(display=display, dashboard=dashboard, position=position)
    elif display.token_hash != hash_token(token) or display.revoked:
        display.token_hash, display.revoked = hash_token(token), False
        display.save(update_fields=["token_hash", "revoked"])
    return display


@transaction.atomic
def seed_demo(catalog: dict, *, seconds_per_dashboard: int = 20, reset: bool = False,
              wall_token: str | None = None) -> DemoSeed:
    """Make what is missing of the demo login, display names, three dashboards, a board per
    group and one wall display; with ``reset`` re-create the dashboards and the wall first.
    The wall opens with ``wall_token`` (default ``demo_wall_token()``)."""
    objects = check_catalog(catalog)
    queues, groups, agents = objects["Queue"], objects["GroupAgents"], objects["Agent"]
    user = _demo_user()
    _ensure_names(demo_names(objects))
    _drop_legacy_labels(objects)
    slugs = DEMO_SLUGS + tuple(group_board_slug(g) for g in groups)
    if reset:
        Dashboard.objects.filter(slug__in=slugs).delete()
        Display.objects.filter(name=DEMO_DISPLAY).delete()
    kept = {d.slug: d for d in Dashboard.objects.filter(slug__in=slugs)}
    group_boards = {g: kept.get(group_board_slug(g)) or _group_board(user, g, catalog["groups"][g]) for g in groups}
    dashboards = [
        kept.get("overview") or _overview(user, queues, groups, group_boards),
        kept.get("agents") or _agents(user, agents, groups),
        kept.get("queues") or _queues(user, queues),
        *group_boards.values(),
    ]
    token = wall_token or demo_wall_token()
    display = _demo_display([dashboards[0], dashboards[2]], seconds_per_dashboard, token)
    sso_demo.seed_sign_in(dashboards)  # who signing in through the simulator may see (issue 19)
    created = [d.slug for d in dashboards if d.slug not in kept]
    return DemoSeed(dashboards, display, token, DEMO_USERNAME, DEMO_PASSWORD, created)
