"""``manage.py seed_demo --simulator URL [--control-key K] [--reset]``: the demo dashboards and wall.

Seeds only what is missing; the wall link stays the same from run to run (see dashboard.seeding)."""

import json

from django.core.management.base import BaseCommand, CommandError

from dashboard.seeding import CatalogError, fetch_catalog, seed_demo


class Command(BaseCommand):
    """Create what is missing of the demo login, dashboards and wall from a simulator's catalogue."""

    help = ("Seed what is missing of the demo dashboards, display names and wall display from the simulator's "
            "catalogue (the wall link stays the same); prints JSON.")

    def add_arguments(self, parser):
        parser.add_argument("--simulator", required=True, help="The simulator's base URL.")
        parser.add_argument("--control-key", default="demo-control-key", help="The simulator's control key.")
        parser.add_argument("--seconds", type=int, default=20, help="Seconds per dashboard on a new wall.")
        parser.add_argument("--reset", action="store_true",
                            help="Re-create the demo dashboards and wall (edits to them are lost; the link stays).")

    def handle(self, *args, simulator, control_key, seconds, reset, **options):
        try:
            seeded = seed_demo(fetch_catalog(simulator, control_key), seconds_per_dashboard=seconds, reset=reset)
        except CatalogError as error:
            raise CommandError(str(error)) from None
        summary = {
            "dashboards": [d.slug for d in seeded.dashboards],
            "created": seeded.created,
            "wall_path": f"/wall/{seeded.wall_token}/",
            "username": seeded.username,
            "password": seeded.password,
        }
        self.stdout.write(json.dumps(summary))
