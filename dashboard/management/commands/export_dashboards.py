"""``manage.py export_dashboards [SLUG ...] [-o FILE]``: dashboards as JSON."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from dashboard.models import Dashboard
from dashboard.transfer import export_dashboards


class Command(BaseCommand):
    """Write dashboards (all, or the given slugs) as JSON to a file or stdout."""

    help = "Export dashboards (all, or the given slugs) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Dashboards to export (default: all).")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")

    def handle(self, *args, slugs, output, **options):
        dashboards = Dashboard.objects.all()
        if slugs:
            dashboards = dashboards.filter(slug__in=slugs)
            missing = sorted(set(slugs) - set(dashboards.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"No dashboard with slug {', '.join(missing)}.")
        text = json.dumps(export_dashboards(dashboards.order_by("slug")), indent=2, sort_keys=True)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
            self.stderr.write(f"Exported {dashboards.count()} dashboard(s) to {output}.")
        else:
            sys.stdout.write(text + "\n")
