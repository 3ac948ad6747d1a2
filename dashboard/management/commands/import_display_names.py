"""``manage.py import_display_names FILE``: display names from a CSV, validated, all or nothing."""

import sys

from django.core.management.base import BaseCommand, CommandError

from dashboard import names
from dashboard.admin import reload_walls
from dashboard.models import DisplayName


class Command(BaseCommand):
    """Import display names (object_type,object_id,display_name); nothing is saved if a line is bad."""

    help = ("Import display names from a CSV with the header object_type,object_id,display_name "
            "('-' reads standard input); every bad line is listed and nothing is saved unless all are valid.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="A UTF-8 CSV file ('-' for standard input).")

    def handle(self, *args, file, **options):
        try:
            if file == "-":
                data = sys.stdin.buffer.read(names.MAX_CSV_BYTES + 1)
            else:
                with open(file, "rb") as handle:
                    data = handle.read(names.MAX_CSV_BYTES + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        try:
            counts = DisplayName.import_csv(names.decode_csv(data))
        except names.CsvProblems as error:
            raise CommandError("Nothing was imported:\n  " + "\n  ".join(error.problems)) from None
        if counts["added"] or counts["renamed"]:
            reload_walls("display names imported")  # reaches open walls where the channel layer is shared (Redis)
        self.stdout.write(f"Imported display names: {counts['added']} added, {counts['renamed']} renamed, "
                          f"{counts['unchanged']} unchanged.")
