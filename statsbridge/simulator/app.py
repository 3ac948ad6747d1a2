"""Building, starting and stopping the simulator (in-process, or in its own thread)."""

import asyncio
import logging
import threading

from aiohttp import web

from .auth_api import AuthApi
from .authorize import AuthorizeApi  # sign-in (issue 19)
from .config import SimulatorConfig
from .control_api import ControlApi
from .gateway import Front
from .notifications_api import NotificationsApi
from .statistics_api import BASE as STATISTICS_BASE
from .statistics_api import StatisticsApi
from .tenant import Tenant

logger = logging.getLogger("statsbridge.simulator")
TENANT = web.AppKey("tenant", Tenant)


def create_app(config: SimulatorConfig) -> web.Application:
    """The simulator as an aiohttp application (its loops run while the app runs)."""
    tenant = Tenant(config)
    control, front = ControlApi(tenant), Front(tenant)
    # Outermost first: the control key guards /simulator/; a gated route meets the proxy,
    # then the gateway, before its handler (see gateway.py for the order of the checks).
    app = web.Application(middlewares=[control.guard, front.proxy, front.gateway], client_max_size=16 * 1024 * 1024)
    app[TENANT] = tenant
    statistics = StatisticsApi(tenant)
    # Sign-in (issue 19): registered first, so its /oauth/authorize and /userinfo answer.
    app.add_routes(AuthorizeApi(tenant).routes())
    app.add_routes(AuthApi(tenant).routes() + NotificationsApi(tenant).routes() + statistics.routes()
                   + control.routes())
    app.router.add_route("*", STATISTICS_BASE + "/{tail:.*}", statistics.not_found)

    async def start_loops(_app: web.Application) -> None:
        await tenant.start()

    async def stop_loops(_app: web.Application) -> None:
        # on_shutdown runs before handlers are cancelled: held connects answer now.
        await tenant.stop()

    app.on_startup.append(start_loops)
    app.on_shutdown.append(stop_loops)
    return app


class RunningSimulator:
    """A simulator serving on a real socket; ``url`` is its base URL."""

    def __init__(self, config: SimulatorConfig, runner: web.AppRunner, url: str) -> None:
        self.config = config
        self.url = url
        self._runner = runner

    @property
    def tenant(self) -> Tenant:
        """The live tenant (for in-process inspection)."""
        return self._runner.app[TENANT]

    async def stop(self) -> None:
        """Stop serving and release everything."""
        await self._runner.cleanup()

    def __repr__(self) -> str:
        return f"<RunningSimulator {self.url}>"


async def start_simulator(config: SimulatorConfig) -> RunningSimulator:
    """Serve the simulator on ``config.host``:``config.port`` (0 = any free port)."""
    runner = web.AppRunner(create_app(config), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    _host, port = runner.addresses[0][:2]
    url = f"http://{config.host}:{port}"
    logger.info("Genesys simulator listening on %s", url)
    return RunningSimulator(config, runner, url)


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread; usable as a context manager."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="genesys-simulator", daemon=True)
        self._started = threading.Event()
        self._running: RunningSimulator | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The base URL (valid once started)."""
        if self._running is None:
            raise RuntimeError("simulator is not running")
        return self._running.url

    @property
    def native_id(self) -> int | None:
        """The operating system's id of the simulator's thread (None before it starts)."""
        return self._thread.native_id

    def start(self, timeout: float = 10.0) -> "SimulatorThread":
        """Start serving; returns once the socket is bound (raises what startup raised)."""
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("simulator did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def call(self, function, *args):
        """Run ``function(tenant, *args)`` on the simulator's loop and return its result."""
        async def run():
            return function(self._running.tenant, *args)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and end the thread."""
        if self._running is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._running.stop(), self._loop).result(timeout)
            self._running = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> "SimulatorThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._running = self._loop.run_until_complete(start_simulator(self.config))
        except BaseException as error:  # reported to start() in the caller's thread
            self._error = error
            self._started.set()
            self._loop.close()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.close()
