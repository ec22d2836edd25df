"""A worker hands notice slips over door to door with no signal, on a 360×640 phone in Chromium."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.checkup_helpers import schedule
from tests.factories import make_household, make_person, make_town, make_user
from tests.helpers import browser_login
from tests.test_offline_stories import outbox_rows, ready, signal_returns, waiting_count
from webapp.extensions import db
from webapp.merging import local_today
from webapp.notices.models import NoticeMessage
from webapp.notices.service import due_at, send_due_lists

pytestmark = pytest.mark.browser


@pytest.fixture
def notice_list(live_server):
    """东风村 has a check-up day in three days; its notice list went out this morning."""
    with live_server.app_context():
        town = make_town("T01", villages=1, name="青石镇")
        village = town.children[0]
        home = make_household(village.children[0], address="东风村1组 8号", number="8")
        make_person(home, name="张建国", sex="M", head=True, phone="13800138000", enrolled=True)
        make_person(home, name="李红梅", relation="配偶", enrolled=True)
        make_user("cunganbu1", "worker", [village], display_name="王专干")
        make_user("boss", "supervisor", [town])
        day = schedule(town, local_today() + timedelta(days=3))
        [made] = send_due_lists(due_at(day.date))
        return made.id


def test_a_slip_handed_over_offline_is_recorded_once_when_the_signal_returns(live_server, notice_list, page):
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    page.goto(f"{url}/notices/")
    expect(page.get_by_role("link", name="东风村")).to_be_visible()
    page.goto(f"{url}/notices/{notice_list}")  # kept on the phone for the round
    expect(page.get_by_text("张建国")).to_be_visible()

    page.context.set_offline(True)
    page.reload()  # from the phone's cache
    row = page.locator("li", has_text="张建国")
    row.get_by_text("送到本人").check()
    with page.expect_navigation(timeout=20_000):  # saved on the phone, then back to the (kept) list
        row.get_by_role("button", name="登记送达").click()
    expect(page.get_by_text("已保存，等待同步")).to_be_visible()
    row = page.locator("li", has_text="张建国")
    expect(row.locator(".tag-unsynced")).to_be_visible()
    expect(row.locator("form")).to_be_hidden()
    expect(page.locator("li", has_text="李红梅").locator("form")).to_be_visible()
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "1")
    [record] = outbox_rows(page)
    assert record["type"] == "notice_delivery" and record["data"]["how"] == "person"

    signal_returns(page)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=20_000)
    page.reload()
    expect(page.locator("li", has_text="张建国").locator("[data-delivered]")).to_contain_text("送到本人")
    with live_server.app_context():
        delivered = db.session.scalars(sa.select(NoticeMessage).where(NoticeMessage.status == "delivered",
                                                                     NoticeMessage.channel == "slip")).all()
        assert [m.invitation.person.name for m in delivered] == ["张建国"]
        assert delivered[0].delivered_on == local_today() and delivered[0].delivered_how == "person"


def test_supervisor_schedules_a_day_and_moves_it_in_the_browser(live_server, page):
    with live_server.app_context():
        town = make_town("T01", villages=2, name="青石镇")
        village = town.children[0]
        home = make_household(village.children[0], address="东风村1组 8号", number="8")
        make_person(home, name="张建国", sex="M", head=True, enrolled=True)
        make_person(home, name="李红梅", relation="配偶", enrolled=True, status="away", away_place="宁波")
        make_user("zhanzhang", "supervisor", [town], display_name="赵站长")
        village_name, when = village.name, local_today() + timedelta(days=20)
    url = live_server.url
    browser_login(page, url, "zhanzhang")
    page.get_by_role("link", name="查体日").click()
    page.get_by_role("link", name="安排查体日").click()
    page.get_by_role("button", name="保存").click()  # the browser asks for the date first
    expect(page).to_have_url(f"{url}/checkups/new")
    page.locator("#date").fill(when.isoformat())
    page.locator("#station").fill("青石镇卫生院")
    page.get_by_label("血压检查").check()
    page.get_by_label(village_name, exact=True).check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("已保存。共邀请 2 人。")).to_be_visible()
    expect(page.locator("[data-villages]")).to_contain_text("邀请 2 人，其中外出 1 人（需寄证明）")
    expect(page.locator("[data-villages]")).to_contain_text("通知名单尚未发出")
    page.get_by_text("改期或取消").click()
    page.locator("#new-date").fill((when + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="改期").click()
    expect(page.get_by_text("原日期的通知作废")).to_be_visible()
    expect(page.locator("h1")).to_contain_text(f"{(when + timedelta(days=7)).day}日")
