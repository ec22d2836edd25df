"""Register import: an admin or supervisor uploads the town's spreadsheet, sees each row's
problems, skips rows, and imports the rest as one audited merge."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from tests.factories import make_household, make_id_number, make_person, make_town, make_user
from tests.helpers import login
from webapp.extensions import db
from webapp.imports.checks import check_rows
from webapp.imports.columns import COLUMNS
from webapp.imports.reader import FileProblem, read_table
from webapp.models import AuditEntry, Household, ImportDraft, Person, SyncEntity, SyncRecord, utcnow

HEADER = [c.zh for c in COLUMNS]
TODAY = date(2026, 11, 23)


def person_row(**cells) -> dict:
    """A valid row of village T01-V01, group G01, household 0101 (a head), changed by ``cells``."""
    base = {"village_code": "T01-V01", "group_code": "T01-V01-G01", "household_number": "0101",
            "address": "东风1组1号", "name": "王大山", "relation": "户主", "sex": "男",
            "birth_date": "1970-01-01", "id_number": "", "phone": "", "status": "", "away_place": "",
            "away_contact": "", "enrolled": ""}
    return {**base, **cells}


def workbook(rows: list[dict], header: list[str] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(c.key, "") for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[dict], encoding: str = "utf-8-sig") -> bytes:
    lines = [",".join(HEADER)] + [",".join(row.get(c.key, "") for c in COLUMNS) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def errors_of(rows: list[dict], user, skip=frozenset()) -> dict[int, dict[str, list[str]]]:
    table = read_table(workbook(rows), max_rows=1000)
    return check_rows(table.rows, user=user, today=TODAY, skip=skip).errors


@pytest.fixture
def town(db_session):
    town = make_town("T01", villages=2, groups_per_village=2)
    other = make_town("T02", villages=1, groups_per_village=1)
    return {"town": town, "v1": town.children[0], "v2": town.children[1], "other": other,
            "admin": make_user("admin", "admin"),
            "boss": make_user("boss", "supervisor", [town]),
            "worker": make_user("worker", "worker", [town.children[0]]),
            "desk": make_user("desk", "desk", [town])}


# -- reading files ---------------------------------------------------------------------------

def test_a_gbk_csv_from_chinese_excel_reads_like_utf8(app):
    rows = [person_row(), person_row(name="李小红", relation="配偶", sex="女", address="")]
    with app.test_request_context():
        utf8 = read_table(csv_bytes(rows), max_rows=100)
        gbk = read_table(csv_bytes(rows, "gbk"), max_rows=100)
        plain = read_table(csv_bytes(rows, "utf-8"), max_rows=100)
    assert utf8.rows == gbk.rows == plain.rows
    assert [r["cells"]["name"] for r in gbk.rows] == ["王大山", "李小红"]
    assert (utf8.encoding, gbk.encoding) == ("utf-8", "gbk")


def test_headers_may_be_english_in_any_order_and_unknown_columns_are_listed(app):
    data = ("序号,name,village code,group code,household number,address,relation to head,sex,date of birth\r\n"
            "1,王大山,T01-V01,T01-V01-G01,0101,东风1组1号,户主,男,1970/1/1\r\n").encode()
    with app.test_request_context():
        table = read_table(data, max_rows=100)
    assert table.ignored_columns == ["序号"]
    assert table.rows[0]["cells"]["name"] == "王大山" and table.rows[0]["row"] == 2


def test_a_title_row_above_the_headers_is_passed_over(app):
    book = openpyxl.Workbook()
    book.active.append(["青石镇户籍花名册"])
    book.active.append(HEADER)
    book.active.append([person_row()[c.key] for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    with app.test_request_context():
        table = read_table(out.getvalue(), max_rows=10)
    assert [r["row"] for r in table.rows] == [3] and table.rows[0]["cells"]["name"] == "王大山"


def test_a_file_without_a_required_column_is_refused_with_its_name(app):
    header = [h for h in HEADER if h != "出生日期"]
    with app.test_request_context(), pytest.raises(FileProblem, match="出生日期"):
        read_table(workbook([person_row()], header), max_rows=100)


def test_an_old_xls_file_and_binary_junk_are_refused_clearly(app):
    with app.test_request_context():
        with pytest.raises(FileProblem, match=r"\.xls"):
            read_table(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, max_rows=100)
        with pytest.raises(FileProblem, match="CSV"):
            read_table(b"\x00\x01\x02junk", max_rows=100)
        with pytest.raises(FileProblem):
            read_table(b"PK\x03\x04 not really a zip", max_rows=100)


def test_too_many_rows_are_refused(app):
    with app.test_request_context(), pytest.raises(FileProblem, match="3"):
        read_table(workbook([person_row(household_number=str(n)) for n in range(4)]), max_rows=3)


# -- judging rows, one error kind at a time ----------------------------------------------------

def test_a_valid_household_has_no_errors(town):
    head_id = make_id_number(date(1970, 1, 1), "M", serial=11)
    rows = [person_row(id_number=head_id, phone="138 1234 5678", enrolled="是"),
            person_row(name="李小红", relation="配偶", sex="女", birth_date="1972年3月4日", address="",
                       status="外出", away_place="广东省东莞市")]
    assert errors_of(rows, town["admin"]) == {}


def test_a_wrong_id_check_digit_is_an_error_of_its_row(town):
    good = make_id_number(date(1970, 1, 1), "M", serial=12)
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")
    errors = errors_of([person_row(id_number=bad)], town["admin"])
    assert list(errors) == [2] and "last digit" in errors[2]["id_number"][0]


def test_an_id_number_stored_as_a_number_by_excel_is_explained(town):
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    row = person_row()
    book.active.append([110101197001010111 if c.key == "id_number" else row[c.key] for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    table = read_table(out.getvalue(), max_rows=10)
    errors = check_rows(table.rows, user=town["admin"], today=TODAY).errors
    assert "format the column as text" in errors[2]["id_number"][0].lower()


def test_unknown_village_and_unknown_group_are_errors(town):
    rows = [person_row(village_code="NOPE"),
            person_row(household_number="2", group_code="T01-V02-G01")]  # a group of another village
    errors = errors_of(rows, town["admin"])
    assert "village" in errors[2]["village_code"][0]
    assert "no group" in errors[3]["group_code"][0]


def test_a_group_may_be_given_by_the_part_after_the_village_code(town):
    assert errors_of([person_row(group_code="-G02")], town["admin"]) == {}


def test_a_supervisor_cannot_import_into_another_town(town):
    rows = [person_row(village_code="T02-V01", group_code="T02-V01-G01")]
    assert errors_of(rows, town["admin"]) == {}
    errors = errors_of(rows, town["boss"])
    assert "among your villages" in errors[2]["village_code"][0]


def test_the_same_id_number_twice_in_the_file_marks_both_rows(town):
    number = make_id_number(date(1970, 1, 1), "M", serial=13)
    rows = [person_row(id_number=number), person_row(household_number="2", id_number=number)]
    errors = errors_of(rows, town["admin"])
    assert errors[2]["id_number"] == ["The same ID number is also in row 3."]
    assert errors[3]["id_number"] == ["The same ID number is also in row 2."]
    assert errors_of(rows, town["admin"], skip=frozenset({3})) == {}


def test_an_id_number_already_in_the_register_is_an_error(town):
    number = make_id_number(date(1970, 1, 1), "M", serial=14)
    make_person(make_household(town["v2"].children[0]), birth_date=date(1970, 1, 1), sex="M", id_number=number)
    errors = errors_of([person_row(id_number=number)], town["admin"])
    assert "already registered" in errors[2]["id_number"][0]


def test_impossible_and_future_dates_are_errors(town):
    rows = [person_row(birth_date="1990-02-30"), person_row(household_number="2", birth_date="2099-01-01"),
            person_row(household_number="3", birth_date="sometime")]
    errors = errors_of(rows, town["admin"])
    assert "not a valid date" in errors[2]["birth_date"][0]
    assert "future" in errors[3]["birth_date"][0]
    assert "not a valid date" in errors[4]["birth_date"][0]


def test_missing_required_fields_are_errors(town):
    errors = errors_of([person_row(name="", sex="", household_number="")], town["admin"])
    assert set(errors[2]) == {"name", "sex", "household_number"}


def test_a_bad_phone_is_an_error(town):
    errors = errors_of([person_row(phone="12012345678")], town["admin"])
    assert "mobile number" in errors[2]["phone"][0]


def test_a_household_needs_one_head_one_address_and_a_new_number(town):
    make_household(town["v1"].children[0], number="0101")
    rows = [person_row(household_number="0101"),
            person_row(household_number="7", relation="子"),
            person_row(household_number="8"), person_row(household_number="8", name="王二山", address="别处"),
            person_row(household_number="9", address=""),
            person_row(household_number="10"), person_row(household_number="10", name="王小山")]
    errors = errors_of(rows, town["admin"])
    assert "already in the register" in errors[2]["household_number"][0]
    assert "no head" in errors[3]["relation"][0]
    assert "another address in row 4" in errors[5]["address"][0]
    assert "at least one of its rows" in errors[6]["address"][0]
    assert "already has a head in row 7" in errors[8]["relation"][0]
    assert 4 not in errors and 7 not in errors


def test_skipping_the_head_leaves_the_rest_of_the_household_in_error(town):
    rows = [person_row(), person_row(name="王小山", relation="子", address="")]
    assert errors_of(rows, town["admin"]) == {}
    errors = errors_of(rows, town["admin"], skip=frozenset({2}))
    assert list(errors) == [3] and "no head" in errors[3]["relation"][0]


def test_unknown_words_in_choice_columns_are_errors(town):
    errors = errors_of([person_row(status="出差", enrolled="maybe", sex="x")], town["admin"])
    assert set(errors[2]) == {"status", "enrolled", "sex"}


# -- the pages -------------------------------------------------------------------------------

def sign_in(client, username: str) -> None:
    """Log in and read the pages in English (the app's default is Chinese)."""
    login(client, username)
    with client.session_transaction() as session:
        session["lang"] = "en"


def upload(client, data: bytes, filename: str = "register.xlsx"):
    page = client.get("/imports/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/imports/", data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def post_preview(client, location: str, **form):
    """Submit the preview's form like a browser: rows ticked on the page are sent unless ``skip`` is given."""
    page = client.get(location).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ticked = re.findall(r'name="skip" value="(\d+)" checked', page)
    shown = re.search(r'name="shown" value="([^"]*)"', page).group(1)
    return client.post(location, data={"csrf_token": token, "skip": ticked, "shown": shown, **form})


def file_with_errors() -> bytes:
    return workbook([
        person_row(id_number=make_id_number(date(1970, 1, 1), "M", serial=21), phone="13812345678"),
        person_row(name="李小红", relation="配偶", sex="女", birth_date="1972-03-04", address=""),
        person_row(household_number="0102", name="张三", birth_date="1990-02-30"),
        person_row(household_number="0103", name="赵四", phone="12345", address="东风1组3号"),
    ])


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def register_audits() -> int:
    """Audit entries other than the logins of the test."""
    return db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action != "login"))


