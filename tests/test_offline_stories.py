"""Whole days without signal, told end to end on 360×640 phones in Debian's Chromium.

- A worker's day offline: three changes made through the real forms wait on the phone
  (through a reload and a new tab), then reach the server once each when the signal returns.
- Two phones change one number offline: the supervisor sees both values and picks one.
- A deploy while changes wait: the new service worker takes over and the changes still go out,
  and pages kept before the deploy still open offline.
- A household made offline opens offline and gets its people offline; they reach the server
  household first, each once, and its page becomes the server's.
- Changes waiting on the phone show on the person and household pages, marked, also from the
  offline cache; after the sync the marks are gone.
- A household made offline that the server refuses: fixing it sends its refused person again too.

The server's ``POST /api/sync`` view is wrapped (``sync_log``) to note which record ids came in
on which request and what each got: "reached the server once" is read off that log and the
``sync_record`` table, not only off the phone's counter. Every story ends online with an empty
outbox, so nothing is sent into the next test's emptied tables.
"""
from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa
from flask import request as flask_request
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.helpers import browser_login, pages_fetched_ahead
from webapp.extensions import db
from webapp.models import Household, Person, SyncConflict, SyncRecord

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 640}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
         "is_mobile": True, "has_touch": True}

# page.evaluate has no timeout of its own: each script here gives up after a few seconds, so a
# blocked IndexedDB or a silent worker fails the story instead of hanging it.
OUTBOX_ROWS = """() => new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("IndexedDB did not answer in 5 s")), 5000);
  const open = indexedDB.open("doorstep");
  open.onerror = () => reject(open.error);
  open.onblocked = () => reject(new Error("IndexedDB open blocked"));
  open.onsuccess = () => {
    const request = open.result.transaction("records").objectStore("records").getAll();
    request.onsuccess = () => { resolve(request.result); open.result.close(); };
    request.onerror = () => reject(request.error);
  };
})"""

# The version of the service worker controlling the page, asked the way outbox.js asks it
# ("hello" answers {ready, version}); signedIn false so it fetches nothing for a user.
CONTROLLER_VERSION = """() => new Promise((resolve) => {
  const worker = navigator.serviceWorker.controller;
  if (!worker) { resolve(null); return; }
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => resolve((event.data || {}).version || null);
  worker.postMessage({ type: "hello", url: location.href, signedIn: false }, [channel.port2]);
  setTimeout(() => resolve(null), 3000);
})"""


# What the registration holds, for a failure message: scripts and states of its workers.
REGISTRATION_STATE = """() => navigator.serviceWorker.getRegistration().then((r) => r && {
  installing: r.installing && [r.installing.scriptURL, r.installing.state],
  waiting: r.waiting && [r.waiting.scriptURL, r.waiting.state],
  active: r.active && [r.active.scriptURL, r.active.state]})"""


# -- fixtures -------------------------------------------------------------------------------

@pytest.fixture
def sync_log(live_server, monkeypatch):
    """Every record id the server's /api/sync received, with the status it answered, in order.

    ``sync_log.down = True`` makes /api/sync answer 503 (a server being deployed) without
    reading the request."""
    app = live_server.app
    original = app.view_functions["api.sync"]

    class Log(list):
        down = False

        def for_id(self, record_id):
            return [status for rid, status in self if rid == record_id]

    log = Log()

    def logged_sync(*args, **kwargs):
        if log.down:
            return app.response_class("deploying", status=503)
        response = app.make_response(original(*args, **kwargs))
        if response.status_code == 200 and flask_request.path.endswith("/sync"):
            for result in response.get_json().get("results", []):
                log.append((result.get("id"), result.get("status")))
        return response

    monkeypatch.setitem(app.view_functions, "api.sync", logged_sync)
    return log


@pytest.fixture
def new_phone(browser):
    """``new_phone()``: another phone (a browser context like the ``page`` fixture's)."""
    contexts = []

    def make():
        context = browser.new_context(**PHONE)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


