"""Field fit on a 360×640 phone: honest where the browser falls short, large tap targets.

- In a browser without service workers (an in-app browser) the worker is told that offline use
  needs the phone's own browser, and a form sent without signal is stopped and stays filled
  in: nothing pretends to be saved.
- When the quota is nearly used up, or the browser will not promise to keep our data while
  changes wait, the worker is told before anything is lost.
- Every button, field and menu entry on the worker's main screens is at least 44 px tall.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import browser_login, pages_fetched_ahead
from webapp.extensions import db
from webapp.models import Person

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 640}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
         "is_mobile": True, "has_touch": True}


def test_without_a_service_worker_the_worker_is_told_and_an_offline_save_is_refused(browser, live_server, village):
    context = browser.new_context(service_workers="block", **PHONE)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        browser_login(page, live_server.url, "cunganbu1")
        page.goto(f"{live_server.url}/people/{village['wife']}/edit")
        notice = page.locator('[data-field-notice="no-offline"]')
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("浏览器")
        context.set_offline(True)
        phone = page.locator("input[name=phone]")
        phone.fill("13912345678")
        page.locator("form[method=post] [type=submit]").last.click()
        expect(page.locator('[data-field-notice="not-saved"]')).to_contain_text("未保存")
        assert "/edit" in page.url and phone.input_value() == "13912345678"  # still on the form, still filled
        context.set_offline(False)
    finally:
        context.close()
    with live_server.app_context():
        assert db.session.scalar(sa.select(Person.phone).where(Person.id == village["wife"])) == "13900139000"


STORAGE_NEARLY_FULL = """
  navigator.storage.estimate = () => Promise.resolve({quota: 120 * 1048576, usage: 110 * 1048576});
  navigator.storage.persisted = () => Promise.resolve(false);
  navigator.storage.persist = () => Promise.resolve(false);
"""


def test_the_worker_is_warned_when_the_phone_runs_out_of_space_or_may_clear_waiting_changes(browser, live_server,
                                                                                           village):
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    context.add_init_script(STORAGE_NEARLY_FULL)
    page = context.new_page()
    try:
        browser_login(page, live_server.url, "cunganbu1")
        page.goto(f"{live_server.url}/people/{village['wife']}")  # kept on the phone: opened once
        page.goto(f"{live_server.url}/people/{village['wife']}/edit")
        expect(page.locator('[data-field-notice="storage-low"]')).to_contain_text("10 MB")
        expect(page.locator('[data-field-notice="not-persisted"]')).to_have_count(0)  # nothing waits yet
        pages_fetched_ahead(page)
        context.set_offline(True)
        page.locator("input[name=phone]").fill("13912345678")
        page.locator("form[data-outbox] [type=submit]").click()
        page.wait_for_url(lambda url: "/edit" not in url)
        expect(page.locator('[data-field-notice="not-persisted"]')).to_contain_text("同步")
        context.set_offline(False)
        page.reload()
        page.wait_for_function("() => !document.querySelector('[data-field-notice=\"not-persisted\"]')",
                               timeout=20_000)  # synced: nothing is at risk any more
    finally:
        context.close()


# Visible controls smaller than the tap size; inline links inside running text are exempt, and
# a checkbox or radio counts by its label (the label is what a thumb hits).
SMALL_TARGETS = """() => {
  const small = [];
  const seen = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&
                         getComputedStyle(el).visibility !== "hidden"; };
  for (const el of document.querySelectorAll("button, input, select, textarea, nav a, a.button, .actions a")) {
    if (!seen(el) || el.type === "hidden") continue;
    let target = el;
    if (el.type === "checkbox" || el.type === "radio") target = el.closest("label") || el;
    const h = target.getBoundingClientRect().height;
    if (h < 43.5) small.push(`${el.tagName.toLowerCase()}[${el.name || el.textContent.trim().slice(0, 12)}] ${h.toFixed(0)}px`);
  }
  return small;
}"""


def test_controls_on_the_workers_main_screens_are_at_least_44_px_tall(page, live_server, village):
    browser_login(page, live_server.url, "cunganbu1")
    screens = ["/", f"/villages/{village['village']}", f"/groups/{village['group1']}",
               f"/households/{village['home']}", f"/people/{village['wife']}", f"/people/{village['wife']}/edit",
               "/today", "/notices/", "/outbox", "/search?q=zjg"]
    problems = {}
    for path in screens:
        page.goto(f"{live_server.url}{path}")
        small = page.evaluate(SMALL_TARGETS)
        if small:
            problems[path] = small
    assert problems == {}


SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000}


def test_saving_a_visit_on_a_slow_network_says_saved_at_once(page, live_server, village):
    """On DevTools' slow 3G (2 s per round trip) the worker sees "已保存" well before any answer
    could come back: the visit is on the phone first, the sync follows."""
    browser_login(page, live_server.url, "cunganbu1")
    page.goto(f"{live_server.url}/households/{village['home']}/visit")
    pages_fetched_ahead(page)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    details = page.locator("#form-household_visit")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    form = details.locator("form")
    form.get_by_label("户主").check()
    form.locator("#household_visit-notes").fill("慢网络下保存")
    started = page.evaluate("() => performance.now()")
    form.get_by_role("button", name="保存").click()
    page.wait_for_function("() => [...document.querySelectorAll('[data-outbox-flash]')]"
                           ".some((el) => el.textContent.includes('已保存'))", timeout=5_000)
    shown_after_ms = page.evaluate("() => performance.now()") - started
    assert shown_after_ms < 1500, shown_after_ms  # a round trip alone takes 2000 ms here
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    from webapp.visits.models import Visit

    for _ in range(100):
        with live_server.app_context():
            if db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 1:
                break
        page.wait_for_timeout(200)
    else:
        raise AssertionError("the visit did not reach the server")