def test_upload_preview_skip_and_confirm_imports_in_one_audited_merge(client, town):
    sign_in(client, "admin")
    response = upload(client, file_with_errors())
    assert response.status_code == 302
    location = response.headers["Location"]
    preview = client.get(location)
    assert "no-store" in preview.headers["Cache-Control"]  # not kept by the browser or the service worker
    page = preview.get_data(as_text=True)
    assert "Rows with errors: 2" in page and 'id="row-4"' in page and 'id="row-5"' in page
    assert "This is not a valid date." in page and "not a valid mobile number" in page
    assert "2107" not in page  # the ID number of row 2 is not on the page in full

    # Importing with errors left is refused, and nothing is written.
    refused = post_preview(client, location, action="import")
    assert refused.status_code == 422 and count(Person) == 0

    done = post_preview(client, location, action="import", skip=["4", "5"])
    assert done.status_code == 302
    db.session.expire_all()
    people = db.session.scalars(sa.select(Person).order_by(Person.name)).all()
    assert [p.name for p in people] == ["李小红", "王大山"]
    household = db.session.scalars(sa.select(Household)).one()
    assert household.head.name == "王大山" and household.number == "0101" and household.address == "东风1组1号"
    assert {p.village_id for p in people} == {town["v1"].id}
    imports = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "import")).all()
    assert len(imports) == 1
    assert imports[0].after["people"] == 2 and imports[0].after["skipped_rows"] == [4, 5]
    creates = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "create")).all()
    assert sorted(a.entity for a in creates) == ["household", "person", "person"]
    # Sync state, so the rows reach the village's phones by pull.
    assert count(SyncEntity) == 3 and count(SyncRecord) == 3
    assert count(ImportDraft) == 0
    assert client.get(location).status_code == 404