# -- helpers --------------------------------------------------------------------------------

def ready(page):
    """Wait for the service worker to hold the shell (outbox.js sets data-offline-ready)."""
    expect(page.locator("html")).to_have_attribute("data-offline-ready", "1", timeout=15_000)
    pages_fetched_ahead(page)


def waiting_count(page):
    return page.locator("#sync-status [data-pending-count]")


def outbox_rows(page):
    return page.evaluate(OUTBOX_ROWS)


def controller_version(page):
    return page.evaluate(CONTROLLER_VERSION)


def edit_phone(page, base_url, person_id, phone):
    """On a kept edit page: type a new mobile number and save; the person's page follows."""
    page.goto(f"{base_url}/people/{person_id}/edit")
    page.locator("#phone").fill(phone)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/people/{person_id}$"))


def signal_returns(page):
    """The signal comes back: Chromium goes online and the page hears `online`."""
    page.context.set_offline(False)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")


# -- 1. a day offline -----------------------------------------------------------------------

def test_a_day_offline_reaches_the_server_exactly_once(live_server, village, page, sync_log):
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    # In the village office, with signal: open what today's round needs, so the phone keeps it.
    for path in (f"/groups/{village['group1']}", f"/groups/{village['group1']}/households/new",
                 f"/households/{village['home']}", f"/households/{village['home']}/people/new",
                 f"/people/{village['neighbour']}", f"/people/{village['neighbour']}/edit"):
        page.goto(url + path)
        expect(page.locator("#main")).to_be_visible()
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0")

    page.context.set_offline(True)
    # A new household in 1组.
    page.goto(f"{url}/groups/{village['group1']}")
    page.get_by_role("link", name="新增户").click()
    page.locator("#address").fill("东风村1组 21号")
    page.locator("#number").fill("21")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/households/unsynced#"))
    expect(page.locator("[data-unsynced-frame] h1")).to_contain_text("东风村1组 21号")
    # A baby in 8号, a household the server has.
    page.goto(f"{url}/households/{village['home']}")
    page.get_by_role("link", name="添加人员").click()
    page.locator("#name").fill("张小明")
    page.locator("input[name=sex][value=M]").check()
    page.locator("#birth_date").fill("2025-06-01")
    page.locator("#relation").select_option("子")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['home']}$"))
    expect(page.locator("li[data-outbox-record]")).to_contain_text("张小明")
    # 王秀英 of 2组 has a new number.
    edit_phone(page, url, village["neighbour"], "13612345678")
    expect(page.get_by_text("已保存，等待同步")).to_be_visible()
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "3")

    # Still no signal: a reload, then a closed app reopened, keep all three.
    page.reload()
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "3")
    rows = outbox_rows(page)
    assert sorted((r["type"], r["state"], r["owner"]) for r in rows) == [
        ("household", "pending", village["worker"]), ("person", "pending", village["worker"]),
        ("person", "pending", village["worker"])]
    by_type = {(r["type"], r["base_version"] is None): r for r in rows}
    new_home, baby, phone_change = (by_type[("household", True)], by_type[("person", True)],
                                    by_type[("person", False)])
    assert new_home["data"]["group_id"] == village["group1"] and new_home["data"]["address"] == "东风村1组 21号"
    assert baby["data"]["household_id"] == village["home"] and baby["data"]["name"] == "张小明"
    assert phone_change["entity_id"] == village["neighbour"] and phone_change["data"]["phone"] == "13612345678"
    ids = sorted(r["id"] for r in rows)

    context = page.context
    page.close()
    page = context.new_page()
    page.goto(f"{url}/")
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "3")
    expect(page.locator("#sync-status .sync-failure")).to_contain_text("无网络")
    with live_server.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)) == 0  # nothing went out
        assert db.session.get(Person, village["neighbour"]).phone == "13700137000"

    # Back in signal. Every trigger fires: `online` (Chromium's and a second one), the
    # worker's Background Sync, another tab loading, and an explicit "sync now" twice.
    signal_returns(page)
    second = context.new_page()
    second.goto(f"{url}/households/{village['home']}")
    page.evaluate("""() => Promise.race([
      Promise.all([window.Doorstep.flushNow(), window.Doorstep.flushNow()]),
      new Promise((resolve) => setTimeout(resolve, 10000)),
    ])""")
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    expect(waiting_count(second)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    assert outbox_rows(page) == []
    expect(page.locator("#sync-status .sync-failure")).to_have_count(0)

    # Each record went over the wire once and was applied once.
    assert sorted(rid for rid, _status in sync_log) == ids, sync_log
    assert all(status == "applied" for _rid, status in sync_log), sync_log
    with live_server.app_context():
        stored = db.session.execute(sa.select(SyncRecord.key, SyncRecord.status)).all()
        assert sorted(key for key, _ in stored) == ids
        assert {status for _, status in stored} == {"applied"}
        households = db.session.scalars(sa.select(Household).where(Household.address == "东风村1组 21号")).all()
        assert [(h.id, h.group_id, h.number) for h in households] == [(new_home["entity_id"], village["group1"], "21")]
        babies = db.session.scalars(sa.select(Person).where(Person.name == "张小明")).all()
        assert [(p.id, p.household_id, p.sex, p.birth_date) for p in babies] == [
            (baby["entity_id"], village["home"], "M", date(2025, 6, 1))]
        neighbour = db.session.get(Person, village["neighbour"])
        assert (neighbour.phone, neighbour.version) == ("13612345678", 2)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 4  # 3 seeded + the baby
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 3  # 2 seeded + 21号

    # The kept pages now show what the server has: the baby, without "not synced".
    second.reload()
    expect(second.get_by_role("link", name=re.compile("张小明"))).to_be_visible()
    expect(second.locator(".tag-unsynced")).to_have_count(0)


# -- 2. two phones, one number ---------------------------------------------------------------

def test_two_phones_changing_one_phone_number_offline_show_up_as_a_conflict_for_the_supervisor(
        live_server, village, page, new_phone, sync_log):
    url = live_server.url
    wang, li = page, new_phone().new_page()
    for phone, username in ((wang, "cunganbu1"), (li, "cunganbu2")):
        browser_login(phone, url, username)
        ready(phone)
        phone.goto(f"{url}/people/{village['wife']}")
        phone.get_by_role("link", name="修改").click()
        expect(phone.locator("#phone")).to_have_value("13900139000")

    # Both out in the fields; each hears a different new number for 李红梅, 李专干 a little
    # later (client times are whole seconds: more than a second apart orders them).
    wang.context.set_offline(True)
    li.context.set_offline(True)
    edit_phone(wang, url, village["wife"], "13911110001")
    wang.wait_for_timeout(1100)
    edit_phone(li, url, village["wife"], "13922220002")
    for phone in (wang, li):
        expect(waiting_count(phone)).to_have_attribute("data-pending-count", "1")

    # 李专干 gets signal first, then 王专干: the later edit stays in use although it came in first.
    signal_returns(li)
    expect(waiting_count(li)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    with live_server.app_context():
        assert db.session.get(Person, village["wife"]).phone == "13922220002"
    signal_returns(wang)
    expect(waiting_count(wang)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    assert [status for _rid, status in sync_log] == ["applied", "merged"], sync_log
    assert len({rid for rid, _ in sync_log}) == 2, sync_log
    with live_server.app_context():
        assert db.session.get(Person, village["wife"]).phone == "13922220002"
        conflicts = db.session.scalars(sa.select(SyncConflict).where(SyncConflict.is_conflict.is_(True))).all()
        assert [(c.entity_id, c.field) for c in conflicts] == [(village["wife"], "phone")]
    in_use, other_value = "13922220002", "13911110001"

    # The town's supervisor looks at the conflicts.
    boss = new_phone().new_page()
    browser_login(boss, url, "zhanzhang")
    boss.goto(f"{url}/conflicts/")
    conflict = boss.locator("section.conflict")
    expect(conflict).to_have_count(1)
    expect(conflict.get_by_role("heading")).to_contain_text("李红梅")
    expect(conflict.get_by_role("heading")).to_contain_text("手机号")
    choices = conflict.locator("ul.rows > li")
    expect(choices).to_have_count(2)
    current = choices.filter(has_text="正在使用")
    expect(current).to_have_count(1)
    expect(current).to_contain_text(in_use)
    expect(current.get_by_role("button", name="改用这个")).to_have_count(0)
    other = choices.filter(has_text=other_value)
    expect(other).not_to_contain_text("正在使用")
    # Who made each change is what the supervisor asks them about (read at the end, see below).
    shown = {value: choices.filter(has_text=value).inner_text() for value in ("13911110001", "13922220002")}

    other.get_by_role("button", name="改用这个").click()
    expect(boss.get_by_text("没有冲突的修改")).to_be_visible()
    with live_server.app_context():
        wife = db.session.get(Person, village["wife"])
        assert wife.phone == other_value
        assert db.session.get(SyncConflict, conflicts[0].id).resolved_at is not None
    boss.goto(f"{url}/people/{village['wife']}")
    expect(boss.get_by_text(other_value)).to_be_visible()

    # Each change names the worker who made it: queries._who promises "a phone's user, or the
    # user of a browser session". KNOWN BUG (fails today): the PWA sends its own random UUID as
    # device_id (outbox-core.js deviceId()), which is neither a registered Device nor
    # "session-<user id>", so the page shows "?" for both workers.
    assert "王专干" in shown["13911110001"], shown
    assert "李专干" in shown["13922220002"], shown


# -- 3. a deploy while changes wait -----------------------------------------------------------

def test_records_queued_before_a_deploy_still_go_out_after_it(live_server, village, page, sync_log, monkeypatch):
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    old_version = controller_version(page)
    assert old_version == live_server.app.extensions["pwa_version"]
    # A person page is not fetched ahead: it is on the phone only because the worker opened it.
    page.goto(f"{url}/people/{village['head']}")
    page.goto(f"{url}/people/{village['wife']}")
    page.goto(f"{url}/people/{village['wife']}/edit")

    page.context.set_offline(True)
    edit_phone(page, url, village["wife"], "13912345678")
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "1")
    record_id = outbox_rows(page)[0]["id"]

    # The deploy: a new static-file hash means a new /sw.js. While it rolls out the server
    # answers /api/sync with 503, so the record is still waiting when the new worker takes over.
    monkeypatch.setitem(live_server.app.extensions, "pwa_version", "feedfacecafe")
    sync_log.down = True
    page.context.set_offline(False)
    page.reload()
    expect(page.locator("#sync-status .sync-failure")).to_have_attribute("data-reason", "http", timeout=15_000)
    # The reload's update check installs the new worker; it activates (dropping the old shell).
    # On a loaded machine the install (precaching the shell) can take a while; ask for the
    # update check again now and then, as the browser's own periodic check would.
    for attempt in range(200):
        version, names = controller_version(page), page.evaluate("() => caches.keys()")
        if version == "feedfacecafe" and f"doorstep-static-{old_version}" not in names:
            break
        if attempt % 50 == 49:  # a navigation is the browser's own trigger for the update check
            try:
                page.reload(wait_until="commit")
            except PlaywrightTimeoutError:
                pass  # a slow reload during the swap is only a missed nudge; the checks below decide
        elif attempt % 25 == 24:
            page.evaluate("() => navigator.serviceWorker.getRegistration().then((r) => r && r.update())")
        page.wait_for_timeout(200)
    assert version == "feedfacecafe", (version, page.evaluate(REGISTRATION_STATE))
    assert f"doorstep-static-{old_version}" not in names and "doorstep-pages" in names, names
    assert [(r["id"], r["state"]) for r in outbox_rows(page)] == [(record_id, "pending")]
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "1")
    with live_server.app_context():
        assert db.session.get(Person, village["wife"]).phone == "13900139000"

    # The server is back: the change made under the old version goes out once.
    sync_log.down = False
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=20_000)
    assert outbox_rows(page) == []
    assert list(sync_log) == [(record_id, "applied")]
    with live_server.app_context():
        assert [(r.key, r.status) for r in db.session.scalars(sa.select(SyncRecord))] == [(record_id, "applied")]
        wife = db.session.get(Person, village["wife"])
        assert (wife.phone, wife.version) == ("13912345678", 2)

    # Out of signal again, under the new version: the page kept before the deploy still opens,
    # and the new shell is complete.
    page.context.set_offline(True)
    page.goto(f"{url}/people/{village['head']}")
    expect(page.get_by_role("heading", name=re.compile("张建国"))).to_be_visible()
    ready(page)
    assert controller_version(page) == "feedfacecafe"
    page.context.set_offline(False)


