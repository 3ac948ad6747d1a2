"""``python manage.py serve``: daphne plus, when embedded, the bridge in one process."""

from django.core.management.base import BaseCommand

from statsbridge.serve import serve


class Command(BaseCommand):
    help = "Serve HTTP and WebSockets with daphne; runs the bridge inside when BRIDGE_EMBEDDED is true."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        bridge = parser.add_mutually_exclusive_group()
        bridge.add_argument("--bridge", dest="bridge", action="store_true", default=None, help="Run the bridge inside.")
        bridge.add_argument("--no-bridge", dest="bridge", action="store_false", help="Do not run the bridge inside.")

    def handle(self, *args, **options):
        def announce(addresses):
            for host, port in addresses:
                self.stdout.write(f"listening on http://{host}:{port}/", ending="\n")
                self.stdout.flush()

        serve(options["host"], options["port"], embedded_bridge=options["bridge"], on_listening=announce)
