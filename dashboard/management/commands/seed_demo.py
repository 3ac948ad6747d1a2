"""``manage.py seed_demo --simulator URL [--control-key K]``: the demo dashboards and wall."""

import json

from django.core.management.base import BaseCommand, CommandError

from dashboard.seeding import CatalogError, fetch_catalog, seed_demo


class Command(BaseCommand):
    """(Re-)create the demo login, three dashboards and a wall from a simulator's catalogue."""

    help = "Seed the demo dashboards and wall display from the simulator's catalogue; prints JSON."

    def add_arguments(self, parser):
        parser.add_argument("--simulator", required=True, help="The simulator's base URL.")
        parser.add_argument("--control-key", default="demo-control-key", help="The simulator's control key.")
        parser.add_argument("--seconds", type=int, default=20, help="Seconds per dashboard on the wall.")

    def handle(self, *args, simulator, control_key, seconds, **options):
        try:
            seeded = seed_demo(fetch_catalog(simulator, control_key), seconds_per_dashboard=seconds)
        except CatalogError as error:
            raise CommandError(str(error)) from None
        summary = {
            "dashboards": [d.slug for d in seeded.dashboards],
            "wall_path": f"/wall/{seeded.wall_token}/",
            "username": seeded.username,
            "password": seeded.password,
        }
        self.stdout.write(json.dumps(summary))
