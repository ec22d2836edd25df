"""The demo town: a plausible, consistent and reproducible register."""
from collections import Counter
from datetime import date

import phonenumbers
import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from webapp import create_app
from webapp.demo import build_demo, database_is_empty, demo_logins
from webapp.extensions import db
from webapp.models import Area, Household, Person, User

PEOPLE = 2000


def _built_app(path, seed):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(path)})
    with app.app_context():
        db.create_all()
        assert database_is_empty(db.session)
        logins = build_demo(db.session, seed=seed, people=PEOPLE)
        assert not database_is_empty(db.session)
    return app, logins


def _fingerprint(app):
    with app.app_context():
        rows = db.session.execute(
            sa.select(Person.id, Person.name, Person.id_number, Person.birth_date).order_by(Person.id)
        ).all()
        return [tuple(r) for r in rows]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    app, logins = _built_app(tmp_path_factory.mktemp("demo") / "t.db", seed=1)
    with app.app_context():
        yield app, logins


def test_area_tree_has_one_town_eleven_village_units_and_about_300_groups(demo):
    kinds = Counter(db.session.scalars(sa.select(Area.kind)))
    assert kinds["town"] == 1
    assert kinds["village"] + kinds["committee"] == 11 and kinds["committee"] == 1
    assert 280 <= kinds["group"] <= 320
    codes = list(db.session.scalars(sa.select(Area.code)))
    assert len(codes) == len(set(codes))
    for area in db.session.scalars(sa.select(Area).where(Area.parent_id.is_not(None))):
        assert area.code.startswith(area.parent.code) and len(area.code) == len(area.parent.code) + 3
    names = set(db.session.scalars(sa.select(Area.name).where(Area.kind == "group")))
    assert "第一村民组" in names and "第二十村民组" in names


def test_people_count_and_enrolment_are_as_requested(demo):
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Person))
    assert abs(total - PEOPLE) <= PEOPLE * 0.1
    enrolled = db.session.scalar(sa.select(sa.func.count()).where(Person.enrolled))
    assert 0.6 <= enrolled / total <= 0.73
    statuses = Counter(db.session.scalars(sa.select(Person.status)))
    assert statuses["resident"] > total * 0.7 and statuses["away"] > total * 0.05
    for person in db.session.scalars(sa.select(Person).where(Person.status == "away")):
        assert person.away_place and person.away_contact


def test_every_id_number_is_valid_unique_and_matches_birth_and_sex(demo):
    people = db.session.scalars(sa.select(Person)).all()
    numbers = [p.id_number for p in people if p.id_number]
    assert len(numbers) == len(set(numbers))
    assert len(numbers) > 0.8 * len(people)
    for p in people:
        if p.id_number:
            assert ric.is_valid(p.id_number), p.id_number
            assert p.id_number[6:14] == p.birth_date.strftime("%Y%m%d")
            assert int(p.id_number[16]) % 2 == (1 if p.sex == "M" else 0)
    adults = [p for p in people if p.age_on(date(2026, 11, 1)) >= 18]
    assert sum(1 for p in adults if p.id_number) >= 0.9 * len(adults)


def test_every_phone_is_a_valid_chinese_mobile_and_children_have_none(demo):
    people = db.session.scalars(sa.select(Person)).all()
    for p in people:
        for number in (p.phone, p.away_contact or None):
            if number:
                assert len(number) == 11
                assert phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")), number
        if p.birth_date.year > 2009:
            assert p.phone is None


def test_households_have_a_head_among_their_members_and_consistent_areas(demo):
    areas = {a.id: a for a in db.session.scalars(sa.select(Area))}
    members: dict[str, list[Person]] = {}
    for p in db.session.scalars(sa.select(Person)):
        group = areas[p.group_id]
        assert group.kind == "group"
        assert p.village_id == group.parent_id and p.town_id == areas[group.parent_id].parent_id
        members.setdefault(p.household_id, []).append(p)
    for h in db.session.scalars(sa.select(Household)):
        people = members[h.id]
        assert 1 <= len(people) <= 6
        assert h.head_id in {p.id for p in people}
        assert (h.group_id, h.village_id, h.town_id) == (people[0].group_id, people[0].village_id, people[0].town_id)
        assert h.address.startswith(areas[h.village_id].name)
        head = next(p for p in people if p.id == h.head_id)
        assert head.relation == "户主"


def test_names_have_pinyin_keys(demo):
    for name, full, initials in db.session.execute(sa.select(Person.name, Person.name_pinyin, Person.name_initials)):
        assert 2 <= len(name) <= 3 and full.isascii() and full.isalpha()
        assert len(initials) == len(name) and full.startswith(initials[0])


def test_logins_can_sign_in_with_their_areas(demo):
    _, logins = demo
    assert [x["username"] for x in logins] == ["admin", "zhanzhang", "qiantai", "cunganbu1", "cunganbu2"]
    for login in logins:
        user = db.session.scalar(sa.select(User).where(User.username == login["username"]))
        assert user.check_password(login["password"]) and user.role == login["role"]
        assert [a.code for a in user.areas] == login["areas"]
    assert demo_logins(logins[0]["password"]) == logins
    workers = [x for x in logins if x["role"] == "worker"]
    assert workers[0]["areas"] != workers[1]["areas"]


def test_same_seed_gives_the_same_town_and_another_seed_a_different_one(demo, tmp_path):
    app, _ = demo
    first = _fingerprint(app)
    again, _ = _built_app(tmp_path / "again.db", seed=1)
    other, _ = _built_app(tmp_path / "other.db", seed=2)
    assert _fingerprint(again) == first
    assert _fingerprint(other) != first
