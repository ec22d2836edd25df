"""Door-to-door visits offline, told end to end on a 360×640 phone in Debian's Chromium.

- A birth and a move-out reported offline reach the register once, even though the phone
  sends the batch twice (the first answer is lost on the way back).
- A visit made with a form that changed meanwhile comes back rejected, stays on the phone,
  and is fixed in the new form and sent again.
- The "today" screen opens offline, finds people by pinyin initials, and counts what waits.
"""
from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.factories import make_household, make_person, make_town, make_user
from tests.helpers import browser_login
from tests.test_offline_stories import outbox_rows, ready, signal_returns, sync_log, waiting_count  # noqa: F401 (sync_log: a fixture)
from webapp.extensions import db
from webapp.models import Household, Person, SyncRecord, User
from webapp.visits.changes import new_person_id
from webapp.visits.definitions import FORMS_DIR
from webapp.visits.models import Visit
from webapp.visits.service import load_definition

pytestmark = pytest.mark.browser


@pytest.fixture
def village(live_server):
    """青石镇 › 东风村 1组 8号: 张建国 (head) and his son 张小军; 王专干 works the village."""
    with live_server.app_context():
        town = make_town("T01", villages=1, name="青石镇")
        village = town.children[0]
        home = make_household(village.children[0], address="东风村1组 8号", number="8")
        head = make_person(home, name="张建国", sex="M", head=True, birth_date=date(1968, 3, 2))
        son = make_person(home, name="张小军", sex="M", relation="子", birth_date=date(1994, 6, 1))
        quiet = make_household(village.children[1], address="东风村2组 5号", number="5")
        make_person(quiet, name="李桂兰", head=True, birth_date=date(1950, 1, 1))
        make_user("cunganbu1", "worker", [village], display_name="王专干")
        make_user("root", "admin")
        return {"home": home.id, "head": head.id, "son": son.id, "quiet": quiet.id}


def kept(page, path):
    """Wait until the service worker keeps ``path`` (fetched ahead from /offline-pages)."""
    check = """(path) => caches.open("doorstep-pages")
        .then((cache) => cache.match(new URL(path, location.origin).href, {ignoreVary: true}))
        .then((hit) => Boolean(hit))"""
    for _attempt in range(150):
        if page.evaluate(check, path):
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"{path} was not fetched ahead for offline use")


