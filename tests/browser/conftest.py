"""A real stack for browser tests: simulator, web server with the embedded bridge, Chromium.

The simulator runs in this process (so tests can pull its plug and read its truth
over HTTP); the web server is ``manage.py serve`` in a child process on its own SQLite
file, seeded by ``manage.py seed_demo``; the browser is Debian's Chromium, headless,
with background networking off and a fresh profile.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from statsbridge.simulator import SimulatorThread
from tests.fixtures_simulator import fast_config
from tests.waiting import free_port, wait_for  # other suites import these two from here too

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def readme_screenshot(page, name: str) -> None:
    """Save a screenshot as a test artifact; with UPDATE_README_SCREENSHOTS=1 also as the
    README's picture in docs/img/ (a test run never changes tracked files by itself)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))
    if os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
        page.screenshot(path=str(ROOT / "docs" / "img" / name))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    # For the memory test: exact heap sizes and a callable gc().
    "--enable-precise-memory-info", "--js-flags=--expose-gc",
]

CONTROL_KEY = "browser-test-control-key"
WALL_SECONDS = 5


class Simulator:
    """The simulator's control API, as a person pulling the plug would use it."""

    def __init__(self, thread: SimulatorThread):
        self.thread = thread
        self.url = thread.url.rstrip("/")

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"x-simulator-key": CONTROL_KEY, "content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)

    def service(self, state: str) -> None:
        """Make the Statistics service AVAILABLE or UNAVAILABLE."""
        assert self._call("POST", "/simulator/service", {"state": state})["serviceState"] == state

    def load(self, updates_per_second: float) -> None:
        """Add synthetic updates spread over the live statistics (0 stops)."""
        self._call("POST", "/simulator/load", {"updates_per_second": updates_per_second})

    def block_notifications(self) -> None:
        """Every CometD request fails from now on, as behind a proxy that kills long-polls."""
        self._call("POST", "/simulator/fail", {"scope": "notifications", "status": 503, "count": "forever"})

    def clear_faults(self) -> None:
        """Disarm every armed fault."""
        self._call("POST", "/simulator/clear-faults", {})

    def catalog(self) -> dict:
        """The simulator's objects, group membership and statistics."""
        return self._call("GET", "/simulator/catalog")

    def values(self) -> dict:
        """The true current value of every subscribed statistic, by statistic id."""
        return {item["statisticId"]: item for item in self._call("GET", "/simulator/values")["values"]}


class Server:
    """``manage.py serve`` with the embedded bridge, restartable on the same port."""

    def __init__(self, env: dict, port: int, log: Path):
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        handle = self.log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port), "--bridge"],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
        )
        handle.close()
        wait_for(self._ready, 20, f"the web server did not start on port {self.port}; see {self.log}", interval=0.1)

    def _ready(self) -> bool:
        assert self.process.poll() is None, f"the web server exited; see {self.log}"
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """Kill it the hard way: no goodbye to anyone."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def simulator():
    with SimulatorThread(fast_config(tick_seconds=0.5, control_key=CONTROL_KEY)) as thread:
        yield Simulator(thread)


@pytest.fixture(scope="module")
def stack_env() -> dict:
    """Extra environment for the module's web server (a module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def stack(simulator, tmp_path_factory, stack_env):
    """Simulator + migrated, seeded database + running web server; yields what tests need."""
    home = tmp_path_factory.mktemp("stack")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "contactboard.settings",
        "SECRET_KEY": "browser-test-secret-key-0123456789abcdef0123456789",
        "DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{home / 'db.sqlite3'}",
        "GENESYS_API_URL": simulator.url,
        "BRIDGE_EMBEDDED": "true",
        # Degraded mode polls every second here (5 s by default), so its test is short.
        "BRIDGE_POLL_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
        **stack_env,
    }
    env.pop("REDIS_URL", None)
    manage(env, "migrate", "--verbosity", "0")
    seeded = json.loads(manage(env, "seed_demo", "--simulator", simulator.url, "--control-key", CONTROL_KEY,
                               "--seconds", str(WALL_SECONDS)))
    server = Server(env, free_port(), home / "server.log")
    server.start()
    try:
        yield {"server": server, "simulator": simulator, **seeded}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless (one per test module); each context gets a fresh profile."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run bin/setup --test (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser, width: int = 1600, height: int = 900):
    """A browser context of its own: own cookies, own clock, own renderer processes.

    Close it with ``context.close()`` rather than closing its tabs: that disposes the
    context in one step, where ``page.close()`` can hang forever when it races a
    reload's commit (Chromium drops the close: crbug.com/536385539, Playwright #42068).
    """
    return browser.new_context(viewport={"width": width, "height": height})


@contextlib.contextmanager
def own_tab(browser, width: int = 1600, height: int = 900):
    """A tab in a context of its own (see ``new_context``), for pages that reload themselves."""
    context = new_context(browser, width, height)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def browser_context(browser):
    """One context for the module's tests (fresh cookies per test via the ``page`` fixture)."""
    context = new_context(browser)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context, request):
    """A fresh tab, logged out; a screenshot is saved under test-artifacts/ afterwards."""
    browser_context.clear_cookies()
    tab = browser_context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.page_errors = errors
    yield tab
    ARTIFACTS.mkdir(exist_ok=True)
    tab.wait_for_load_state()
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    tab.close()


def login(tab, base: str, username: str, password: str, path: str) -> None:
    """Log in through the login page and land on ``path``."""
    tab.goto(f"{base}/accounts/login/?next={path}")
    tab.fill("#id_username", username)
    tab.fill("#id_password", password)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{base}{path}")


# The connection banner's state once the page's script runs (null while a new document is
# still being parsed or booting: the server-rendered banner says "connecting" before that).
BANNER = """() => {
  const banner = document.getElementById('connection-banner');
  return banner && window.dashboardPage ? banner.dataset.state : null;
}"""


def evaluate_settled(tab, script: str):
    """Evaluate in the page, or None while the page is navigating (its old document is gone)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return tab.evaluate(script)
    except PlaywrightError as error:
        if "context was destroyed" in str(error) or "navigating" in str(error):
            return None
        raise
