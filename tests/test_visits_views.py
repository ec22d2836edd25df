"""Visit pages through the test client: forms, histories, today, admin form versions, reports."""
import csv
import io
from datetime import date, timedelta

import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from tests.factories import make_household, make_person, make_town, make_user
from tests.helpers import csrf_token_for, login, logout
from webapp.extensions import db
from webapp.merging import local_today
from webapp.models import Area, AuditEntry
from webapp.visits.definitions import parse_text
from webapp.visits.models import Visit
from webapp.visits.xlsform import read_xlsform


def _setup(app):
    with app.app_context():
        town = make_town("T01", villages=2)
        village_a, village_b = town.children
        home = make_household(village_a.children[0], address="东风村1组 8号", number="8")
        head = make_person(home, name="张建国", sex="M", head=True, birth_date=date(1970, 1, 2))
        quiet = make_household(village_a.children[1], address="东风村2组 3号", number="3")
        make_household(village_b.children[0], address="红星村1组 1号")
        make_user("worker_a", "worker", [village_a], display_name="王专干")
        make_user("boss", "supervisor", [town])
        make_user("root", "admin")
        return {"home": home.id, "head": head.id, "quiet": quiet.id, "village_a": village_a.id}


def _post_visit(client, household_id, data):
    token = csrf_token_for(client, f"/households/{household_id}/visit")
    return client.post(f"/households/{household_id}/visit", data={**data, "csrf_token": token,
                                                                   "household_id": household_id})


def test_a_visit_saved_without_javascript_goes_through_the_merge_and_shows_in_the_history(app, client):
    ids = _setup(app)
    login(client, "worker_a")
    page = client.get(f"/households/{ids['home']}/visit").get_data(as_text=True)
    assert 'data-outbox="visit"' in page and "见到了谁" in page and "张建国" in page
    bad = _post_visit(client, ids["home"], {"form_id": "household_visit", "form_version": "1"})
    assert bad.status_code == 422 and "请至少选择一项" not in bad.get_data(as_text=True)
    assert 'id="household_visit-met-error"' in bad.get_data(as_text=True)
    next_week = (date.today() + timedelta(days=7)).isoformat()
    ok = _post_visit(client, ids["home"], {"form_id": "household_visit", "form_version": "1",
                                           "met": ["head", "spouse"], "notes": "一切正常", "next_visit": next_week})
    assert ok.status_code == 302, ok.get_data(as_text=True)
    history = client.get(f"/households/{ids['home']}/visits").get_data(as_text=True)
    assert "一切正常" in history and "户主、配偶" in history and "王专干" in history
    with app.app_context():
        [visit] = db.session.scalars(sa.select(Visit)).all()
        assert visit.answers == {"met": ["head", "spouse"], "notes": "一切正常", "next_visit": next_week}
        assert (visit.form_id, visit.form_version) == ("household_visit", 1)


