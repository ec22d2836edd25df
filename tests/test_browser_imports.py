"""The station master imports the town's spreadsheet in Chinese: sees a bad row, skips it,
imports the rest and finds an imported person by pinyin initials."""
import io
import re

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.factories import make_town, make_user
from tests.helpers import browser_login
from webapp.extensions import db
from webapp.models import AuditEntry, Person

pytestmark = pytest.mark.browser


def town_workbook() -> bytes:
    """Made as a town clerk would: Chinese headers, a serial-number column, dates as Excel dates."""
    from datetime import datetime

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["序号", "村代码", "组代码", "户编号", "住址", "姓名", "与户主关系", "性别", "出生日期", "手机号"])
    sheet.append([1, "T01-V01", "T01-V01-G01", "0001", "东风村1组 8号", "欧阳春华", "户主", "女",
                  datetime(1980, 5, 2), "13812345678"])
    sheet.append([2, "T01-V01", "T01-V01-G01", "0001", "", "欧阳明", "子", "男", datetime(2005, 3, 9), ""])
    sheet.append([3, "T01-V01", "T01-V01-G02", "0002", "东风村2组 3号", "钱多多", "户主", "男",
                  "1990-02-30", ""])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_station_master_imports_a_workbook_skipping_a_bad_row(live_server, page):
    with live_server.app_context():
        town = make_town("T01", villages=2, name="青石镇")
        make_user("zhanzhang", "supervisor", [town], display_name="周站长")
    browser_login(page, live_server.url, "zhanzhang")

    page.get_by_role("link", name="导入").click()
    expect(page.get_by_role("heading", name="导入户籍名册")).to_be_visible()
    page.locator("#file").set_input_files(files=[{
        "name": "青石镇名册.xlsx", "buffer": town_workbook(),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.get_by_role("button", name="上传并核对").click()

    expect(page.get_by_role("heading", name="核对导入")).to_be_visible()
    expect(page.locator("#import-summary")).to_contain_text("有错误的行：1")
    expect(page.get_by_text("以下列不会读取：序号")).to_be_visible()
    bad_row = page.locator("#row-4")
    expect(bad_row).to_contain_text("钱多多")
    expect(bad_row).to_contain_text("这个日期不对。")
    expect(page.locator("#sample-rows")).to_contain_text("欧阳春华")
    with live_server.app_context():
        assert db.session.query(Person).count() == 0  # the preview writes nothing

    bad_row.get_by_role("checkbox").check()
    page.get_by_role("button", name="导入（跳过勾选的行）").click()
    expect(page.get_by_text("已导入 1 户、2 人。")).to_be_visible()

    page.goto(f"{live_server.url}/search")
    page.locator("#q").fill("oych")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator("#results").get_by_role("link", name=re.compile("欧阳春华"))).to_be_visible()
    with live_server.app_context():
        db.session.expire_all()
        assert sorted(p.name for p in db.session.query(Person)) == ["欧阳明", "欧阳春华"]
        assert db.session.query(AuditEntry).filter_by(action="import").count() == 1
