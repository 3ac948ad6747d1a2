"""``python manage.py demo``: simulator + bridge + daphne, seeded, in one process.

Starts the simulated Genesys tenant, points the bridge at it, migrates, seeds what is
missing of three dashboards and a wall display from the simulator's catalogue (a restart
keeps the data and the wall link, so open walls reconnect), turns on Sign in with Genesys
through the simulator's form, then serves HTTP and WebSockets with the bridge embedded,
printing where everything is.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dashboard.seeding import CatalogError, fetch_catalog, seed_demo
from statsbridge.serve import serve
from statsbridge.simulator import SimulatorConfig, SimulatorThread
from statsbridge.simulator.authorize import TEAM_LEAD, TEAM_LEAD_PASSWORD


class Command(BaseCommand):
    """Run the whole product against the simulator, ready to click."""

    help = "Start simulator + bridge + daphne, seed demo dashboards and a wall, print the URLs."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Where the web server listens.")
        parser.add_argument("--port", type=int, default=8000, help="Web port (0 picks a free one).")
        parser.add_argument("--sim-port", type=int, default=8090, help="Simulator port (0 picks a free one).")
        parser.add_argument("--control-key", default="demo-control-key", help="The simulator's control key.")
        parser.add_argument("--wall-seconds", type=int, default=20, help="Seconds per dashboard on a new wall.")
        parser.add_argument("--reset", action="store_true",
                            help="Re-create the demo dashboards and wall (edits to them are lost; the wall link stays).")
        parser.add_argument("--alert-webhook", default="", metavar="URL",
                            help="The demo's alert rules POST signed JSON here (without it they alert on screen only).")

    def handle(self, *args, host, port, sim_port, control_key, wall_seconds, reset, alert_webhook, **options):
        genesys = settings.GENESYS
        config = SimulatorConfig(
            host="127.0.0.1",
            port=sim_port,
            api_key=genesys["API_KEY"],
            client_id=genesys["CLIENT_ID"],
            client_secret=genesys["CLIENT_SECRET"],
            control_key=control_key,
        )
        simulator = SimulatorThread(config)
        try:
            simulator.start()
        except OSError as error:
            raise CommandError(f"The simulator cannot listen on port {sim_port}: {error.strerror}.") from None
        # The embedded bridge reads settings.GENESYS when it starts: aim it at the simulator.
        genesys["API_URL"] = simulator.url.rstrip("/")
        # Sign in with Genesys through the simulator's form, beside the local demo login.
        settings.GENESYS_SSO["ENABLED"] = True
        call_command("migrate", interactive=False, verbosity=0)
        try:
            seeded = seed_demo(fetch_catalog(simulator.url, control_key), seconds_per_dashboard=wall_seconds, reset=reset)
        except CatalogError as error:
            simulator.stop()
            raise CommandError(str(error)) from None
        try:
            # By name: the alerts app builds on this one (tests/test_layers.py).
            call_command("seed_demo_alerts", webhook=alert_webhook, stdout=self.stdout)
        except CommandError:
            simulator.stop()
            raise

        def announce(addresses):
            _bound_host, bound_port = addresses[0]
            base = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{bound_port}"
            settings.ALERTS_BASE_URL = base  # the links in the demo's notifications
            lines = [
                f"listening on {base}/",
                f"dashboards:  {base}/d/{seeded.dashboards[0].slug}/  (all: {base}/)",
                f"wall:        {base}/wall/{seeded.wall_token}/  (the same link after a restart)",
                (f"seeded:      {', '.join(seeded.created) or 'nothing new'}"
                 f"{' (kept the rest from the last run)' if len(seeded.created) < len(seeded.dashboards) else ''}"),
                f"login:       {seeded.username} / {seeded.password}",
                (f"  or \"Sign in with Genesys\": {config.username} / {config.password} (every board), "
                 f"{TEAM_LEAD} / {TEAM_LEAD_PASSWORD} (the agent boards)"),
                f"operations:  {base}/ops/   admin: {base}/admin/",
                f"simulator:   {simulator.url.rstrip('/')}/  control key: {control_key}",
                (f"  pull the plug: curl -X POST -H 'x-simulator-key: {control_key}' "
                 f"-d '{{\"state\": \"UNAVAILABLE\"}}' {simulator.url.rstrip('/')}/simulator/service"),
            ]
            self.stdout.write("\n".join(lines))
            self.stdout.flush()

        try:
            serve(host, port, embedded_bridge=True, on_listening=announce)
        finally:
            simulator.stop()
