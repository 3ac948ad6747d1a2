"""``python manage.py runbridge``: the bridge in its own process (scale-out).

With ``REDIS_URL`` set, run two or more for fail-over: one holds the lease and
bridges, the others stand by and take over within ``LEASE_SECONDS`` of it dying.
SIGTERM/SIGINT stop it cleanly: it deletes its upstream subscriptions, disconnects,
marks every value stale for the dashboards, and releases the lease.
"""

import asyncio
import logging
import signal

from django.core.management.base import BaseCommand
from prometheus_client import start_http_server

from statsbridge.host import BridgeHost

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the statistics bridge (subscriptions, values, fan-out) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=0, help="Serve /metrics of this process on this port.")
        parser.add_argument("--metrics-host", default="127.0.0.1", help="Interface of the metrics port.")

    def handle(self, *args, **options):
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr=options["metrics_host"])
        asyncio.run(self.run())

    async def run(self) -> None:
        """Run the host until a signal asks us to stop."""
        self.shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.on_signal, signum)
        log.info("runbridge starting")
        await BridgeHost().run(self.shutdown)
        log.info("runbridge stopped")

    def on_signal(self, signum) -> None:
        """Ask the host to stop; a second signal is ignored while shutting down."""
        log.info("received %s, shutting down", signal.Signals(signum).name)
        self.shutdown.set()
