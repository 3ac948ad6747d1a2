"""The demo's mapping for Sign in with Genesys: the simulator's supervisor sees every demo
board, its team lead the agent boards (the agent board and the per-group drill-downs).

Seeded only when missing, like the rest of the demo: a group that exists keeps its
dashboards and a rule that exists keeps its groups, with any edits made in the admin.
"""

from django.contrib.auth.models import Group

from dashboard.models import GenesysAccessRule

SUPERVISORS = "Demo supervisors"
TEAM_LEADS = "Demo team leads"
# The simulator's users' authorities (statsbridge.simulator.authorize).
SUPERVISOR_ROLE = "ROLE_SUPERVISOR"
TEAM_LEAD_ROLE = "ROLE_TEAM_LEAD"


def _group(name: str, dashboards: list) -> Group:
    group, created = Group.objects.get_or_create(name=name)
    if created:
        for dashboard in dashboards:
            dashboard.groups.add(group)
    return group


def _rule(role: str, group: Group) -> None:
    rule, created = GenesysAccessRule.objects.get_or_create(kind="authority", value=role)
    if created:
        rule.groups.add(group)


def seed_sign_in(dashboards: list) -> None:
    """Make what is missing of the two demo groups and their rules; ``dashboards`` are the
    demo's (overview, agents, queues, then one board per agent group)."""
    team_lead_boards = [d for d in dashboards if d.slug not in ("overview", "queues")]
    _rule(SUPERVISOR_ROLE, _group(SUPERVISORS, dashboards))
    _rule(TEAM_LEAD_ROLE, _group(TEAM_LEADS, team_lead_boards))