# -- 4. a new household and its people, all without signal ----------------------------------------

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def add_person_here(page, name, sex, birth_date, relation=None):
    """On a household's page (kept or made offline): 添加人员, fill the form, save, back to the household."""
    here = page.url
    page.get_by_role("link", name="添加人员").click()
    page.wait_for_url(re.compile(r"/people/new"))
    page.locator("#name").fill(name)
    page.locator(f"input[name=sex][value={sex}]").check()
    page.locator("#birth_date").fill(birth_date)
    if relation is not None:
        page.locator("#relation").select_option(relation)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(here)


def test_household_created_offline_gets_its_people_offline(live_server, village, page, sync_log):
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)  # the frame for households made offline is on the phone before this
    page.goto(f"{url}/groups/{village['group1']}")
    page.get_by_role("link", name="新增户").click()
    expect(page.locator("#address")).to_be_visible()

    # At the door of a family the register does not know yet, no signal.
    page.context.set_offline(True)
    page.locator("#address").fill("东风村1组 22号")
    page.locator("#number").fill("22")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/unsynced#{UUID}$"))
    household_id = page.url.rsplit("#", 1)[1]
    card = page.locator("section.card").first
    expect(card.get_by_role("heading")).to_contain_text("22 号 · 东风村1组 22号")
    expect(card.locator(".tag-unsynced")).to_have_text("未同步")
    expect(page.locator("nav.crumbs")).to_contain_text("东风村1组")
    expect(page.locator("ul[data-pending] li.empty")).to_be_visible()

    # Its people: the first one is the head, as the form suggests; the form knows that afterwards.
    page.get_by_role("link", name="添加人员").click()
    page.wait_for_url(re.compile(rf"/households/unsynced/people/new#{household_id}$"))
    expect(page.locator("#relation")).to_have_value("户主")
    expect(page.locator("#main")).to_contain_text("东风村1组 22号")
    page.get_by_role("link", name="取消").click()
    page.wait_for_url(re.compile(rf"/households/unsynced#{household_id}$"))
    add_person_here(page, "陈志强", "M", "1980-03-04")
    members = page.locator("ul[data-pending] li[data-outbox-record]")
    expect(members).to_have_count(1)
    expect(members).to_contain_text("陈志强")
    page.get_by_role("link", name="添加人员").click()
    expect(page.locator("#relation")).to_have_value("")
    page.go_back()
    page.wait_for_url(re.compile(rf"/households/unsynced#{household_id}$"))
    add_person_here(page, "刘桂兰", "F", "1982-07-09", relation="配偶")
    expect(members).to_have_count(2)
    expect(members.filter(has_text="刘桂兰").locator(".tag-unsynced")).to_have_count(1)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "3")

    # Still no signal: the household is in its group's list and opens from there, after a reload too.
    page.goto(f"{url}/groups/{village['group1']}")
    row = page.locator(f"li[data-entity-id='{household_id}']")
    expect(row).to_contain_text("东风村1组 22号")
    expect(row).to_contain_text("未同步")
    row.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/households/unsynced#{household_id}$"))
    page.reload()
    expect(page.locator("ul[data-pending] li[data-outbox-record]")).to_have_count(2)
    rows = sorted(outbox_rows(page), key=lambda r: r["created_at"])
    assert [(r["type"], r["entity_id"] if r["type"] == "household" else r["data"]["household_id"])
            for r in rows] == [("household", household_id), ("person", household_id), ("person", household_id)]
    assert [r["data"].get("relation") for r in rows[1:]] == ["户主", "配偶"]
    with live_server.app_context():
        assert db.session.get(Household, household_id) is None  # nothing went out

    # Signal: household first, then its people, each once; the page becomes the server's page.
    signal_returns(page)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    page.wait_for_url(re.compile(rf"/households/{household_id}$"), timeout=15_000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("22 号 · 陈志强")
    expect(page.locator("ul.rows li").filter(has_text="刘桂兰")).to_have_count(1)
    expect(page.locator(".tag-unsynced")).to_have_count(0)
    assert [rid for rid, _status in sync_log] == [r["id"] for r in rows], sync_log
    assert {status for _rid, status in sync_log} == {"applied"}, sync_log
    with live_server.app_context():
        household = db.session.get(Household, household_id)
        assert (household.group_id, household.number, household.address) == (village["group1"], "22", "东风村1组 22号")
        people = db.session.scalars(sa.select(Person).where(Person.household_id == household_id)
                                    .order_by(Person.birth_date)).all()
        assert [(p.id, p.name, p.relation) for p in people] == [
            (rows[1]["entity_id"], "陈志强", "户主"), (rows[2]["entity_id"], "刘桂兰", "配偶")]
        assert household.head_id == rows[1]["entity_id"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)) == 3
    # The household's own page works like any other: a person added to it now goes straight in.
    add_person_here(page, "陈小宇", "M", "2012-09-01", relation="子")
    expect(page.locator("ul.rows li").filter(has_text="陈小宇")).to_have_count(1)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    with live_server.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)
                                 .where(Person.household_id == household_id)) == 3