def _open_form(page, form_id):
    details = page.locator(f"#form-{form_id}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details.locator("form")


def test_a_birth_and_a_move_out_reported_offline_change_the_register_once(live_server, village, page,
                                                                         sync_log):  # noqa: F811 (fixture)
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    page.goto(f"{url}/households/{village['home']}")  # the round's pages, opened with signal
    page.goto(f"{url}/households/{village['home']}/visit")
    expect(page.locator("#form-household_visit")).to_be_visible()

    page.context.set_offline(True)
    page.goto(f"{url}/households/{village['home']}/visit")
    form = _open_form(page, "change_report")
    form.get_by_label("出生", exact=True).check()
    expect(form.locator("[data-field=person_id]")).to_be_hidden()
    form.locator("#change_report-name").fill("张小明")
    form.locator("input[name=sex][value=M]").check()
    form.locator("#change_report-birth_date").fill("2026-10-01")
    form.locator("input[name=relation][value=孙子]").check()
    form.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['home']}$"))
    expect(page.get_by_text("已保存，等待同步")).to_be_visible()

    page.goto(f"{url}/households/{village['home']}/visit")
    form = _open_form(page, "change_report")
    form.get_by_label("迁出", exact=True).check()
    expect(form.locator("[data-field=name]")).to_be_hidden()
    form.get_by_label("张小军").check()
    form.locator("#change_report-event_date").fill("2026-11-01")
    form.locator("#change_report-moved_to").fill("广州市天河区")
    form.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['home']}$"))
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "2")
    records = outbox_rows(page)
    assert sorted((r["type"], r["data"]["kind"]) for r in records) == [("visit", "birth"), ("visit", "moved_out")]
    birth = next(r for r in records if r["data"]["kind"] == "birth")
    with live_server.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)) == 0

    # Signal returns, but the first answer is lost on the way back: the phone sends the batch again.
    sent = []

    def lose_first_answer(route):
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fetch()  # the server merges the batch …
            route.abort()  # … and the phone never hears back
        else:
            route.continue_()

    page.route("**/api/sync", lose_first_answer)
    signal_returns(page)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=30_000)
    assert outbox_rows(page) == []
    # The server heard the batch twice: merged the first time, answered "duplicate" the second.
    ids = {r["id"] for r in records}
    assert sorted(status for rid, status in sync_log if rid in ids) == [
        "applied", "applied", "duplicate", "duplicate"], sync_log

    with live_server.app_context():
        babies = db.session.scalars(sa.select(Person).where(Person.name == "张小明")).all()
        assert [(p.id, p.household_id, p.sex, p.birth_date, p.relation) for p in babies] == [
            (new_person_id(birth["entity_id"]), village["home"], "M", date(2026, 10, 1), "孙子")]
        son = db.session.get(Person, village["son"])
        assert (son.status, son.version) == ("moved_out", 2)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 2
        statuses = dict(db.session.execute(sa.select(SyncRecord.key, SyncRecord.status)
                                           .where(SyncRecord.key.in_([r["id"] for r in records]))).all())
        assert set(statuses.values()) == {"applied"}

    # The household shows the baby and the son as moved out; his history names the report.
    page.goto(f"{url}/households/{village['home']}")
    expect(page.get_by_role("link", name=re.compile("张小明"))).to_be_visible()
    page.goto(f"{url}/people/{village['son']}/visits")
    expect(page.locator("#visits")).to_contain_text("迁出")
    expect(page.locator("#visits")).to_contain_text("广州市天河区")
    expect(page.locator("#register-changes")).to_contain_text("moved_out")


def test_a_visit_made_with_a_changed_form_is_rejected_kept_fixed_and_sent_again(live_server, village, page):
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    page.goto(f"{url}/households/{village['quiet']}/visit")
    page.context.set_offline(True)
    page.reload()
    form = _open_form(page, "household_visit")
    form.get_by_label("户主").check()
    form.locator("#household_visit-notes").fill("身体不错")
    form.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['quiet']}$"))
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "1")

    # Meanwhile the admin loads version 2 of the household visit form.
    with live_server.app_context():
        text = (FORMS_DIR / "household_visit.yaml").read_text(encoding="utf-8")
        admin = db.session.scalars(sa.select(User).where(User.username == "root")).one()
        _definition, problems = load_definition(admin, "hv.yaml", text.replace("version: 1", "version: 2").encode())
        assert problems == []

    signal_returns(page)
    expect(page.locator("#sync-status [data-rejected-count]")).to_have_attribute("data-rejected-count", "1",
                                                                                 timeout=15_000)
    [kept] = outbox_rows(page)
    assert kept["state"] == "rejected" and list(kept["errors"]) == ["form_version"]
    with live_server.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0

    page.goto(f"{url}/outbox")
    item = page.locator(f"#r-{kept['id']}")
    expect(item).to_contain_text("第 2 版")
    item.get_by_role("link", name="修改后重新发送").click()
    form = page.locator("#form-household_visit form")
    expect(form.locator("#household_visit-notes")).to_have_value("身体不错")
    expect(form.get_by_label("户主")).to_be_checked()
    expect(form.locator("input[name=form_version]")).to_have_value("2")
    expect(form.locator(".form-errors")).to_contain_text("第 2 版")
    form.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['quiet']}$"))
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    assert outbox_rows(page) == []
    with live_server.app_context():
        [visit] = db.session.scalars(sa.select(Visit)).all()
        assert (visit.id, visit.form_version, visit.answers["notes"]) == (kept["entity_id"], 2, "身体不错")


