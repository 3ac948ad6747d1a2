"""``python -m bench.seed --plan FILE --out FILE``: migrate-free seeding of a benchmark database.

Reads a plan ``{"statistics": [[type, id, name], ...], "dashboards": D, "kpi_tiles": bool}``
and creates the statistics, ``D`` dashboards sharing them out (KPI tiles or agent
grids), one wall display per dashboard, and a staff user with a logged-in session.
Writes ``{"dashboards": [{"id", "slug", "keys", "wall_token"}], "session": key, "statistics":
[Statistics API descriptors]}``.
Run with ``DJANGO_SETTINGS_MODULE`` and the benchmark's database in the environment.
"""

import argparse
import json
from pathlib import Path

import django

GRID_SIZE = 100  # statistics per agent-grid widget


def seed(plan: dict) -> dict:
    """Create everything the plan asks for in one transaction; return what clients need."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from bench.workload import split
    from dashboard.models import Dashboard, Display, DisplayItem, Widget, WidgetStatistic
    from statsbridge.models import Statistic, statistic_key

    with transaction.atomic():
        stats = [Statistic(object_type=t, object_id=i, name=n, label=f"{n} {i}",
                           key=statistic_key(t, i, n, None)) for t, i, n in plan["statistics"]]
        Statistic.objects.bulk_create(stats, batch_size=1000)
        stats = list(Statistic.objects.order_by("pk"))
        user = get_user_model().objects.create_user("bench", password="bench-password-not-secret", is_staff=True)
        out = []
        links = []
        for index, part in enumerate(split(stats, plan["dashboards"])):
            dashboard = Dashboard.objects.create(title=f"Bench {index}", slug=f"bench-{index}", owner=user)
            if plan.get("kpi_tiles"):
                for position, stat in enumerate(part):
                    widget = Widget.objects.create(dashboard=dashboard, type=Widget.KPI, label=stat.label,
                                                   x=(position % 8) * 3, y=(position // 8) * 2, w=3, h=2)
                    links.append(WidgetStatistic(widget=widget, statistic=stat, position=0))
            else:
                for number, grid in enumerate(split(part, -(-len(part) // GRID_SIZE))):
                    widget = Widget.objects.create(dashboard=dashboard, type=Widget.AGENT_GRID,
                                                   label=f"Agents {number}", x=0, y=number * 4, w=12, h=4)
                    links += [WidgetStatistic(widget=widget, statistic=s, position=p) for p, s in enumerate(grid)]
            display = Display(name=f"Bench wall {index}", seconds_per_dashboard=3600, reload_hour=None)
            token = display.issue_token()
            display.save()
            DisplayItem.objects.create(display=display, dashboard=dashboard)
            out.append({"id": dashboard.pk, "slug": dashboard.slug, "keys": [s.key for s in part], "wall_token": token})
        WidgetStatistic.objects.bulk_create(links, batch_size=1000)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
    statistics = [{"statisticId": s.key, "objectType": s.object_type, "objectId": s.object_id, "name": s.name}
                  for s in stats]
    return {"dashboards": out, "session": session.session_key, "statistics": statistics}


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    django.setup()
    result = seed(json.loads(Path(args.plan).read_text()))
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
