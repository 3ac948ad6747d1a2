"""``python manage.py simulate``: serve the Genesys API simulator until interrupted."""

import asyncio
import signal

from django.core.management.base import BaseCommand, CommandError

from statsbridge.simulator import SimulatorConfig, start_simulator
from statsbridge.simulator.config import NOTIFICATION_DIALECTS

DEFAULTS = SimulatorConfig()


class Command(BaseCommand):
    """Runs a simulated Genesys tenant (Authentication + Statistics APIs, CometD notifications)."""

    help = "Serve a simulated Genesys tenant (demo credentials by default; see docs/simulator.md)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=DEFAULTS.host)
        parser.add_argument("--port", type=int, default=DEFAULTS.port)
        parser.add_argument("--api-key", default=DEFAULTS.api_key)
        parser.add_argument("--client-id", default=DEFAULTS.client_id)
        parser.add_argument("--client-secret", default=DEFAULTS.client_secret)
        parser.add_argument("--username", default=DEFAULTS.username)
        parser.add_argument("--password", default=DEFAULTS.password)
        parser.add_argument("--control-key", default=DEFAULTS.control_key)
        parser.add_argument("--token-ttl", type=int, default=DEFAULTS.token_ttl, help="seconds")
        parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
        parser.add_argument("--agents", type=int, default=DEFAULTS.agents)
        parser.add_argument("--queues", type=int, default=DEFAULTS.queues)
        parser.add_argument("--notification-dialect", choices=NOTIFICATION_DIALECTS,
                            default=DEFAULTS.notification_dialect,
                            help="reference: {name, topic, data} as the vendor reference (default); "
                                 "messageType: the simulator's former form")

    def handle(self, *args, **options) -> None:
        try:
            config = SimulatorConfig(
                host=options["host"], port=options["port"], api_key=options["api_key"],
                client_id=options["client_id"], client_secret=options["client_secret"],
                username=options["username"], password=options["password"],
                control_key=options["control_key"], token_ttl=options["token_ttl"], seed=options["seed"],
                agents=options["agents"], queues=options["queues"],
                notification_dialect=options["notification_dialect"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        asyncio.run(self._serve(config))

    async def _serve(self, config: SimulatorConfig) -> None:
        try:
            running = await start_simulator(config)
        except OSError as error:
            raise CommandError(f"cannot listen on {config.host}:{config.port}: {error.strerror}") from None
        self.stdout.write(f"Genesys simulator listening on {running.url} "
                          f"({config.agents} agents, {config.queues} queues, seed {config.seed}). Ctrl-C stops it.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await running.stop()
            self.stdout.write("Genesys simulator stopped.")