def test_skip_all_rows_with_errors_then_import(client, town):
    sign_in(client, "boss")
    location = upload(client, file_with_errors()).headers["Location"]
    page = post_preview(client, location, action="skip_errors").get_data(as_text=True)
    assert "Rows with errors: 0" in page and "Rows skipped: 2" in page
    assert post_preview(client, location, action="import").status_code == 302
    assert count(Person) == 2


def test_rows_skipped_beyond_the_listed_ones_stay_skipped(make_app, town):
    app = make_app(IMPORT_PREVIEW_ERROR_ROWS=1)
    client = app.test_client()
    sign_in(client, "admin")
    location = upload(client, file_with_errors()).headers["Location"]
    page = post_preview(client, location, action="skip_errors").get_data(as_text=True)
    assert page.count('name="skip"') == 1 and "1 more rows with errors are not listed." in page
    assert post_preview(client, location, action="import").status_code == 302
    assert count(Person) == 2


def test_unticking_a_skipped_row_brings_its_errors_back(client, town):
    sign_in(client, "admin")
    location = upload(client, file_with_errors()).headers["Location"]
    post_preview(client, location, action="skip_errors")
    page = post_preview(client, location, action="recheck", skip=["5"]).get_data(as_text=True)
    assert "Rows with errors: 1" in page and "Rows skipped: 1" in page
    assert post_preview(client, location, action="import", skip=["5"]).status_code == 422
    assert count(Person) == 0


