"""A village worker's phone without signal: the installable app, kept pages and the outbox.

Each test is one story on a 360×640 phone in Debian's Chromium. Going offline is
Playwright's ``context.set_offline(True)``, which cuts the page and its service worker.

Tests marked ``needs_sync_api`` need ``POST /api/sync`` (webapp/api) to answer per DESIGN §4.
Stories that end with records still unsent end offline: going back online would send them
while the next test empties the server's tables.
"""
from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.helpers import browser_login, pages_fetched_ahead
from webapp.extensions import db
from webapp.models import Household, Person

pytestmark = pytest.mark.browser

OUTBOX_ROWS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("doorstep");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const request = open.result.transaction("records").objectStore("records").getAll();
    request.onsuccess = () => { resolve(request.result); open.result.close(); };
    request.onerror = () => reject(request.error);
  };
})"""


def needs_sync_api(test):
    """Marks a story that only passes once the server's /api/sync is in place."""
    return test


def ready(page):
    """Wait for the service worker to hold the shell (outbox.js sets data-offline-ready)."""
    expect(page.locator("html")).to_have_attribute("data-offline-ready", "1", timeout=15_000)
    pages_fetched_ahead(page)


def outbox_rows(page):
    return page.evaluate(OUTBOX_ROWS)


def waiting_count(page):
    return page.locator("#sync-status [data-pending-count]")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


# -- the installable shell --------------------------------------------------------------------

def test_the_manifest_names_the_app_and_its_icons(live_server):
    status, headers, body = get(live_server.url + "/static/manifest.webmanifest")
    assert status == 200
    assert headers["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(body)
    assert manifest["short_name"] == "入户通"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/" and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512", "any"} <= sizes
    for icon in manifest["icons"]:
        status, headers, data = get(live_server.url + icon["src"])
        assert status == 200 and headers["Content-Type"].split(";")[0] == icon["type"]
        if icon["type"] == "image/png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            width = int.from_bytes(data[16:20], "big")
            assert f"{width}x{width}" == icon["sizes"]


def test_the_service_worker_is_never_stale_and_carries_a_version(live_server):
    status, headers, body = get(live_server.url + "/sw.js")
    text = body.decode()
    assert status == 200
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Service-Worker-Allowed"] == "/"
    version = re.search(r'var VERSION = "([0-9a-f]{12})";', text)
    assert version, text[:500]
    assert "__SHELL__" not in text and '"/offline"' in text
    assert re.search(r'"/static/js/outbox-core\.js\?v=[0-9a-f]{10}"', text)  # the shell is this release's files


def test_the_offline_pages_list_covers_the_workers_village(live_server, village, page):
    browser_login(page, live_server.url, "cunganbu1")
    urls = page.evaluate("fetch('/offline-pages').then(r => r.json())")["urls"]
    assert "/" in urls and "/outbox" in urls
    assert "/households/unsynced" in urls and "/households/unsynced/people/new" in urls
    assert f"/villages/{village['village']}" in urls
    assert f"/groups/{village['group1']}" in urls and f"/groups/{village['group2']}" in urls
    assert f"/households/{village['home']}" in urls


# -- kept pages -------------------------------------------------------------------------------

def test_the_phone_says_when_it_is_ready_to_work_offline(live_server, village, page):
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    expect(page.locator("#sync-status")).to_contain_text("可以离线使用")
    expect(page.locator("#sync-status")).to_contain_text("全部已同步")
    expect(page.locator("#sync-status")).not_to_contain_text("本机尚未同步")  # nothing was ever waiting
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith("/sw.js")


def test_pages_opened_before_still_open_without_signal(live_server, village, page):
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    page.get_by_role("link", name=re.compile("东风村")).first.click()
    page.get_by_role("link", name=re.compile("东风村1组")).first.click()
    page.get_by_role("link", name=re.compile("张建国")).first.click()
    expect(page.get_by_role("heading", name=re.compile("张建国"))).to_be_visible()

    page.context.set_offline(True)
    page.goto(f"{live_server.url}/groups/{village['group1']}")
    expect(page.get_by_role("link", name=re.compile("东风村1组 8号|张建国")).first).to_be_visible()
    page.goto(f"{live_server.url}/households/{village['home']}")
    expect(page.get_by_text("李红梅")).to_be_visible()

    # Never opened, and person pages are not fetched ahead: the offline page says so.
    page.goto(f"{live_server.url}/people/{village['wife']}")
    expect(page.get_by_role("heading", name="这个页面不在手机上")).to_be_visible()
    page.context.set_offline(False)


