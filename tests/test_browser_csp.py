"""The pages work under the Content-Security-Policy: Chromium reports no violation on the main
pages of a worker, a supervisor and an admin (no inline script or style slipped in), and the
service worker still registers under it."""
from __future__ import annotations

from datetime import date

import pytest

from tests.checkup_helpers import schedule
from tests.factories import area, make_user
from tests.helpers import browser_login
from webapp.notices.service import due_at, send_due_lists

pytestmark = pytest.mark.browser

# Chromium reports each refusal on the console ("Refused to … because it violates the following
# Content Security Policy directive"); the DOM event catches any the console might word differently.
LISTEN = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__cspViolations = window.__cspViolations || []).push(e.violatedDirective + " " + e.blockedURI);
});"""


def _watch(page):
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    page.add_init_script(LISTEN)
    return seen


def _visit(page, base, paths, seen):
    for path in paths:
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        seen += [f"{path}: {v}" for v in page.evaluate("window.__cspViolations || []")]


def test_main_pages_raise_no_csp_violation(live_server, village, page):
    with live_server.app_context():
        town = area("T01")
        make_user("guanliyuan", "admin", [])
        day = schedule(town, date(2026, 12, 1), areas=[town.children[0]],
                       user=make_user("boss", "supervisor", [town]))
        [notice_list] = send_due_lists(due_at(day.date))
        day_id, list_id = day.id, notice_list.id
    seen = _watch(page)
    base = live_server.url
    browser_login(page, base, "cunganbu1")
    _visit(page, base, [
        "/", "/today", f"/villages/{village['village']}", f"/groups/{village['group1']}",
        f"/households/{village['home']}", f"/people/{village['head']}", f"/people/{village['head']}/edit",
        f"/households/{village['home']}/visit", f"/households/{village['home']}/people/new",
        "/search?q=zjg", "/notices/", f"/notices/{list_id}", "/outbox", "/households/unsynced",
    ], seen)
    # The service worker registered under the policy (it is what keeps pages for offline use).
    assert page.evaluate("navigator.serviceWorker.ready.then((r) => Boolean(r.active))")
    page.context.clear_cookies()
    browser_login(page, base, "zhanzhang")
    _visit(page, base, ["/checkups/", f"/checkups/{day_id}", f"/checkups/{day_id}/edit", "/checkups/new",
                        f"/notices/days/{day_id}", "/conflicts/", "/visits/report", "/visits/changes", "/imports/"],
           seen)
    page.context.clear_cookies()
    browser_login(page, base, "guanliyuan")
    _visit(page, base, ["/admin/users", "/admin/users/new", "/visit-forms/"], seen)
    assert seen == []


def test_the_violation_check_sees_a_violation(live_server, village, page):
    """Guards the test above: an inline style set by script is refused, and the check notices."""
    seen = _watch(page)
    browser_login(page, live_server.url, "cunganbu1")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(300)
    seen += page.evaluate("window.__cspViolations || []")
    assert seen
