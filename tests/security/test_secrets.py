"""Secrets never leak: not in the log output of a whole live run (known secret values,
every log level, grepped), not in error pages, not in reprs."""

import sys

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from statsbridge.simulator import tokens as simulator_tokens
from statsbridge.upstream.auth import Credentials
from tests.reliability.stack import SimulatorControl, Stack, launch_chromium
from tests.waiting import wait_for

SECRETS = {
    "api_key": "apikey-3b9d1f7e5c2a",
    "client_secret": "clientsecret-8e4a6c0f2b7d",
    "password": "userpassword-5f1c9a3e7b0d",
    "control_key": "controlkey-2d8b4f6a0c9e",
}


@pytest.fixture(scope="module")
def issued_tokens():
    """Every access and refresh token the simulator issues while the module runs."""
    issued: list[str] = []
    real = simulator_tokens.TokenStore.issue

    def recording(self, *args, **kwargs):
        grant = real(self, *args, **kwargs)
        issued.extend(t for t in (grant.access_token, grant.refresh_token) if t)
        return grant

    patch = pytest.MonkeyPatch()
    patch.setattr(simulator_tokens.TokenStore, "issue", recording)
    yield issued
    patch.undo()


@pytest.mark.browser
def test_a_whole_run_logs_no_secret_at_debug_level(tmp_path, issued_tokens):
    from playwright.sync_api import sync_playwright

    simulator = SimulatorControl(api_key=SECRETS["api_key"], client_secret=SECRETS["client_secret"],
                                 username="tenant\\ops", password=SECRETS["password"], control_key=SECRETS["control_key"])
    stack = Stack("embedded", tmp_path, simulator=simulator,
                  extra_env={"LOG_LEVEL": "DEBUG", "GENESYS_USERNAME": "tenant\\ops", "GENESYS_PASSWORD": SECRETS["password"]})
    try:
        stack.start()
        with sync_playwright() as playwright:
            context = launch_chromium(playwright, tmp_path / "profile")
            try:
                stack.open_pages(context)
                desk = stack.pages["desk"]
                wait_for(lambda: stack.banners() == {"desk": "live", "wall": "live"}, 20, "the pages never went live")
                # Token refresh, forced re-login after revocation, refused credentials, REST errors, a 402.
                stack.simulator.call("POST", "/simulator/revoke-tokens", {"refresh": True})
                stack.simulator.call("POST", "/simulator/fail", {"status": 401, "count": 2, "scope": "auth"})
                stack.simulator.call("POST", "/simulator/fail", {"status": 503, "count": 2, "scope": "statistics"})
                stack.simulator.call("POST", "/simulator/forget-clients")
                wait_for(lambda: stack.simulator.state()["statistics"] == len(stack.keys), 30,
                         "the bridge did not resubscribe after the faults")
                # An operator peeks a statistic and a wrong login is tried.
                desk.goto(stack.base + "/ops/")
                desk.click("button[value=peek_all]")
                desk.locator("button[value=peek]").first.click()
                assert "Peek of" in desk.inner_text("body")
                desk.context.clear_cookies()
                desk.goto(stack.base + "/accounts/login/")
                desk.fill("#id_username", stack.seeded["username"])
                desk.fill("#id_password", SECRETS["password"])
                desk.click("button[type=submit]")
                wall_token = stack.seeded["wall_path"].split("/")[2]
                session_cookies = [c["value"] for c in context.cookies() if c["name"] == "sessionid"]
            finally:
                context.close()
    finally:
        stack.stop()
    log = (tmp_path / "web.log").read_text()
    assert "DEBUG" in log and "statsbridge" in log, "the run logged nothing at DEBUG: the test would prove nothing"
    assert len(issued_tokens) >= 4, "the run did not exercise token refresh"
    known = {**SECRETS, "secret_key": stack.env["SECRET_KEY"], "demo_password": stack.seeded["password"],
             **{f"token{i}": t for i, t in enumerate(issued_tokens)},
             **{f"session{i}": s for i, s in enumerate(session_cookies)}}
    leaked = {name: next(line for line in log.splitlines() if value in line)[:200]
              for name, value in known.items() if value in log}
    assert not leaked, leaked
    assert wall_token not in log, "a live wall token was logged"


def _traceback_html() -> str:
    request = RequestFactory().get("/d/overview/")
    try:
        raise RuntimeError("upstream login failed")
    except RuntimeError:
        return ExceptionReporter(request, *sys.exc_info()).get_traceback_html()


def test_the_debug_error_page_hides_the_genesys_secrets_in_its_settings(settings):
    settings.DEBUG = True
    settings.GENESYS = {"API_URL": "https://tenant.example", "API_KEY": SECRETS["api_key"], "CLIENT_ID": "client",
                        "CLIENT_SECRET": SECRETS["client_secret"], "USERNAME": "tenant\\ops", "PASSWORD": SECRETS["password"]}
    html = _traceback_html()
    assert "upstream login failed" in html and "GENESYS" in html, "the page under test was not rendered"
    for name in ("api_key", "client_secret", "password"):
        assert SECRETS[name] not in html, name
    assert settings.SECRET_KEY not in html


def test_the_production_error_page_shows_nothing_inside(client, settings):
    settings.DEBUG = False
    settings.GENESYS = {**settings.GENESYS, "CLIENT_SECRET": SECRETS["client_secret"]}
    client.raise_request_exception = False
    response = client.get("/d/overview/history/", HTTP_HOST="256.256.256.256")  # a bad Host is refused, not echoed
    assert response.status_code == 400
    body = response.content.decode()
    assert SECRETS["client_secret"] not in body and "Traceback" not in body and "256.256.256.256" not in body


def test_reprs_hold_no_secrets():
    credentials = Credentials("https://tenant.example", "client", SECRETS["client_secret"], "tenant\\ops", SECRETS["password"])
    simulator = SimulatorControl(api_key=SECRETS["api_key"], client_secret=SECRETS["client_secret"],
                                 password=SECRETS["password"], control_key=SECRETS["control_key"])
    for shown in (repr(credentials), str(credentials), repr(simulator.config)):
        for name, value in SECRETS.items():
            assert value not in shown, (name, shown)