def test_cancel_writes_nothing(client, town):
    sign_in(client, "admin")
    location = upload(client, file_with_errors()).headers["Location"]
    response = post_preview(client, location, action="cancel")
    assert response.status_code == 302
    assert count(Person) == count(Household) == count(SyncRecord) == count(ImportDraft) == 0
    assert register_audits() == 0


def test_a_merge_time_rejection_rolls_back_the_whole_import(client, town, monkeypatch):
    """A rule only the merge knows (here: a stand-in refusing one name) rejects one record:
    the households and people accepted before it are not written either."""
    from webapp.register.sync_rules import RegisterRules

    original = RegisterRules.person_valid

    def refuse_one(self, values, entity_id, context):
        if values.get("name") == "李小红":
            return {"name": ["Refused by the merge."]}
        return original(self, values, entity_id, context)

    monkeypatch.setattr(RegisterRules, "person_valid", refuse_one)
    sign_in(client, "admin")
    rows = [person_row(), person_row(name="李小红", relation="配偶", sex="女", address=""),
            person_row(household_number="0102", name="张三")]
    location = upload(client, workbook(rows)).headers["Location"]
    response = post_preview(client, location, action="import")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nothing was imported" in page and 'id="row-3"' in page and "Refused by the merge." in page
    assert count(Person) == count(Household) == count(SyncRecord) == count(SyncEntity) == 0
    assert register_audits() == 0
    assert count(ImportDraft) == 1  # the file is still there to skip the row or re-upload


def test_a_second_confirmation_of_the_same_file_imports_nothing_more(client, town, monkeypatch):
    """Two confirmations race (double click, two tabs): the first commits and deletes the draft
    while the second is judged; the second finds no draft to delete and rolls back whole."""
    from webapp.imports import service

    merge = service.merge_all_or_nothing

    def first_one_wins(*args, **kwargs):
        db.session.execute(sa.delete(ImportDraft))  # what the first request's commit did
        db.session.commit()
        return merge(*args, **kwargs)

    sign_in(client, "admin")
    location = upload(client, workbook([person_row()])).headers["Location"]
    monkeypatch.setattr(service, "merge_all_or_nothing", first_one_wins)
    response = post_preview(client, location, action="import")
    assert response.status_code == 302
    assert count(Person) == count(Household) == count(SyncRecord) == register_audits() == 0


