"""The village register as a worker, a supervisor and the station desk see it."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_household, make_id_number, make_person, make_town, make_user
from webapp.models import AuditEntry, Household, Person


def log_in(client, user):
    with client.session_transaction() as s:
        s["_user_id"] = user.id
        s["_fresh"] = True


@pytest.fixture
def app(make_app):
    # These tests post forms directly; the CSRF token round trip is covered by test_auth.
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.fixture
def tree(db_session):
    """Town T01 with two villages of two groups; one family in each village."""
    town = make_town("T01", villages=2, groups_per_village=2)
    v1, v2 = town.children
    home = make_household(v1.children[0], address="东风1组8号", number="0008")
    mei = make_person(home, name="张红梅", head=True, sex="F", birth_date=date(1980, 5, 2),
                      id_number=make_id_number(date(1980, 5, 2), "F", serial=61), phone="13812345678",
                      enrolled=True)
    son = make_person(home, name="张明", sex="M", birth_date=date(2005, 3, 9), relation="子")
    other = make_household(v2.children[0], address="红星1组3号")
    stranger = make_person(other, name="李建国", head=True, sex="M", birth_date=date(1970, 1, 1),
                           id_number=make_id_number(date(1970, 1, 1), "M", serial=7), phone="13900001111")
    return {
        "town": town, "v1": v1, "v2": v2, "home": home, "mei": mei, "son": son,
        "other": other, "stranger": stranger,
        "worker": make_user("worker", "worker", [v1]),
        "supervisor": make_user("boss", "supervisor", [town]),
        "desk": make_user("desk", "desk", [town]),
    }


def text(response) -> str:
    return response.get_data(as_text=True)


def person_form(person, **changes) -> dict:
    data = {
        "name": person.name, "sex": person.sex, "birth_date": person.birth_date.isoformat(),
        "id_number": person.id_number or "", "phone": person.phone or "", "relation": person.relation,
        "status": person.status, "away_place": person.away_place, "away_contact": person.away_contact,
    }
    if person.enrolled:
        data["enrolled"] = "1"
    data.update(changes)
    return data


def audit_count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


def reload(session, model, obj_id):
    session.expire_all()
    return session.get(model, obj_id)


# -- seeing the register -------------------------------------------------------------------------

def test_register_needs_login(client, tree):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_worker_sees_own_village_with_counts(client, tree):
    log_in(client, tree["worker"])
    page = text(client.get("/"))
    assert tree["v1"].name in page and tree["v2"].name not in page
    assert "1 户 · 2 人 · 登记查体 1 人" in page
    assert '<html lang="zh-CN">' in page and "入户通" in page


def test_supervisor_sees_every_village_of_the_town(client, tree):
    log_in(client, tree["supervisor"])
    page = text(client.get("/"))
    assert tree["v1"].name in page and tree["v2"].name in page


def test_worker_gets_404_outside_own_village(client, tree):
    log_in(client, tree["worker"])
    assert client.get(f"/households/{tree['other'].id}").status_code == 404
    assert client.get(f"/people/{tree['stranger'].id}").status_code == 404
    assert client.get(f"/people/{tree['stranger'].id}/edit").status_code == 404
    assert client.get(f"/villages/{tree['v2'].id}").status_code == 404
    assert client.get(f"/groups/{tree['v2'].children[0].id}").status_code == 404
    response = client.post(f"/people/{tree['stranger'].id}/edit", data=person_form(tree["stranger"], name="X"))
    assert response.status_code == 404
    assert "不在您负责的范围内" in text(client.get("/people/no-such-id"))


def test_walk_from_village_to_person(client, tree):
    log_in(client, tree["worker"])
    group = tree["v1"].children[0]
    assert group.name in text(client.get(f"/villages/{tree['v1'].id}"))
    group_page = text(client.get(f"/groups/{group.id}"))
    assert "东风1组8号" in group_page and "张红梅" in group_page and "2 人" in group_page
    household_page = text(client.get(f"/households/{tree['home'].id}"))
    assert "张明" in household_page and "添加人员" in household_page


def test_lists_mask_numbers_and_card_shows_them_to_workers(client, tree):
    log_in(client, tree["worker"])
    mei = tree["mei"]
    household_page = text(client.get(f"/households/{tree['home'].id}"))
    assert mei.id_number not in household_page and "138****5678" in household_page
    assert mei.id_number[:4] + "*" * 10 + mei.id_number[-4:] in household_page
    card = text(client.get(f"/people/{mei.id}"))
    assert mei.id_number in card and "13812345678" in card


def test_desk_sees_masked_card_and_cannot_edit(client, tree):
    log_in(client, tree["desk"])
    mei = tree["mei"]
    card = text(client.get(f"/people/{mei.id}"))
    assert mei.id_number not in card and "138****5678" in card
    assert f"/people/{mei.id}/edit" not in card
    response = client.post(f"/people/{mei.id}/edit", data=person_form(mei, name="王芳"))
    assert response.status_code == 403 and "只能查看" in text(response)
    assert client.get(f"/groups/{tree['v1'].children[0].id}/households/new").status_code == 403


def test_the_frames_for_a_household_made_offline_need_login_and_hold_no_register_data(client, tree):
    """One kept copy serves every household made on the phone, so it must name none of them."""
    assert client.get("/households/unsynced").status_code == 302
    log_in(client, tree["worker"])
    frame = text(client.get("/households/unsynced"))
    form = client.get("/households/unsynced/people/new")
    assert form.status_code == 200
    assert "data-unsynced-frame" in frame and 'data-unsynced-household' in text(form)
    assert 'name="household_id" value=""' in text(form)
    for page in (frame, text(form)):
        assert tree["home"].address not in page and tree["mei"].name not in page
    # Without JavaScript nothing can be posted for a household the server does not know.
    assert client.post("/households/unsynced/people/new", data={}).status_code == 404


def test_group_pages_its_households(make_app, db_session):
    app = make_app(WTF_CSRF_ENABLED=False, PAGE_SIZE=3)
    town = make_town("T09", villages=1, groups_per_village=1)
    group = town.children[0].children[0]
    for i in range(7):
        make_household(group, number=f"{i:04d}", address=f"门牌{i}号", commit=False)
    db_session.commit()
    client = app.test_client()
    log_in(client, make_user("w9", "worker", [town.children[0]]))
    first = text(client.get(f"/groups/{group.id}"))
    assert "门牌0号" in first and "门牌3号" not in first and "第 1 页，共 3 页" in first
    last = text(client.get(f"/groups/{group.id}?page=3"))
    assert "门牌6号" in last and "门牌0号" not in last


# -- search ----------------------------------------------------------------------------------------

def test_search_by_pinyin_initials_ranks_exact_first(client, tree, db_session):
    make_person(tree["home"], name="张红", birth_date=date(2010, 1, 1))
    log_in(client, tree["worker"])
    page = text(client.get("/search?q=zh"))
    assert page.index("张红<") < page.index("张红梅") < page.index("张明")  # initials zh, then zhm, then pinyin zhang…
    assert "李建国" not in page  # other village


def test_search_by_initials_and_full_pinyin(client, tree):
    log_in(client, tree["worker"])
    assert "张红梅" in text(client.get("/search?q=ZHM"))
    assert "张红梅" in text(client.get("/search?q=zhanghong"))
    assert "张明" not in text(client.get("/search?q=zhm"))
    assert "张红梅" in text(client.get("/search?q=红梅"))


def test_search_by_id_tail_and_phone_tail(client, tree):
    log_in(client, tree["worker"])
    tail = tree["mei"].id_number[-4:]
    assert "张红梅" in text(client.get(f"/search?q={tail.lower()}"))
    assert "张红梅" in text(client.get("/search?q=5678"))
    assert "张红梅" in text(client.get("/search?q=1381234"))
    assert "李建国" not in text(client.get("/search?q=1111"))  # exists, but in another village


def test_search_returns_only_results_for_htmx(client, tree):
    log_in(client, tree["worker"])
    fragment = text(client.get("/search?q=zhm", headers={"HX-Request": "true"}))
    assert "张红梅" in fragment and "<html" not in fragment
    full = text(client.get("/search?q=zhm"))
    assert "<html" in full and 'hx-trigger="keyup changed delay:200ms, search"' in full


# -- editing a person ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"phone": "12345"}, "phone", "手机号不对"),
        ({"id_number": "%BAD_CHECK%"}, "id_number", "请检查最后一位"),
        ({"birth_date": (date.today() + timedelta(days=2)).isoformat()}, "birth_date", "不能晚于今天"),
        ({"name": "   "}, "name", "请填写姓名"),
        ({"birth_date": "1980-05-03"}, "id_number", "第 7 到 14 位"),
        ({"status": "away", "away_place": ""}, "away_place", "打工或居住"),
    ],
)
def test_bad_person_edit_shows_field_error_and_saves_nothing(client, tree, db_session, changes, field, message):
    mei = tree["mei"]
    if changes.get("id_number") == "%BAD_CHECK%":
        last = mei.id_number[-1]
        changes = {"id_number": mei.id_number[:-1] + ("0" if last != "0" else "1")}
    before_audit = audit_count(db_session)
    log_in(client, tree["worker"])
    response = client.post(f"/people/{mei.id}/edit", data=person_form(mei, **changes))
    page = text(response)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page and message in page
    for value in changes.values():  # what the user typed is kept
        if value.strip():
            assert f'value="{value}"' in page
    saved = reload(db_session, Person, mei.id)
    assert saved.version == 1 and saved.phone == "13812345678" and saved.name == "张红梅"
    assert audit_count(db_session) == before_audit


def test_duplicate_id_number_in_the_town_is_refused_without_saying_who(client, tree, db_session):
    son = tree["son"]
    log_in(client, tree["worker"])
    response = client.post(f"/people/{son.id}/edit",
                           data=person_form(son, birth_date="1970-01-01", id_number=tree["stranger"].id_number))
    page = text(response)
    assert response.status_code == 422
    assert "本镇已经有人登记了这个身份证号" in page and "李建国" not in page
    assert reload(db_session, Person, son.id).id_number is None


def test_errors_are_in_english_for_english_users(client, tree):
    log_in(client, tree["worker"])
    with client.session_transaction() as s:
        s["lang"] = "en"
    page = text(client.post(f"/people/{tree['mei'].id}/edit", data=person_form(tree["mei"], phone="999")))
    assert "This is not a valid mobile number" in page and '<html lang="en">' in page


def test_good_person_edit_saves_bumps_version_and_audits(client, tree, db_session):
    mei = tree["mei"]
    before_audit = audit_count(db_session)
    log_in(client, tree["worker"])
    response = client.post(
        f"/people/{mei.id}/edit",
        data=person_form(mei, name="王芳", phone="139 1234 5678", id_number=mei.id_number[:-1] + mei.id_number[-1].lower(),
                         status="away", away_place="广东省东莞市"),
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/people/{mei.id}")
    assert "已保存" in text(client.get(response.headers["Location"]))
    saved = reload(db_session, Person, mei.id)
    assert (saved.name, saved.phone, saved.status, saved.away_place) == ("王芳", "13912345678", "away", "广东省东莞市")
    assert (saved.name_pinyin, saved.name_initials) == ("wangfang", "wf")
    assert saved.version == 2 and saved.enrolled is True
    entry = db_session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert audit_count(db_session) == before_audit + 1
    assert (entry.action, entry.entity, entry.entity_id, entry.user_id) == ("update", "person", mei.id,
                                                                            tree["worker"].id)
    assert entry.before["name"] == "张红梅" and entry.after["name"] == "王芳"


def test_unticking_enrolled_saves_false(client, tree, db_session):
    mei = tree["mei"]
    log_in(client, tree["worker"])
    data = person_form(mei)
    data.pop("enrolled")
    assert client.post(f"/people/{mei.id}/edit", data=data).status_code == 302
    assert reload(db_session, Person, mei.id).enrolled is False


# -- new households and people ---------------------------------------------------------------------

def test_new_household_then_its_head(client, tree, db_session):
    group = tree["v1"].children[1]
    log_in(client, tree["worker"])
    form = text(client.get(f"/groups/{group.id}/households/new"))
    assert 'name="csrf_token"' in form and "required" in form
    response = client.post(f"/groups/{group.id}/households/new",
                           data={"address": "东风2组1号", "number": "0101", "group_id": group.id})
    assert response.status_code == 302
    household = db_session.scalars(sa.select(Household).where(Household.address == "东风2组1号")).one()
    assert (household.group_id, household.village_id, household.town_id) == (group.id, tree["v1"].id,
                                                                             tree["town"].id)
    new_person = text(client.get(f"/households/{household.id}/people/new"))
    assert 'pattern="\\d{17}[\\dXx]"' in new_person and 'pattern="1\\d{10}"' in new_person
    assert f'max="{date.today().isoformat()}"' in new_person or 'type="date"' in new_person
    response = client.post(f"/households/{household.id}/people/new", data={
        "name": "赵刚", "sex": "M", "birth_date": "1985-07-09", "relation": "户主", "status": "resident",
        "id_number": make_id_number(date(1985, 7, 9), "M", serial=33), "phone": "", "enrolled": "1"})
    assert response.status_code == 302
    person = db_session.scalars(sa.select(Person).where(Person.name == "赵刚")).one()
    assert (person.village_id, person.town_id, person.name_initials, person.version) == (
        tree["v1"].id, tree["town"].id, "zg", 1)
    assert reload(db_session, Household, household.id).head_id == person.id
    actions = db_session.scalars(sa.select(AuditEntry.entity + ":" + AuditEntry.action)).all()
    assert {"household:create", "person:create", "household:update"} <= set(actions)


def test_household_cannot_move_to_another_village(client, tree, db_session):
    log_in(client, tree["supervisor"])
    home = tree["home"]
    response = client.post(f"/households/{home.id}/edit",
                           data={"address": "x", "number": "", "group_id": tree["v2"].children[0].id})
    assert response.status_code == 422 and "请选择本村的一个村民组" in text(response)
    assert reload(db_session, Household, home.id).version == 1


def test_moving_a_household_moves_its_members(client, tree, db_session):
    log_in(client, tree["worker"])
    home, target = tree["home"], tree["v1"].children[1]
    response = client.post(f"/households/{home.id}/edit",
                           data={"address": "东风2组8号", "number": "0008", "group_id": target.id})
    assert response.status_code == 302
    assert reload(db_session, Household, home.id).version == 2
    assert reload(db_session, Person, tree["son"].id).group_id == target.id
