"""Security in a real browser: every page works under the strict Content-Security-Policy
with no violation (desk, history, wall, login, ops, admin with its cost preview), an
inline script without the nonce is blocked, and a desk whose session ends in another
tab says "signed out" instead of showing data."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BANNER, login, wait_for

pytestmark = pytest.mark.browser

# Runs in every document before its own scripts (through DevTools, so the page's CSP does not apply).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""
VIOLATIONS = "() => window.__cspViolations"


@pytest.fixture
def watched(page):
    """The tab, recording CSP violations (events and console reports)."""
    page.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text)
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text else None)
    page.csp_console = console
    return page


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: sources}: django-csp does not keep
    the settings' order, so the header is compared by meaning, never as a string."""
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_clean(tab, where: str) -> None:
    """No CSP violation and no script error so far on this document."""
    assert tab.evaluate(VIOLATIONS) == [], where
    assert tab.csp_console == [], where
    assert tab.page_errors == [], where


def test_every_page_works_under_the_policy_without_violations(watched, stack):
    tab = watched
    base = stack["server"].base
    response = tab.goto(f"{base}/accounts/login/")
    policy = directives(response.headers["content-security-policy"])
    # No inline script on this page: no nonce either (django-csp adds one only when a page uses it).
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]
    assert_clean(tab, "login")
    login(tab, base, stack["username"], stack["password"], "/d/overview/")
    desk = tab.goto(f"{base}/d/overview/")
    nonce = tab.evaluate("() => document.querySelector('script[type=module]').nonce")
    assert nonce and f"'nonce-{nonce}'" in directives(desk.headers["content-security-policy"])["script-src"]
    wait_for(lambda: tab.evaluate(BANNER) == "live", 10, "the desk never went live under the policy")
    wait_for(lambda: tab.locator(".js-plotly-plot").count() > 0, 10, "Plotly drew no figure")
    assert_clean(tab, "desk")
    # The import map (nonced, so allowed) sends every page module, relative imports too, to its versioned URL.
    modules = tab.evaluate("""() => performance.getEntriesByType("resource").map((entry) => entry.name)
                                    .filter((url) => /\\/static\\/dashboard\\/[a-z]+\\.js/.test(url))""")
    assert len(modules) >= 8 and all("?v=" in url for url in modules), modules
    at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    tab.goto(f"{base}/d/overview/history/?at={at}")
    wait_for(lambda: tab.locator(".js-plotly-plot").count() > 0, 10, "the history page drew no figure")
    assert_clean(tab, "history")
    for path in ("/ops/", "/admin/", "/admin/dashboard/dashboard/", "/admin/dashboard/dashboard/add/",
                 "/admin/dashboard/display/", "/admin/dashboard/display/fleet/", "/admin/dashboard/dashboard/import/",
                 "/admin/statsbridge/statistic/add/", "/admin/axes/accessattempt/"):
        tab.goto(base + path)
        assert_clean(tab, path)
    tab.goto(f"{base}/admin/dashboard/widget/add/")
    expect(tab.locator("#cost-preview .summary")).to_have_text("Adds no upstream statistic.")  # the nonced script ran
    assert_clean(tab, "widget form")
    tab.goto(base + stack["wall_path"])
    wait_for(lambda: tab.evaluate(BANNER) == "live", 10, "the wall never went live under the policy")
    wait_for(lambda: tab.locator(".js-plotly-plot").count() > 0, 10, "the wall drew no figure")
    assert_clean(tab, "wall")
    # The policy is really enforced: a script injected without the nonce does not run.
    ran = tab.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
                                  document.body.appendChild(s); return window.__ran === 1; }""")
    assert ran is False
    wait_for(lambda: tab.evaluate(VIOLATIONS), 5, "the blocked script was not reported")


def test_a_desk_says_signed_out_when_another_tab_logs_out(page, browser_context, stack):
    base = stack["server"].base
    login(page, base, stack["username"], stack["password"], "/d/overview/")
    wait_for(lambda: page.evaluate(BANNER) == "live", 10, "the desk never went live")
    assert page.locator(".board").first.is_visible()
    other = browser_context.new_page()
    try:
        other.goto(f"{base}/")
        other.click("header.top form button[type=submit]")  # "Log out" in the other tab
        other.wait_for_url(lambda url: "/accounts/" in url or url.endswith("/"))
        wait_for(lambda: page.evaluate(BANNER) == "signed out", 5, "the desk did not say signed out within 5 s")
        assert not page.locator(".board").first.is_visible(), "the data must be gone, not left stale"
        assert "signed out" in page.inner_text("#connection-banner").lower()
    finally:
        other.close()
