"""The alert banner and the acknowledge flow in Chromium, on the real stack (simulator,
web server with the embedded bridge and its alert engine)."""

import pytest

from tests.browser.conftest import login, manage, wait_for

pytestmark = pytest.mark.browser

ADD_RULE = """
from alerts.models import Rule
from dashboard.models import Dashboard
rule = Rule.objects.create(name="Overview stale", severity="critical", kind="stale", stale_seconds=1)
rule.dashboards.add(Dashboard.objects.get(slug="overview"))
"""

BANNER_ITEMS = """() => [...document.querySelectorAll('#alert-banner li')].map(li => ({
  state: li.dataset.state, severity: li.dataset.severity, text: li.querySelector('.alert-text').textContent}))"""
BANNER_SHOWN = "() => { const b = document.getElementById('alert-banner'); return Boolean(b && !b.hidden); }"


def test_an_outage_shows_the_banner_and_a_supervisor_acknowledges_it_with_a_note(page, stack):
    base, simulator = stack["server"].base, stack["simulator"]
    manage(stack["server"].env, "shell", "-c", ADD_RULE)
    login(page, base, stack["username"], stack["password"], "/d/overview/")
    wait_for(lambda: page.evaluate("() => Boolean(window.dashboardPage)"), 10, "the page did not boot")
    assert page.evaluate(BANNER_SHOWN) is False
    simulator.service("UNAVAILABLE")
    try:
        items = wait_for(lambda: page.evaluate(BANNER_ITEMS), 10, "no alert banner after the outage")
        assert [(i["state"], i["severity"]) for i in items] == [("firing", "critical")]
        assert "Overview stale" in items[0]["text"] and "statistics service UNAVAILABLE" in items[0]["text"]
        font_px = page.evaluate("() => parseFloat(getComputedStyle(document.getElementById('alert-banner')).fontSize)")
        assert font_px >= 24  # readable from 5 m
        page.click("#alert-banner .alert-link")
        page.wait_for_url(f"{base}/alerts/*/")
        assert page.inner_text("#alert-state") == "Firing"
        page.fill("#note", "looking into it")
        page.click("form.acknowledge button[type=submit]")
        wait_for(lambda: page.inner_text("#alert-state") == "Acknowledged", 10, "the alert was not acknowledged")
        assert page.inner_text("#alert-acknowledged-by") == stack["username"]
        assert "looking into it" in page.inner_text(".alert-detail")
        assert page.locator("form.acknowledge").count() == 0
        page.goto(f"{base}/d/overview/")
        # The bridge re-reads alerts every 2 s: the acknowledgement reaches screens within that.
        items = wait_for(lambda: [i for i in page.evaluate(BANNER_ITEMS) if i["state"] == "acknowledged"], 5,
                         "the banner did not say acknowledged")
        assert len(page.evaluate(BANNER_ITEMS)) == 1
        assert items[0]["text"].endswith("(acknowledged)")
    finally:
        simulator.service("AVAILABLE")
    wait_for(lambda: page.evaluate(BANNER_SHOWN) is False, 10, "the banner stayed after the service came back")
    page.goto(f"{base}/alerts/")
    assert page.locator("tr[data-state=resolved]").count() == 1
    assert page.page_errors == []
