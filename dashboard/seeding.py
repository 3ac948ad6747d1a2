"""The demo's three dashboards, one drill-down board per agent group, and one wall.

``seed_demo(catalog)`` is idempotent (it replaces the demo dashboards and display it
made before) and runs in one transaction. ``catalog`` is what the simulator lists at
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
from django.utils.text import slugify

from dashboard.models import Dashboard, Display, DisplayItem, Widget, WidgetStatistic
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


class CatalogError(ValueError):
    """The catalogue lacks what the demo needs; the message says what."""


@dataclass(frozen=True)
class DemoSeed:
    """What seeding made: the dashboards, the wall and its one-time token, the login."""

    dashboards: list
    display: Display
    wall_token: str
    username: str
    password: str


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


def group_board_slug(group_id: str) -> str:
    """The slug of a group's drill-down board, e.g. ``agents-sales``."""
    return "agents-" + slugify(group_id)


def _stat(object_type: str, object_id: str, name: str, label: str) -> Statistic:
    existing = Statistic.objects.filter(key=statistic_key(object_type, object_id, name, None)).first()
    if existing is not None:
        return existing
    return Statistic.objects.create(object_type=object_type, object_id=object_id, name=name, label=label)


def _widget(dashboard: Dashboard, stats: list, **fields) -> Widget:
    widget = Widget(dashboard=dashboard, **fields)
    widget.full_clean(exclude=["dashboard"])
    widget.save()
    WidgetStatistic.objects.bulk_create(
        [WidgetStatistic(widget=widget, statistic=s, position=i) for i, s in enumerate(stats)]
    )
    return widget


def _queue_name(queue_id: str) -> str:
    return queue_id.removeprefix("VQ_").split("@")[0]


def _group_board(owner, group_id: str, members: list) -> Dashboard:
    board = Dashboard.objects.create(
        title=f"{group_id} agents", slug=group_board_slug(group_id), owner=owner,
        description=f"The agents of group {group_id}, behind its numbers.",
    )
    states = [_stat("Agent", a, "CurrentAgentState", a) for a in members]
    _widget(board, states, type="agent_grid", label=f"{group_id} agents", x=0, y=0, w=12, h=4, interval="now")
    return board


def _overview(owner, queues: list, groups: list, group_boards: dict) -> Dashboard:
    board = Dashboard.objects.create(
        title="Contact-centre overview", slug="overview", owner=owner, description="Queues and agents at a glance."
    )
    first_queue, first_group = queues[0], groups[0]
    waiting = [_stat("Queue", q, "CallsWaiting", f"{_queue_name(q)} waiting") for q in queues]
    _widget(board, [waiting[0]], type="kpi", label=f"Calls waiting · {_queue_name(first_queue)}", x=0, y=0, w=3, h=2,
            unit="calls", warning=3, critical=6, hysteresis=1, interval="now", history_minutes=15)
    level = _stat("Queue", first_queue, "ServiceLevel", f"{_queue_name(first_queue)} service level")
    _widget(board, [level], type="kpi", label=f"Service level · {_queue_name(first_queue)}", x=3, y=0, w=3, h=2,
            format="percent", direction="below", warning=80, critical=60, hysteresis=2, interval="since start",
            history_minutes=15)
    longest = _stat("Queue", first_queue, "LongestWaitTime", f"{_queue_name(first_queue)} longest wait")
    _widget(board, [longest], type="gauge", label=f"Longest wait · {_queue_name(first_queue)}", x=6, y=0, w=3, h=2,
            format="duration", warning=30, critical=60, hysteresis=5, interval="now")
    states = [
        _stat("GroupAgents", first_group, name, f"{first_group} {word}")
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
        logged_in = _stat("GroupAgents", group, "AgentsLoggedIn", f"{group} logged in")
        _widget(board, [logged_in], type="kpi", label=f"{group} logged in", x=(index * 3) % 12, y=4 + (index // 4) * 2,
                w=3, h=2, unit="agents", interval="now", history_minutes=15, drilldown=group_boards[group])
    return board


def _agents(owner, agents: list, groups: list) -> Dashboard:
    board = Dashboard.objects.create(title="Agent board", slug="agents", owner=owner, description="Every agent's state.")
    shown = agents[:AGENT_GRID_SIZE]
    states = [_stat("Agent", a, "CurrentAgentState", a) for a in shown]
    _widget(board, states, type="agent_grid", label="Agents", x=0, y=0, w=9, h=4, interval="now")
    _widget(board, states, type="donut", label="Agents by state", x=9, y=0, w=3, h=2, interval="now")
    logged_in = [_stat("GroupAgents", g, "AgentsLoggedIn", f"{g} logged in") for g in groups]
    _widget(board, logged_in, type="bar", label="Logged in per group", x=9, y=2, w=3, h=2, interval="now")
    in_state = [_stat("Agent", a, "TimeInCurrentState", f"{a} in state") for a in shown[:TIME_IN_STATE_AGENTS]]
    _widget(board, in_state, type="bar", label="Time in current state", x=0, y=4, w=12, h=2, format="duration",
            warning=600, critical=1200, hysteresis=10, interval="now")
    return board


def _queues(owner, queues: list) -> Dashboard:
    board = Dashboard.objects.create(title="Queue wall", slug="queues", owner=owner, description="Queues for the floor.")
    columns = (("CallsWaiting", "waiting"), ("LongestWaitTime", "longest wait"), ("ServiceLevel", "service level"),
               ("CallsAbandoned", "abandoned"))
    cells = [_stat("Queue", q, name, f"{_queue_name(q)} {word}") for q in queues for name, word in columns]
    _widget(board, cells, type="queue_table", label="Queues", x=0, y=0, w=8, h=4, interval="now / since start")
    abandoned = [_stat("Queue", q, "CallsAbandoned", f"{_queue_name(q)} abandoned") for q in queues]
    _widget(board, abandoned, type="bar", label="Abandoned per queue", x=8, y=0, w=4, h=2,
            warning=5, critical=10, hysteresis=1, interval="since start")
    waiting = [_stat("Queue", q, "CallsWaiting", f"{_queue_name(q)} waiting") for q in queues]
    _widget(board, [waiting[0]], type="kpi", label=f"Waiting · {_queue_name(queues[0])}", x=8, y=2, w=4, h=2,
            unit="calls", warning=3, critical=6, hysteresis=1, interval="now")
    return board


@transaction.atomic
def seed_demo(catalog: dict, *, seconds_per_dashboard: int = 20) -> DemoSeed:
    """Create (or re-create) the demo login, three dashboards, a board per group and one wall display."""
    objects = check_catalog(catalog)
    queues, groups, agents = objects["Queue"], objects["GroupAgents"], objects["Agent"]
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME)
    user.is_staff = user.is_superuser = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    Dashboard.objects.filter(slug__in=DEMO_SLUGS + tuple(group_board_slug(g) for g in groups)).delete()
    Display.objects.filter(name=DEMO_DISPLAY).delete()
    group_boards = {g: _group_board(user, g, catalog["groups"][g]) for g in groups}
    dashboards = [_overview(user, queues, groups, group_boards), _agents(user, agents, groups), _queues(user, queues)]
    dashboards += group_boards.values()
    display = Display(name=DEMO_DISPLAY, seconds_per_dashboard=seconds_per_dashboard)
    token = display.issue_token()
    display.full_clean()
    display.save()
    for position, dashboard in enumerate((dashboards[0], dashboards[2])):
        DisplayItem.objects.create(display=display, dashboard=dashboard, position=position)
    return DemoSeed(dashboards, display, token, DEMO_USERNAME, DEMO_PASSWORD)