# -- the outbox -------------------------------------------------------------------------------

def _edit_phone_offline(live_server, village, page, phone="13912345678"):
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    page.goto(f"{live_server.url}/people/{village['wife']}")
    page.get_by_role("link", name="修改").click()
    expect(page.locator("#phone")).to_be_visible()
    page.context.set_offline(True)
    page.locator("#phone").fill(phone)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/people/{village['wife']}$"))


def test_a_change_saved_without_signal_waits_on_the_phone(live_server, village, page):
    _edit_phone_offline(live_server, village, page)
    expect(page.get_by_text("已保存，等待同步")).to_be_visible()
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "1")
    expect(page.locator("#sync-status .sync-failure")).to_contain_text("无网络")
    expect(page.locator("#sync-status .sync-time")).to_have_text("本机尚未同步")

    rows = outbox_rows(page)
    assert len(rows) == 1
    record = rows[0]
    assert record["type"] == "person" and record["entity_id"] == village["wife"]
    assert record["owner"] == village["worker"] and record["state"] == "pending"
    assert record["base_version"] == 1
    assert record["data"]["phone"] == "13912345678" and record["data"]["enrolled"] is True
    assert record["data"]["household_id"] == village["home"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$", record["client_time"])

    page.reload()
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "1")

    second = page.context.new_page()
    second.goto(f"{live_server.url}/")
    expect(waiting_count(second)).to_have_attribute("data-pending-count", "1")
    second.get_by_role("link", name=re.compile("等待同步")).click()
    expect(second.locator(".outbox-item")).to_have_count(1)
    expect(second.locator(".outbox-item")).to_contain_text("李红梅")
    with live_server.app_context():
        assert db.session.get(Person, village["wife"]).phone == "13900139000"  # nothing sent yet


def test_a_household_added_without_signal_shows_in_its_group_as_not_synced(live_server, village, page):
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    page.goto(f"{live_server.url}/outbox")
    page.goto(f"{live_server.url}/groups/{village['group1']}")
    page.get_by_role("link", name="新增户").click()
    expect(page.locator("#address")).to_be_visible()
    page.context.set_offline(True)
    page.locator("#address").fill("东风村1组 21号")
    page.locator("#number").fill("21")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/households/unsynced#"))  # the server has no page for it yet
    expect(page.locator("[data-unsynced-frame] h1")).to_contain_text("东风村1组 21号")

    page.goto(f"{live_server.url}/groups/{village['group1']}")
    new_row = page.locator("li[data-outbox-record]")
    expect(new_row).to_contain_text("东风村1组 21号")
    expect(new_row).to_contain_text("未同步")
    record = outbox_rows(page)[0]
    assert new_row.locator("a").get_attribute("href") == f"/households/unsynced#{record['entity_id']}"
    assert record["type"] == "household" and record["base_version"] is None
    assert record["data"]["group_id"] == village["group1"]


def test_a_person_added_without_signal_is_listed_in_the_household_as_not_synced(live_server, village, page):
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    page.goto(f"{live_server.url}/households/{village['home']}")
    page.get_by_role("link", name="添加人员").click()
    expect(page.locator("#name")).to_be_visible()
    page.context.set_offline(True)
    page.locator("#name").fill("张小明")
    page.locator("input[name=sex][value=M]").check()
    page.locator("#birth_date").fill("2019-06-01")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['home']}$"))
    new_row = page.locator("li[data-outbox-record]")
    expect(new_row).to_contain_text("张小明")
    expect(new_row).to_contain_text("未同步")
    expect(page.get_by_text("李红梅")).to_be_visible()  # the kept list is still there
    record = outbox_rows(page)[0]
    assert record["type"] == "person" and record["base_version"] is None
    assert record["data"]["sex"] == "M" and record["data"]["enrolled"] is False