def test_a_file_over_the_size_limit_is_refused_with_a_clear_error(make_app, town):
    app = make_app(IMPORT_MAX_BYTES=2000)
    client = app.test_client()
    sign_in(client, "admin")
    response = upload(client, b"x" * 3000, "big.csv")
    assert response.status_code == 413
    assert "larger than" in response.get_data(as_text=True)
    assert count(ImportDraft) == 0
    # Far over the limit: refused before the body is read (the CSRF check would read it first).
    response = upload(client, b"x" * 200_000, "huge.csv")
    assert response.status_code == 413 and "larger than" in response.get_data(as_text=True)


def test_an_unreadable_file_is_explained_on_the_upload_page(client, town):
    sign_in(client, "admin")
    response = upload(client, b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "old.xls")
    assert response.status_code == 422 and ".xlsx" in response.get_data(as_text=True)


@pytest.mark.parametrize("username", ["worker", "desk"])
def test_workers_and_desk_staff_have_no_import(client, town, username):
    login(client, username)
    assert client.get("/imports/").status_code == 404
    assert "/imports/" not in client.get("/").get_data(as_text=True)


def test_a_draft_is_only_visible_to_its_uploader(app, town):
    admin, boss = app.test_client(), app.test_client()
    sign_in(admin, "admin")
    sign_in(boss, "boss")
    location = upload(admin, file_with_errors()).headers["Location"]
    assert boss.get(location).status_code == 404
    assert admin.get(location).status_code == 200


def test_the_templates_import_cleanly(client, town):
    """The example rows of the downloaded templates are a valid household of the user's town."""
    sign_in(client, "boss")
    xlsx = client.get("/imports/template.xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert book.sheetnames == ["人员", "说明", "区划代码"]
    assert [c.value for c in book["人员"][1]] == HEADER
    assert ["T01-V01", "东风村", "T01-V01-G01", "东风村1组"] in [[c.value for c in r] for r in book["区划代码"]]
    assert not any(r[0].value == "T02-V01" for r in book["区划代码"].iter_rows(min_row=2))
    location = upload(client, xlsx.data).headers["Location"]
    assert "Rows with errors: 0" in client.get(location).get_data(as_text=True)
    csv_file = client.get("/imports/template.csv")
    assert csv_file.data.startswith("\ufeff".encode())
    location = upload(client, csv_file.data, "t.csv").headers["Location"]
    assert "Rows with errors: 0" in client.get(location).get_data(as_text=True)
    assert post_preview(client, location, action="import").status_code == 302
    assert count(Person) == 2


def test_people_already_in_the_register_stay_as_they_are(client, town):
    home = make_household(town["v1"].children[0], number="0900")
    kept = make_person(home, name="老住户", head=True)
    sign_in(client, "admin")
    location = upload(client, workbook([person_row()])).headers["Location"]
    assert post_preview(client, location, action="import").status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, kept.id).name == "老住户" and count(Person) == 2


def test_an_id_number_in_the_register_is_found_whatever_the_case_of_its_x(town):
    number = next(n for n in (make_id_number(date(1970, 1, 1), "M", serial=s) for s in range(400))
                  if n.endswith("X"))
    make_person(make_household(town["v2"].children[0]), birth_date=date(1970, 1, 1), sex="M", id_number=number)
    errors = errors_of([person_row(id_number=number.lower())], town["admin"])
    assert "already registered" in errors[2]["id_number"][0]


def test_an_expired_preview_is_gone_and_cleared_at_the_next_upload(client, town):
    sign_in(client, "admin")
    location = upload(client, file_with_errors()).headers["Location"]
    db.session.execute(sa.update(ImportDraft).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert client.get(location).status_code == 404
    upload(client, file_with_errors())
    assert count(ImportDraft) == 1  # the expired one was deleted, the new one kept
