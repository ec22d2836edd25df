"""On check-up day the station master watches attendance on a phone while a desk signs people in."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.checkup_helpers import schedule
from tests.factories import make_household, make_person, make_town, make_user
from tests.helpers import browser_login
from webapp.merging import local_today

# What the outbox does with a sign-in made at the desk: one record, POSTed to /api/sync with the
# page's CSRF token and the session cookie.
SIGN_IN = """async ([dayId, personId]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const record = {id: crypto.randomUUID(), type: "signin", entity_id: crypto.randomUUID(), base_version: null,
                  client_time: new Date().toISOString(), data: {day_id: dayId, person_id: personId, desk: "1号台"}};
  const response = await fetch("/api/sync", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
    body: JSON.stringify({device_id: "desk-browser", cursor: null, records: [record]})});
  return (await response.json()).results[0].status;
}"""


def test_supervisors_phone_shows_a_desk_sign_in_within_15_seconds_without_reloading(live_server, page, browser):
    with live_server.app_context():
        town = make_town("T01", villages=2, name="青石镇")
        home = make_household(town.children[0].children[0], address="东风村1组 8号", number="8")
        came = make_person(home, name="张建国", sex="M", head=True, enrolled=True)
        make_person(home, name="李红梅", relation="配偶", enrolled=True, phone="13800138000")
        boss = make_user("zhanzhang", "supervisor", [town], display_name="赵站长")
        make_user("qiantai", "desk", [town], display_name="李晓燕")
        day = schedule(town, local_today(), areas=[town.children[0]], user=boss)
        person_id = came.id
        day_id, village_id = day.id, town.children[0].id
    url = live_server.url
    browser_login(page, url, "zhanzhang")
    page.goto(f"{url}/attendance/days/{day_id}")
    row = page.locator(f'li[data-village="{village_id}"]')
    expect(row.locator("[data-signed-in]")).to_have_text("0")
    expect(row.locator("[data-band]")).to_contain_text("低于")  # the band in words
    page.evaluate("window.notReloaded = true")

    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        desk_page = desk.new_page()
        browser_login(desk_page, url, "qiantai")
        assert desk_page.evaluate(SIGN_IN, [day_id, person_id]) == "applied"
    finally:
        desk.close()

    expect(row.locator("[data-signed-in]")).to_have_text("1", timeout=15_000)
    expect(row.locator("[data-rate]")).to_have_text("50.0 %")
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("[data-histogram] rect[data-count='1']")).to_have_count(1)
    row.get_by_role("link", name="东风村").click()
    expect(page.locator('a[href="tel:13800138000"]')).to_be_visible()  # 李红梅 has not come: call her
    expect(page.get_by_text("张建国")).to_have_count(0)