# -- 5. changes waiting on the phone show on the pages they change ------------------------------

def test_unsynced_edits_show_on_the_person_and_household_pages(live_server, village, page, sync_log):
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    for path in (f"/people/{village['wife']}", f"/people/{village['wife']}/edit",
                 f"/households/{village['home']}", f"/households/{village['home']}/edit"):
        page.goto(url + path)
        expect(page.locator("#main")).to_be_visible()

    page.context.set_offline(True)
    # 李红梅 went to work in Ningbo and has a new number.
    page.goto(f"{url}/people/{village['wife']}/edit")
    page.locator("#phone").fill("13912345678")
    page.locator("#status").select_option("away")
    page.locator("#away_place").fill("浙江省宁波市")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/people/{village['wife']}$"))

    def person_shows_the_pending_change():
        card = page.locator("section[data-entity=person]")
        expect(card.locator(".pending-note")).to_contain_text("还没有同步")
        phone = card.locator("dd[data-field=phone]")
        expect(phone.locator(".pending-new")).to_have_text("13912345678")
        expect(phone.locator(".tag-unsynced")).to_have_text("未同步")
        expect(phone.locator(".pending-was")).to_have_text("13900139000")
        expect(card.locator("dd[data-field=status] .pending-new")).to_have_text("外出")
        place = card.locator("dd[data-field=away_place]")
        expect(place).to_be_visible()
        expect(place.locator(".pending-new")).to_have_text("浙江省宁波市")
        # What did not change is shown as it is, unmarked.
        expect(card.locator("h1")).to_have_text("李红梅")
        expect(card.locator("dd[data-field=sex]")).to_have_text("女")
        expect(card.locator(".tag-unsynced")).to_have_count(3)

    person_shows_the_pending_change()
    page.reload()  # the kept copy of the page, still without signal
    person_shows_the_pending_change()

    # The household's address is corrected too.
    page.goto(f"{url}/households/{village['home']}/edit")
    page.locator("#address").fill("东风村1组 8号之一")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['home']}$"))
    address = page.locator("section[data-entity=household] dd[data-field=address]")
    expect(address.locator(".pending-new")).to_have_text("东风村1组 8号之一")
    expect(address.locator(".tag-unsynced")).to_have_text("未同步")
    expect(page.locator("section[data-entity=household] .tag-unsynced")).to_have_count(1)
    # In the members list, 李红梅 carries the mark as before.
    expect(page.locator("ul.rows li").filter(has_text="李红梅").locator(".tag-unsynced")).to_have_count(1)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "2")
    with live_server.app_context():
        assert db.session.get(Person, village["wife"]).phone == "13900139000"

    # Signal: both go out, the page shows the server's values, unmarked.
    signal_returns(page)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    expect(page.locator(".tag-unsynced")).to_have_count(0, timeout=15_000)
    expect(page.locator("section[data-entity=household] dd[data-field=address]")).to_have_text("东风村1组 8号之一")
    assert sorted(status for _rid, status in sync_log) == ["applied", "applied"], sync_log
    page.goto(f"{url}/people/{village['wife']}")
    expect(page.locator("dd[data-field=phone]")).to_have_text("13912345678")
    expect(page.locator(".tag-unsynced, .pending-note")).to_have_count(0)
    # Kept pages follow: offline again, the person's page shows the synced values without marks.
    page.context.set_offline(True)
    page.reload()
    expect(page.locator("dd[data-field=away_place]")).to_have_text("浙江省宁波市")
    expect(page.locator(".tag-unsynced, .pending-note")).to_have_count(0)
    page.context.set_offline(False)
    with live_server.app_context():
        wife = db.session.get(Person, village["wife"])
        assert (wife.phone, wife.status, wife.away_place) == ("13912345678", "away", "浙江省宁波市")
        assert db.session.get(Household, village["home"]).address == "东风村1组 8号之一"