def test_the_today_screen_opens_offline_finds_people_by_initials_and_counts_what_waits(live_server, village, page):
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    page.goto(f"{url}/today")
    expect(page.locator("html")).to_have_attribute("data-people-index", "ready")
    expect(page.locator("#today-stale")).to_contain_text("东风村2组 5号")
    kept(page, f"/households/{village['quiet']}/visit")  # never opened: the worker's round is fetched ahead

    page.context.set_offline(True)
    page.goto(f"{url}/households/{village['quiet']}/visit")
    form = _open_form(page, "household_visit")
    form.get_by_label("家中无人").check()
    form.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(rf"/households/{village['quiet']}$"))

    page.goto(f"{url}/today")
    expect(page.locator("[data-today-pending]")).to_have_attribute("data-count", "1")
    expect(page.locator("html")).to_have_attribute("data-people-index", "ready")
    page.locator("#people-search").fill("lgl")
    results = page.locator("#people-results li")
    expect(results).to_have_count(1)
    expect(results).to_contain_text("李桂兰")
    page.locator("#people-search").fill("张")
    expect(results).to_have_count(2)
    results.filter(has_text="张小军").locator("a").click()
    expect(page).to_have_url(re.compile(rf"/households/{village['home']}$"))
    signal_returns(page)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)


def test_the_people_index_fetched_ahead_is_searched_offline_and_asked_again_only_when_changed(
        live_server, village, page):
    """Today was never opened: the service worker fetched the people index ahead, so the search
    works offline. Back online, the kept list shows at once and the server answers 304 while it
    is unchanged; a person added on the server arrives with the next visit to Today."""
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    kept(page, "/today/people.json")
    page.context.set_offline(True)
    page.goto(f"{url}/today")
    expect(page.locator("html")).to_have_attribute("data-people-index", "ready")
    page.locator("#people-search").fill("lgl")
    expect(page.locator("#people-results li")).to_contain_text("李桂兰")

    page.context.set_offline(False)
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/today/people.json") else None)
    page.goto(f"{url}/today")
    expect(page.locator("html")).to_have_attribute("data-people-index", "ready")
    page.wait_for_function("() => performance.getEntriesByName(location.origin + '/today/people.json').length > 0")
    page.wait_for_timeout(300)
    assert statuses == [304]

    with live_server.app_context():
        make_person(db.session.get(Household, village["quiet"]), name="刘德华", birth_date=date(1961, 9, 27))
    statuses.clear()
    page.goto(f"{url}/today")
    page.locator("#people-search").fill("ldh")
    expect(page.locator("#people-results li")).to_contain_text("刘德华")
    assert statuses == [200]


def test_pages_kept_for_a_worker_whose_session_expired_are_not_the_next_workers(live_server, village, page):
    """No logout (the session expired): once the next worker has signed in on the phone, the
    first worker's kept pages are gone at once, before any page is fetched ahead again."""
    with live_server.app_context():
        other = make_town("T02", villages=1, name="白云镇").children[0]
        make_user("cunganbu2", "worker", [other], display_name="李专干")
        second = db.session.scalar(sa.select(User.id).where(User.username == "cunganbu2"))
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    kept(page, f"/households/{village['home']}")
    page.context.clear_cookies()  # the session ends without a logout
    browser_login(page, url, "cunganbu2")
    # The service worker has heard who is signed in now (it notes whose the kept pages are).
    page.wait_for_function("""(owner) => new Promise((resolve) => {
      const open = indexedDB.open("doorstep");
      open.onsuccess = () => {
        const request = open.result.transaction("meta").objectStore("meta").get("pages-owner");
        request.onsuccess = () => { resolve((request.result || {}).value === owner); open.result.close(); };
      };
    })""", arg=second, timeout=10_000)
    page.context.set_offline(True)
    page.goto(f"{url}/households/{village['home']}")
    expect(page.locator("h1")).to_have_text("这个页面不在手机上")
    expect(page.locator("body")).not_to_contain_text("张建国")
