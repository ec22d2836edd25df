"""Check-up day at the station, told in Debian's Chromium: two desks, one of them offline.

- The same person signed in at both desks counts once after the offline desk reconnects: the
  earlier sign-in (made offline) counts, the later one is kept as a duplicate, and both desks
  show the person signed in, with the earlier desk's name.
- A slip's QR code, printed by the notices' slip code, is read through the camera (Chromium's
  fake capture plays an image of it) and finds the person; the typed slip code finds them too.
- A walk-in, an undo and an absence with a certificate, made at the desk.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.checkup_helpers import schedule
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import make_household, make_person, make_town, make_user
from tests.helpers import browser_login
from tests.test_offline_stories import ready, signal_returns, waiting_count
from webapp.checkups.models import CheckupDay, Invitation
from webapp.extensions import db
from webapp.merging import local_today
from webapp.models import Person, SyncEvent

pytestmark = pytest.mark.browser

DESK = {"viewport": {"width": 800, "height": 1000}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
        "has_touch": True}


@pytest.fixture
def station_day(live_server):
    """青石镇's check-up day is today for 东风村; two desk staff sign people in."""
    with live_server.app_context():
        town = make_town("T01", villages=2, name="青石镇")
        village = town.children[0]
        home = make_household(village.children[0], address="东风村1组 8号", number="8")
        make_person(home, name="张红梅", head=True, id_number="110101199005171234", phone="13800001111",
                    enrolled=True)
        make_person(home, name="章宏敏", id_number="110101198803025678", phone="13900002222", enrolled=True)
        make_person(home, name="赵慧明", id_number="11010119751109345X", enrolled=True)
        make_person(home, name="周海明", enrolled=False)  # lives there, not invited
        make_user("boss", "supervisor", [town])
        make_user("qiantai1", "desk", [town], display_name="李晓燕")
        make_user("qiantai2", "desk", [town], display_name="王芳")
        day = schedule(town, local_today(), areas=[village])
        return {"day": day.id, "village": village.id, "url": f"{live_server.url}/desk/{day.id}",
                "today": day.date.isoformat()}


@pytest.fixture
def desk_contexts(browser):
    contexts = []

    def make(**extra):
        context = browser.new_context(**DESK, **extra)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def open_desk(page, base_url, username, desk_url, label):
    browser_login(page, base_url, username)
    ready(page)
    page.goto(desk_url)
    expect(page.locator("#desk")).to_have_attribute("data-desk-state", "ready")
    expect(page.locator("#desk")).to_have_attribute("data-desk-synced", "1")
    page.locator("#desk-label").fill(label)
    page.locator("#desk-label").dispatch_event("change")


def person_row(page, name):
    return page.locator("#desk-results li.desk-person", has_text=name)


def find(page, q):
    page.locator("#desk-q").fill(q)


def test_the_same_person_signed_in_at_two_desks_counts_once_the_earlier(live_server, station_day, desk_contexts):
    url = live_server.url
    desk1, desk2 = desk_contexts(), desk_contexts()
    open_desk(desk1, url, "qiantai1", station_day["url"], "1号台")
    open_desk(desk2, url, "qiantai2", station_day["url"], "2号台")
    expect(desk1.locator("#desk-invited")).to_have_text("3")

    # The station's network drops for desk 2; it has been open since the morning and reloads.
    desk2.context.set_offline(True)
    desk2.reload()
    expect(desk2.locator("#desk")).to_have_attribute("data-desk-state", "ready")
    find(desk2, "zhm")
    person_row(desk2, "张红梅").get_by_role("button", name="签到", exact=True).click()
    expect(person_row(desk2, "张红梅").locator(".desk-signed")).to_contain_text("2号台")
    expect(desk2.locator("#desk-signed")).to_have_text("1")
    expect(waiting_count(desk2)).to_have_attribute("data-pending-count", "1")

    # A moment later the same villager queues again at desk 1 (online), which has not heard of it.
    desk1.wait_for_timeout(1100)
    find(desk1, "1234")
    person_row(desk1, "张红梅").get_by_role("button", name="签到", exact=True).click()
    expect(waiting_count(desk1)).to_have_attribute("data-pending-count", "0", timeout=20_000)
    expect(person_row(desk1, "张红梅").locator(".desk-signed")).to_contain_text("1号台")

    # Desk 2's signal returns: its earlier sign-in counts, desk 1's is kept as a duplicate.
    signal_returns(desk2)
    expect(waiting_count(desk2)).to_have_attribute("data-pending-count", "0", timeout=20_000)
    with live_server.app_context():
        person = db.session.scalar(sa.select(Person).where(Person.name == "张红梅"))
        events = db.session.scalars(sa.select(SyncEvent).where(SyncEvent.type == "signin")).all()
        assert len(events) == 2
        counted = [e for e in events if e.counted]
        assert len(counted) == 1 and counted[0].data["desk"] == "2号台"
        assert [e.data["desk"] for e in events if not e.counted] == ["1号台"]
        from webapp.desk.service import attendance_by_person, signed_in_count

        attendance = attendance_by_person(station_day["day"])[person.id]
        assert attendance.signin_record_id == counted[0].record_id and attendance.duplicates == 1
        assert attendance.signed_desk == "2号台"
        assert signed_in_count(station_day["day"]) == 1

    # Both desks show the person signed in once, at the earlier desk.
    desk1.reload()
    expect(desk1.locator("#desk")).to_have_attribute("data-desk-synced", "1")
    find(desk1, "张红梅")
    expect(person_row(desk1, "张红梅").locator(".desk-signed")).to_contain_text("2号台")
    expect(desk1.locator("#desk-signed")).to_have_text("1")
    find(desk2, "张红梅")
    expect(person_row(desk2, "张红梅").locator(".desk-signed")).to_contain_text("2号台")
    expect(desk2.locator("#desk-signed")).to_have_text("1")

    # A signed-in person has no 签到 button any more: the desk shows when and where instead.
    assert person_row(desk1, "张红梅").get_by_role("button", name="签到", exact=True).count() == 0


