"""``python manage.py seed_demo_alerts [--webhook URL]``: the demo's alert rules (alerts.demo)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from alerts.demo import seed_demo_alerts


class Command(BaseCommand):
    """Seed the demo's alert rules, posting to a webhook or on screen only."""

    help = "Create or update the demo's alert rules; --webhook URL makes them post there."

    def add_arguments(self, parser):
        parser.add_argument("--webhook", default="", help="Where the rules' notifications are POSTed (signed JSON).")

    def handle(self, *args, webhook, **options):
        try:
            rules = seed_demo_alerts(webhook)
        except ValidationError as error:
            raise CommandError(f"--alert-webhook: {'; '.join(error.messages)}") from None
        where = f"posting to {webhook}" if webhook else "on screen only"
        self.stdout.write(f"alerts:      {len(rules)} demo rules, {where}")
