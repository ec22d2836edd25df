"""A village worker on a 360×640 phone walks the register and corrects a phone number."""
import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_household, make_person, make_town, make_user
from tests.helpers import browser_login
from webapp.extensions import db
from webapp.models import AuditEntry, Person

pytestmark = pytest.mark.browser


def _village_with_a_family(live_server):
    with live_server.app_context():
        town = make_town("T01", villages=2, name="青石镇")
        village = town.children[0]
        home = make_household(village.children[0], address="东风村1组 8号")
        make_person(home, name="张建国", sex="M", head=True, phone="13800138000", enrolled=True)
        woman = make_person(home, name="李红梅", relation="配偶", phone="13900139000", enrolled=True)
        make_user("cunganbu1", "worker", [village], display_name="王专干")
        return woman.id


def test_worker_edits_a_phone_number_and_a_wrong_one_is_refused_in_chinese(live_server, page):
    person_id = _village_with_a_family(live_server)
    browser_login(page, live_server.url, "cunganbu1")

    page.get_by_role("link", name=re.compile("东风村")).first.click()
    page.get_by_role("link", name=re.compile("东风村1组")).first.click()
    page.get_by_role("link", name=re.compile("东风村1组 8号|张建国")).first.click()
    expect(page.get_by_text("139****9000")).to_be_visible()  # masked in the member list
    page.get_by_role("link", name=re.compile("李红梅")).first.click()
    page.get_by_role("link", name="修改").click()

    # Passes the browser's 11-digit pattern but is no Chinese mobile number: the server says so.
    page.locator("#phone").fill("12012345678")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#phone-error")).to_contain_text("手机号不对")
    expect(page.locator("#phone")).to_have_value("12012345678")  # what was typed is kept
    with live_server.app_context():
        db.session.expire_all()
        assert db.session.get(Person, person_id).phone == "13900139000"
        assert db.session.query(AuditEntry).filter_by(entity_id=person_id).count() == 0

    page.locator("#phone").fill("13912345678")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("已保存")).to_be_visible()
    expect(page.get_by_text("13912345678")).to_be_visible()  # the card shows the worker the full number
    with live_server.app_context():
        db.session.expire_all()
        person = db.session.get(Person, person_id)
        assert person.phone == "13912345678" and person.version == 2
        assert db.session.query(AuditEntry).filter_by(entity_id=person_id, action="update").count() == 1


def test_the_phone_layout_needs_no_sideways_scrolling(live_server, page):
    _village_with_a_family(live_server)
    browser_login(page, live_server.url, "cunganbu1")
    for path in ("/", "/search?q=zjg"):
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    expect(page.get_by_role("link", name=re.compile("张建国"))).to_be_visible()
