"""``manage.py import_dashboards FILE [--replace] [--owner USER]``: validated, all or nothing."""

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from dashboard.transfer import DashboardImportError, UnreadableFile, import_dashboards, incoming_links, read_document


class Command(BaseCommand):
    """Import dashboards from a JSON export; nothing is saved unless all of it is valid."""

    help = "Import dashboards from JSON (validated first; nothing is saved if anything is wrong)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A file written by export_dashboards ('-' for standard input).")
        parser.add_argument("--replace", action="store_true",
                            help="Overwrite dashboards with the same slug (links to them are kept).")
        parser.add_argument("--owner", help="User name to own the imported dashboards.")

    def handle(self, *args, file, replace, owner, **options):
        try:
            if file == "-":
                document = read_document(sys.stdin)
            else:
                with open(file, encoding="utf-8") as handle:
                    document = read_document(handle)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        except UnreadableFile as error:
            raise CommandError(f"{file} {error}.") from None
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"No user named {owner!r}.")
        try:
            created = import_dashboards(document, replace=replace, owner=user)
        except DashboardImportError as error:
            raise CommandError("Nothing was imported:\n  " + "\n  ".join(error.problems)) from None
        self.stdout.write(f"Imported {len(created)} dashboard(s): {', '.join(d.slug for d in created)}.")
        if replace:
            # Replaced dashboards keep their links; say so, so nobody has to re-check them by hand.
            self.stdout.write(incoming_links(created))