def test_the_today_screen_lists_stale_households_and_people_to_follow_up(app, client):
    ids = _setup(app)
    login(client, "worker_a")
    _post_visit(client, ids["home"], {"form_id": "health_followup", "form_version": "1", "person_id": ids["head"],
                                      "checked_elsewhere": "yes", "checkup_date": "2026-11-01",
                                      "checkup_place": "广州", "certificate_received": "no"})
    page = client.get("/today").get_data(as_text=True)
    follow = page.split('id="today-follow_up"')[1].split("</section>")[0]
    stale = page.split('id="today-stale"')[1].split("</section>")[0]
    assert "张建国" in follow and "尚未收到证明" in follow
    assert "东风村2组 3号" in stale and "东风村1组 8号" not in stale  # just visited
    assert "红星村" not in page  # another worker's village
    with app.app_context():
        today = local_today()
    assert f"今日 · {today.year}年{today.month}月{today.day}日" in page  # the date as Chinese readers write it
    response = client.get("/today/people.json")
    assert [(p["n"], p["i"]) for p in response.get_json()["people"]] == [("张建国", "zjg")]
    again = client.get("/today/people.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""  # unchanged: nothing sent again


def test_desk_staff_get_no_people_index_and_only_writers_fetch_it_ahead(app, client):
    ids = _setup(app)
    with app.app_context():
        make_user("qiantai", "desk", [db.session.get(Area, ids["village_a"]).parent])
    login(client, "qiantai")
    assert client.get("/today/people.json").status_code == 404
    assert "/today/people.json" not in client.get("/offline-pages").get_json()["urls"]
    logout(client)
    login(client, "worker_a")
    assert "/today/people.json" in client.get("/offline-pages").get_json()["urls"]


def test_the_person_history_shows_the_change_report_that_moved_them_out(app, client):
    ids = _setup(app)
    login(client, "worker_a")
    response = _post_visit(client, ids["home"], {"form_id": "change_report", "form_version": "1",
                                                 "kind": "moved_out", "person_id": ids["head"],
                                                 "event_date": "2026-11-02", "moved_to": "县城"})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(f"/people/{ids['head']}/visits").get_data(as_text=True)
    assert "迁出" in page and "县城" in page
    changes = page.split('id="register-changes"')[1]
    assert "resident → moved_out" in changes


def test_an_admin_loads_a_new_form_version_and_old_visits_stay_readable(app, client):
    ids = _setup(app)
    login(client, "worker_a")
    _post_visit(client, ids["home"], {"form_id": "household_visit", "form_version": "1", "met": ["head"],
                                      "notes": "第一版"})
    logout(client)
    login(client, "root")
    text = (builtin_forms_path("household_visit").replace("version: 1", "version: 2")
            .replace("label: {zh: 情况记录, en: Notes}", "label: {zh: 走访记录, en: Visit notes}"))
    token = csrf_token_for(client, "/visit-forms/")
    response = client.post("/visit-forms/", data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "hv.yaml")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    same = client.post("/visit-forms/", data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "hv.yaml")},
                       content_type="multipart/form-data")
    assert same.status_code == 422 and "2" in same.get_data(as_text=True)
    broken = client.post("/visit-forms/", data={"csrf_token": token,
                                                "file": (io.BytesIO(b"form_id: x\nversion: 1\nfields:\n - {name: a, type: colour}\n"),
                                                         "x.yaml")}, content_type="multipart/form-data")
    assert broken.status_code == 422 and "colour" in broken.get_data(as_text=True)
    logout(client)
    login(client, "worker_a")
    form = client.get(f"/households/{ids['home']}/visit").get_data(as_text=True)
    assert "走访记录" in form and 'name="form_version" value="2"' in form
    history = client.get(f"/households/{ids['home']}/visits").get_data(as_text=True)
    assert "情况记录" in history and "第一版" in history  # read with version 1's own labels
    with app.app_context():
        assert db.session.scalar(sa.select(AuditEntry.entity_id).where(AuditEntry.entity == "visit_form")) == \
            "household_visit@2"


def builtin_forms_path(form_id):
    from webapp.visits.definitions import FORMS_DIR

    return (FORMS_DIR / f"{form_id}.yaml").read_text(encoding="utf-8")


TWIN_YAML = """
form_id: twin
version: 3
title: {zh: 双胞胎, en: Twin}
fields:
  - {name: info, type: note, label: {zh: 说明, en: About}}
  - {name: name, type: text, required: true, max: 20, pattern: "[A-Za-z]+", label: {zh: 名字, en: Name}, hint: {zh: 拼音, en: Pinyin}}
  - {name: age, type: integer, min: 0, max: 120, label: {zh: 年龄, en: Age}}
  - {name: weight, type: decimal, min: 0.5, max: 300, label: {zh: 体重, en: Weight}}
  - {name: seen, type: date, max: today, required: true, label: {zh: 日期, en: Date}}
  - {name: colour, type: select_one, label: {zh: 颜色, en: Colour}, choices: [{value: red, label: {zh: 红, en: Red}}, {value: blue, label: {zh: 蓝, en: Blue}}]}
  - {name: pets, type: select_many, required: true, default: "cat", label: {zh: 宠物, en: Pets}, choices: [{value: cat, label: {zh: 猫, en: Cat}}, {value: dog, label: {zh: 狗, en: Dog}}]}
  - {name: ok, type: yes_no, label: {zh: 好吗, en: OK}}
  - {name: mobile, type: phone, relevant: "${ok} = 'yes' and selected(${pets}, 'dog')", label: {zh: 手机, en: Mobile}}
"""


