"""Names from the upstream carrying markup are shown as text, never run: in the
server-rendered HTML and in the live DOM of real Chromium.

The simulator (in this process) is given hostile group names — which become object
ids, queue names and widget labels through the demo seeding from its catalogue — and
hostile NotReady reasons, which reach the agent board live through the bridge.
"""

import http.cookiejar
import urllib.request

import pytest

from statsbridge.simulator import model
from tests.reliability.stack import Stack, launch_chromium
from tests.waiting import wait_for

pytestmark = pytest.mark.browser

GROUP = '<script>window.__pwned="group"</script>'
QUOTED = 'Q"><img src=x onerror="window.__pwned=\'attr\'">'
REASON = '<img src=x onerror="window.__pwned=\'reason\'">'
HOSTILE = (GROUP, QUOTED, REASON)
INJECTED_JS = """() => ({
  pwned: window.__pwned || null,
  handlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
  scripts: [...document.scripts].filter((s) => s.textContent.includes('__pwned') && s.type !== 'application/json').length,
})"""


@pytest.fixture(scope="module")
def hostile_stack(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setattr(model, "GROUP_NAMES", (GROUP, QUOTED, "Billing", "Retention"))
    patch.setattr(model, "NOT_READY_REASONS", (REASON,))
    stack = Stack("embedded", tmp_path_factory.mktemp("hostile"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        patch.undo()


def fetch(stack: Stack, path: str, cookie: str | None) -> str:
    request = urllib.request.Request(stack.base + path, headers={"Cookie": f"sessionid={cookie}"} if cookie else {})
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(request, timeout=10) as reply:
        return reply.read().decode()


def test_hostile_names_are_escaped_in_server_rendered_html(hostile_stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_chromium(playwright, hostile_stack.home / "profile-html")
        try:
            hostile_stack.open_pages(context)
            session = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
        finally:
            context.close()
    pages = ["/d/overview/", "/d/agents/", "/d/queues/", "/", hostile_stack.seeded["wall_path"], "/ops/",
             "/admin/statsbridge/statistic/", "/admin/dashboard/widget/", "/d/overview/history/?at=2026-01-01T10:00"]
    shown = 0
    for path in pages:
        html = fetch(hostile_stack, path, session)
        for name in HOSTILE:
            assert name not in html, f"{path} carries the raw markup {name!r}"
        shown += html.count("&lt;script&gt;window.__pwned") + html.count("\\u003Cscript\\u003Ewindow.__pwned")
    assert shown, "the hostile names were not on any page: the test would prove nothing"


def test_hostile_names_and_reasons_stay_text_in_the_browser(hostile_stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_chromium(playwright, hostile_stack.home / "profile-dom")
        try:
            hostile_stack.open_pages(context)
            desk = hostile_stack.pages["desk"]
            wait_for(lambda: REASON in desk.inner_text("body"), 40, "no agent went NotReady with the hostile reason")
            for name, page in hostile_stack.pages.items():
                found = page.evaluate(INJECTED_JS)
                assert found == {"pwned": None, "handlers": 0, "scripts": 0}, f"{name}: {found}"
                assert page.page_errors == [], page.page_errors
            assert GROUP in hostile_stack.pages["wall"].inner_text("body"), "the group names were not shown as text"
        finally:
            context.close()