def test_people_of_a_refused_offline_household_go_again_once_it_is_fixed(live_server, village, page, sync_log):
    """The server refuses a household made offline (an address of blanks passes the phone's
    check, not the server's), so its person is refused too: its household is not there. Fixing
    the household is all the worker has to do; the person follows by itself."""
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    page.goto(f"{url}/groups/{village['group1']}/households/new")
    expect(page.locator("#address")).to_be_visible()
    page.context.set_offline(True)
    page.locator("#address").fill("   ")
    page.locator("#number").fill("23")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/unsynced#{UUID}$"))
    household_id = page.url.rsplit("#", 1)[1]
    add_person_here(page, "周明", "M", "1979-11-30")

    signal_returns(page)
    expect(page.locator("#sync-status .sync-rejected")).to_have_attribute("data-rejected-count", "2", timeout=15_000)
    assert sorted(status for _rid, status in sync_log) == ["rejected", "rejected"], sync_log
    frame = page.locator("[data-unsynced-frame] section.card")
    expect(frame.locator(".tag-rejected")).to_have_text("未被接受，需要修改")
    expect(page.locator("ul[data-pending] li").filter(has_text="周明")).to_have_count(1)

    frame.get_by_role("link", name="修改户信息").click()
    expect(page.locator("#address-error")).to_be_visible()
    page.locator("#address").fill("东风村1组 23号")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{household_id}$"))
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    expect(page.locator("#sync-status .sync-rejected")).to_have_count(0)
    assert outbox_rows(page) == []
    expect(page.get_by_role("heading", level=1)).to_contain_text("23 号 · 周明", timeout=15_000)
    assert [status for _rid, status in sync_log] == ["rejected", "rejected", "applied", "applied"], sync_log
    assert len({rid for rid, _status in sync_log}) == 4, sync_log
    with live_server.app_context():
        household = db.session.get(Household, household_id)
        assert household.address == "东风村1组 23号"
        assert [p.name for p in household.members] == ["周明"]
        assert household.head_id == household.members[0].id
