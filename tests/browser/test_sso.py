"""Sign in with Genesys in Debian's Chromium, on the real stack with GENESYS_SSO on.

The supervisor-to-be clicks "Sign in with Genesys" on the login page, signs in at the
simulator's form, and lands on the board asked for; the list shows exactly the boards the
demo mapping grants the team lead. Declining at the form ends on the login page with a
plain message; logging out also ends the sign-in at the tenant.
"""

import re

import pytest

from dashboard.sso_views import DENIED
from statsbridge.simulator.authorize import TEAM_LEAD, TEAM_LEAD_PASSWORD
from tests.browser.conftest import ARTIFACTS, BANNER, wait_for

pytestmark = pytest.mark.browser
BOARD_LINK = re.compile(r"^/d/([^/]+)/$")


@pytest.fixture(scope="module")
def stack_env() -> dict:
    """The web server of this module offers Sign in with Genesys."""
    return {"GENESYS_SSO": "true"}


def to_tenant_form(page, base: str, simulator_url: str, path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={path}")
    page.click("text=Sign in with Genesys")
    page.wait_for_url(re.compile(re.escape(simulator_url) + r"/auth/v3/oauth/authorize\?"))


def test_team_lead_signs_in_through_the_tenant_and_sees_the_mapped_boards(page, stack):
    base, simulator = stack["server"].base, stack["simulator"]
    to_tenant_form(page, base, simulator.url, "/d/agents/")
    page.fill("#username", TEAM_LEAD)
    page.fill("#password", TEAM_LEAD_PASSWORD)
    page.click("button[value=sign-in]")
    page.wait_for_url(f"{base}/d/agents/")
    wait_for(lambda: page.evaluate(BANNER) == "live", 20, "the agent board never went live")
    assert page.locator("header.top form button").inner_text() == f"Log out {TEAM_LEAD}"

    page.goto(f"{base}/")
    hrefs = page.eval_on_selector_all("ul.cards li > a:first-child", "links => links.map(a => a.getAttribute('href'))")
    listed = {BOARD_LINK.match(h).group(1) for h in hrefs}
    expected = set(stack["dashboards"]) - {"overview", "queues"}
    assert listed == expected and "agents" in listed and len(listed) > 1, "the demo mapping: the agent boards"
    assert page.goto(f"{base}/d/overview/").status == 403

    page.goto(f"{base}/")
    page.click("header.top form button")
    page.wait_for_url(re.compile(re.escape(base) + r"/accounts/logout/"))
    assert page.goto(f"{base}/").url.startswith(f"{base}/accounts/login/"), "signed out here"
    assert page.page_errors == []


def test_declining_at_the_tenant_ends_on_the_login_page(page, stack):
    base, simulator = stack["server"].base, stack["simulator"]
    to_tenant_form(page, base, simulator.url, "/d/agents/")
    page.click("button[value=deny]")
    page.wait_for_url(re.compile(re.escape(base) + r"/accounts/login/"))
    assert page.locator("form.login [role=alert]").inner_text() == DENIED
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sso_declined.png"))
    assert page.locator("text=Sign in with Genesys").count() == 1
    assert page.goto(f"{base}/").url.startswith(f"{base}/accounts/login/"), "nobody signed in"