def _twin_workbook() -> bytes:
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::Chinese (zh)", "label::English (en)", "hint::zh", "hint::en",
                   "required", "relevant", "constraint", "default", "appearance"])
    survey.append(["note", "info", "说明", "About"])
    survey.append(["text", "name", "名字", "Name", "拼音", "Pinyin", "yes", None,
                   "string-length(.) <= 20 and regex(., '[A-Za-z]+')"])
    survey.append(["integer", "age", "年龄", "Age", None, None, None, None, ". >= 0 and . <= 120"])
    survey.append(["decimal", "weight", "体重", "Weight", None, None, None, None, ". >= 0.5 and . <= 300"])
    survey.append(["date", "seen", "日期", "Date", None, None, "yes", None, ". <= today()"])
    survey.append(["select_one colours", "colour", "颜色", "Colour"])
    survey.append(["select_multiple pets", "pets", "宠物", "Pets", None, None, "yes", None, None, "cat"])
    survey.append(["select_one yes_no", "ok", "好吗", "OK"])
    survey.append(["text", "mobile", "手机", "Mobile", None, None, None, "${ok} = 'yes' and selected(${pets}, 'dog')",
                   None, None, "phone"])
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::zh", "label::en"])
    for row in (["colours", "red", "红", "Red"], ["colours", "blue", "蓝", "Blue"], ["pets", "cat", "猫", "Cat"],
                ["pets", "dog", "狗", "Dog"], ["yes_no", "yes", "是", "Yes"], ["yes_no", "no", "否", "No"]):
        choices.append(row)
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version", "form_title::zh", "form_title::en"])
    settings.append(["twin", 3, "双胞胎", "Twin"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsform_workbook_imports_to_the_same_definition_as_its_yaml_twin():
    assert read_xlsform(_twin_workbook()) == parse_text(TWIN_YAML)


def test_an_xlsform_with_unsupported_columns_and_types_is_refused_with_each_problem_named():
    book = load_workbook(io.BytesIO(_twin_workbook()))
    survey = book["survey"]
    survey.cell(row=1, column=12, value="calculation")
    survey.append(["begin group", "g1", "组", "Group"])
    survey.append(["geopoint", "where", "位置", "Where"])
    out = io.BytesIO()
    book.save(out)
    try:
        read_xlsform(out.getvalue())
    except ValueError as exc:
        problems = exc.problems
    else:
        raise AssertionError("an unsupported workbook was imported")
    assert any("calculation" in p for p in problems)
    assert any("begin group" in p for p in problems)
    assert any("geopoint" in p for p in problems)


def test_the_supervisor_sees_visits_per_village_and_worker_and_exports_the_month_audited(app, client):
    ids = _setup(app)
    login(client, "worker_a")
    for kind, answers in (("birth", {"name": "张小明", "sex": "M", "birth_date": "2026-10-01"}),
                          ("death", {"person_id": ids["head"], "event_date": "2026-11-01"})):
        response = _post_visit(client, ids["home"], {"form_id": "change_report", "form_version": "1",
                                                     "kind": kind, **answers})
        assert response.status_code == 302, response.get_data(as_text=True)
    logout(client)
    login(client, "boss")
    with app.app_context():
        month = db.session.scalar(sa.select(Visit.visited_on)).strftime("%Y-%m")
    report = client.get("/visits/report").get_data(as_text=True)
    assert f'data-village="{ids["village_a"]}" data-count="2"' in report and "王专干" in report
    page = client.get(f"/visits/changes?month={month}").get_data(as_text=True)
    row = page.split(f'data-village="{ids["village_a"]}"')[1].split("</tr>")[0]
    assert 'data-kind="birth">1<' in row and 'data-kind="death">1<' in row and 'data-kind="moved_out">0<' in row
    exported = client.get(f"/visits/changes?month={month}&format=csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["村", "出生", "死亡"] and rows[1][:3] == ["东风村", "1", "1"]
    xlsx = client.get(f"/visits/changes?month={month}&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in sheet[2]][:3] == ["东风村", 1, 1]
    with app.app_context():
        exports = db.session.scalars(sa.select(AuditEntry.after).where(AuditEntry.action == "export")).all()
        assert [e["format"] for e in exports] == ["csv", "xlsx"]


def test_workers_do_not_see_the_supervisor_or_admin_pages(app, client):
    _setup(app)
    login(client, "worker_a")
    for url in ("/visits/report", "/visits/changes", "/visit-forms/", "/visit-forms/preview?form_id=household_visit"):
        assert client.get(url).status_code == 404, url


def test_desk_staff_see_a_follow_up_happened_but_not_its_health_answers(app, client):
    ids = _setup(app)
    with app.app_context():
        make_user("desk", "desk", ["T01"])
    login(client, "worker_a")
    response = _post_visit(client, ids["home"], {"form_id": "health_followup", "form_version": "1",
                                                 "person_id": ids["head"], "checked_elsewhere": "yes",
                                                 "checkup_date": "2026-11-01", "checkup_place": "广州市第一医院",
                                                 "certificate_received": "yes"})
    assert response.status_code == 302
    assert "广州市第一医院" in client.get(f"/people/{ids['head']}/visits").get_data(as_text=True)
    logout(client)
    login(client, "desk")
    page = client.get(f"/people/{ids['head']}/visits").get_data(as_text=True)
    assert "健康随访" in page and "广州市第一医院" not in page
    assert client.get("/today").status_code == 404