def test_walk_in_undo_and_absence_at_the_desk(live_server, station_day, desk_contexts):
    url = live_server.url
    desk = desk_contexts()
    open_desk(desk, url, "qiantai1", station_day["url"], "1号台")

    # In the register but not invited: signed in as a walk-in, with a reason.
    find(desk, "周海明")
    row = person_row(desk, "周海明")
    expect(row).to_contain_text("未受邀")
    row.get_by_role("button", name="签到", exact=True).click()
    expect(desk.locator("#desk-notice")).to_be_visible()
    row.locator(".desk-reason").fill("上周刚搬来")
    row.get_by_role("button", name="签到", exact=True).click()
    expect(person_row(desk, "周海明").locator(".desk-signed")).to_be_visible()
    expect(desk.locator("#desk-walkins")).to_have_text("1")
    expect(desk.locator("#desk-signed")).to_have_text("0")

    # Not in the register at all: name, village and reason.
    desk.locator("#desk-walkin summary").click()
    desk.locator("#wi-name").fill("陈新来")
    desk.locator("#wi-reason").fill("刚从外村搬来")
    desk.locator("#desk-walkin-form").get_by_role("button").click()
    expect(desk.locator("#desk-walkins")).to_have_text("2")

    # A mistaken sign-in is undone: nothing deleted, an undo event recorded.
    find(desk, "章宏敏")
    person_row(desk, "章宏敏").get_by_role("button", name="签到", exact=True).click()
    expect(desk.locator("#desk-signed")).to_have_text("1")
    desk.once("dialog", lambda dialog: dialog.accept())
    person_row(desk, "章宏敏").locator(".desk-undo").click()
    expect(desk.locator("#desk-signed")).to_have_text("0")
    expect(waiting_count(desk)).to_have_attribute("data-pending-count", "0", timeout=20_000)
    expect(person_row(desk, "章宏敏").get_by_role("button", name="签到", exact=True)).to_be_visible()

    # Away for work: the certificate came by post.
    find(desk, "赵慧明")
    person_row(desk, "赵慧明").locator(".desk-absent-open").click()
    form = person_row(desk, "赵慧明").locator("form.desk-absence")
    form.locator("select[name=reason]").select_option("away")
    form.locator("input[name=certificate_on]").fill(station_day["today"])
    form.locator("input[name=certificate_place]").fill("浙江宁波")
    form.get_by_role("button").click()
    expect(waiting_count(desk)).to_have_attribute("data-pending-count", "0", timeout=20_000)
    expect(person_row(desk, "赵慧明").locator(".desk-absence-tag")).to_contain_text("浙江宁波")

    # The tag shows from this device's own record at once; wait for the server to have it too.
    for _ in range(100):
        with live_server.app_context():
            types = sorted(e.type for e in db.session.scalars(sa.select(SyncEvent)))
        if "absence" in types:
            break
        desk.wait_for_timeout(200)
    with live_server.app_context():
        assert types == ["absence", "signin", "signin", "signin", "signin_undo"]
        walk_ins = [e.data["walk_in"] for e in db.session.scalars(sa.select(SyncEvent).where(SyncEvent.type == "signin"))
                    if "walk_in" in e.data]
        assert sorted(w["reason"] for w in walk_ins) == ["上周刚搬来", "刚从外村搬来"]