def test_pages_kept_before_a_deploy_still_open_offline_after_it(live_server, village, page):
    """Enketo's known failure: a new app version must not throw away the pages a worker kept."""
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    page.goto(f"{live_server.url}/households/{village['home']}")
    old = live_server.app.extensions["pwa_version"]
    live_server.app.extensions["pwa_version"] = "feedfacecafe"  # what a deploy does
    try:
        page.evaluate("() => navigator.serviceWorker.getRegistration().then(r => r.update())")
        for _ in range(50):
            names = page.evaluate("() => caches.keys()")
            if "doorstep-static-feedfacecafe" in names and f"doorstep-static-{old}" not in names:
                break
            page.wait_for_timeout(200)
        assert "doorstep-static-feedfacecafe" in names and f"doorstep-static-{old}" not in names, names
        assert "doorstep-pages" in names
    finally:
        live_server.app.extensions["pwa_version"] = old
    page.context.set_offline(True)
    page.goto(f"{live_server.url}/households/{village['home']}")
    expect(page.get_by_text("李红梅")).to_be_visible()
    page.context.set_offline(False)


def test_the_next_user_on_the_same_phone_neither_sees_nor_sends_the_first_users_changes(
        live_server, village, page):
    # A number the server refuses: the record stays on the phone whether or not it was sent.
    _edit_phone_offline(live_server, village, page, phone="12012345678")
    page.context.set_offline(False)
    # Logging out with a change not accepted by the server asks first, and keeps it.
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/login"))
    assert dialogs and "1" in dialogs[0]

    sent = []
    page.on("request", lambda request: sent.append(request.post_data)
            if request.url.endswith("/api/sync") else None)
    browser_login(page, live_server.url, "cunganbu2")
    ready(page)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0")
    page.goto(f"{live_server.url}/outbox")
    expect(page.locator(".outbox-item")).to_have_count(0)
    page.goto(f"{live_server.url}/households/{village['home']}")
    expect(page.locator(".tag-unsynced")).to_have_count(0)
    assert all(village["wife"] not in (body or "") for body in sent)
    rows = outbox_rows(page)
    assert [r["owner"] for r in rows] == [village["worker"]]  # kept for its owner


# -- with the server's /api/sync ---------------------------------------------------------------

@needs_sync_api
def test_a_change_reaches_the_server_once_when_the_signal_comes_back(live_server, village, page):
    _edit_phone_offline(live_server, village, page)
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    assert outbox_rows(page) == []
    with live_server.app_context():
        person = db.session.get(Person, village["wife"])
        assert person.phone == "13912345678" and person.version == 2
    page.reload()
    expect(page.get_by_text("13912345678")).to_be_visible()
    expect(page.locator("#sync-status .sync-time")).to_contain_text("上次同步")


@needs_sync_api
def test_a_change_the_server_refuses_comes_back_and_is_fixed(live_server, village, page):
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    page.goto(f"{live_server.url}/people/{village['wife']}/edit")
    page.locator("#phone").fill("12012345678")  # passes the pattern, is no mobile number
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#phone-error")).to_contain_text("手机号不对")
    expect(page.locator("#sync-status .sync-rejected")).to_have_attribute("data-rejected-count", "1")
    assert [r["state"] for r in outbox_rows(page)] == ["rejected"]

    page.goto(f"{live_server.url}/outbox")
    item = page.locator(".outbox-item[data-state=rejected]")
    expect(item).to_contain_text("手机号不对")
    item.get_by_role("link", name="修改后重新发送").click()
    expect(page.locator("#phone")).to_have_value("12012345678")
    expect(page.locator("#phone-error")).to_contain_text("手机号不对")
    page.locator("#phone").fill("13912345678")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/people/{village['wife']}$"))
    expect(page.get_by_text("13912345678")).to_be_visible()
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0")
    assert outbox_rows(page) == []
    with live_server.app_context():
        assert db.session.get(Person, village["wife"]).phone == "13912345678"


@needs_sync_api
def test_a_household_added_offline_is_created_once_on_the_server(live_server, village, page):
    browser_login(page, live_server.url, "cunganbu1")
    ready(page)
    page.goto(f"{live_server.url}/groups/{village['group2']}/households/new")
    page.context.set_offline(True)
    page.locator("#address").fill("东风村2组 9号")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/households/unsynced#"))
    entity_id = outbox_rows(page)[0]["entity_id"]
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    page.wait_for_url(re.compile(rf"/households/{entity_id}$"))  # the server's page takes over
    page.evaluate("window.Doorstep.flushNow()")  # nothing left: sends nothing twice
    with live_server.app_context():
        rows = db.session.query(Household).filter_by(address="东风村2组 9号").all()
        assert [h.id for h in rows] == [entity_id]