# -- QR ----------------------------------------------------------------------------------------

def slip_video(tmp_path, token: str, width: int = 640, height: int = 480):
    """A Y4M clip (Chromium's fake camera plays it) of the slip's QR code, drawn from the matrix
    of segno (the library the notices print slips with): black modules on white, centred."""
    import segno

    from webapp.notices.slips import qr_payload

    qr = segno.make(qr_payload(token), error="m")
    matrix = [list(row) for row in qr.matrix]
    modules = len(matrix) + 8  # the quiet zone of four modules on each side
    scale = min(width, height) * 8 // 10 // modules
    left, top = (width - modules * scale) // 2, (height - modules * scale) // 2
    luma = bytearray([235]) * (width * height)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                y0, x0 = top + (r + 4) * scale, left + (c + 4) * scale
                for y in range(y0, y0 + scale):
                    luma[y * width + x0:y * width + x0 + scale] = bytes([16]) * scale
    chroma = bytes([128]) * (width * height // 4)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    path = tmp_path / "slip.y4m"
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * 10)
    return path


def test_a_slip_is_found_by_its_qr_code_through_the_camera_and_by_its_typed_code(live_server, station_day, tmp_path,
                                                                                 browser):
    with live_server.app_context():
        invitation = db.session.scalar(sa.select(Invitation).join(Person, Person.id == Invitation.person_id)
                                       .where(Person.name == "章宏敏"))
        token, code = invitation.token, invitation.code
        assert db.session.get(CheckupDay, station_day["day"]).date == local_today()
    video = slip_video(tmp_path, token)
    # A Chromium of its own: the fake camera is chosen when the browser starts.
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-video-capture={video}"])
    try:
        context = chromium.new_context(**DESK, permissions=["camera"])
        context.set_default_timeout(15_000)
        page = context.new_page()
        open_desk(page, live_server.url, "qiantai1", station_day["url"], "1号台")
        page.locator("#desk-scan").click()
        expect(page.locator("#desk-q")).to_have_value(f"DS1:{token}")
        expect(page.locator("#desk-scanner")).to_be_hidden()
        expect(page.locator("#desk-results li.desk-person")).to_have_count(1)
        person_row(page, "章宏敏").get_by_role("button", name="签到", exact=True).click()
        expect(page.locator("#desk-signed")).to_have_text("1")

        page.locator("#desk-scan").click()  # the same slip again: already signed in, when and where
        expect(page.locator("#desk-notice")).to_contain_text("已经签到过")
        expect(page.locator("#desk-notice")).to_contain_text("1号台")

        find(page, code.lower())  # the code printed under the QR, typed
        expect(page.locator("#desk-results li.desk-person")).to_have_count(1)
        expect(person_row(page, "章宏敏").locator(".desk-signed")).to_contain_text("1号台")
    finally:
        chromium.close()


def test_the_desk_opens_with_its_people_after_a_morning_offline(live_server, station_day, desk_contexts):
    """Logged in this morning after desk 2 had signed someone in (pages fetched ahead, the
    day never opened), offline since: the desk has its people and knows who desk 2 signed in."""
    url = live_server.url
    early = desk_contexts()
    open_desk(early, url, "qiantai2", station_day["url"], "2号台")
    find(early, "zhm")
    person_row(early, "张红梅").get_by_role("button", name="签到", exact=True).click()
    expect(waiting_count(early)).to_have_attribute("data-pending-count", "0", timeout=20_000)

    desk = desk_contexts()
    browser_login(desk, url, "qiantai1")
    ready(desk)  # the desk's page, roster and events were fetched ahead, never opened
    desk.context.set_offline(True)
    desk.goto(station_day["url"])
    expect(desk.locator("#desk")).to_have_attribute("data-desk-state", "ready")
    expect(desk.locator("#desk")).to_have_attribute("data-desk-synced", "1")
    expect(desk.locator("#desk-signed")).to_have_text("1")
    find(desk, "zhm")
    expect(person_row(desk, "张红梅").locator(".desk-signed")).to_contain_text("2号台")
    assert person_row(desk, "张红梅").get_by_role("button", name="签到", exact=True).count() == 0
    expect(person_row(desk, "章宏敏")).to_be_visible()
    person_row(desk, "章宏敏").get_by_role("button", name="签到", exact=True).click()
    expect(desk.locator("#desk-signed")).to_have_text("2")
    signal_returns(desk)
    expect(waiting_count(desk)).to_have_attribute("data-pending-count", "0", timeout=20_000)
