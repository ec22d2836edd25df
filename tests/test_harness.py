"""The test harness tests itself: the selected database really is the one in use, every test
starts from empty tables, the factories build a consistent tree, and logging in works
through the real form in the test client and in Chromium."""
from __future__ import annotations

import os
from datetime import date

import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from tests.conftest import BACKEND, empty_tables
from tests.factories import make_family, make_household, make_person, make_town, make_user
from tests.helpers import browser_login, login
from webapp.extensions import db
from webapp.models import Area, Household, Person, User

COUNTED = (Area, Household, Person, User)


def _counts(session) -> dict[str, int]:
    return {m.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(m)) for m in COUNTED}


def test_the_selected_database_is_the_one_in_use(db_session):
    dialect = db_session.get_bind().dialect.name
    if BACKEND == "postgres":
        assert dialect == "postgresql"
        version = db_session.execute(sa.text("select version()")).scalar_one()
        assert "PostgreSQL" in version
        assert db_session.execute(sa.text("select current_database()")).scalar_one() == "doorstep_test"
    else:
        assert dialect == "sqlite"
        assert db_session.execute(sa.text("select sqlite_version()")).scalar_one()


@pytest.mark.postgres_only
def test_postgres_run_uses_a_throwaway_cluster(database_url):
    assert database_url.startswith("postgresql+psycopg://")
    if not os.environ.get("DOORSTEP_TEST_DATABASE_URL"):
        assert "doorstep-pg-" in database_url  # the temporary directory that stop() removes


def test_a_test_may_leave_rows_behind(db_session):
    """Runs before the next test on purpose: it leaves a full household with a head behind."""
    town = make_town("T09", villages=1, groups_per_village=1)
    make_family(town.children[0].children[0], size=3)
    make_user("leftover", "supervisor", [town])
    assert _counts(db_session)["person"] == 3


def test_every_test_starts_from_empty_tables(db_session):
    assert _counts(db_session) == {"area": 0, "household": 0, "person": 0, "user": 0}


def test_emptying_tables_copes_with_the_household_head_cycle(app):
    with app.app_context():
        town = make_town("T02", villages=1, groups_per_village=1)
        home = make_household(town.children[0].children[0])
        head = make_person(home, head=True)
        assert db.session.get(Household, home.id).head_id == head.id
    empty_tables(app)
    with app.app_context():
        assert _counts(db.session) == {"area": 0, "household": 0, "person": 0, "user": 0}


def test_factories_make_a_consistent_area_tree(db_session):
    town = make_town("T01", villages=2, groups_per_village=3, committees=1)
    villages = town.children
    assert [v.code for v in villages] == ["T01-C01", "T01-V01", "T01-V02"]
    assert {v.kind for v in villages} == {"village", "committee"}
    assert all(v.is_village for v in villages)
    for village in villages:
        assert [g.code for g in village.children] == [f"{village.code}-G0{i}" for i in (1, 2, 3)]
        assert all(g.kind == "group" and g.parent_id == village.id for g in village.children)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Area)) == 1 + 3 + 9


def test_households_and_people_carry_their_group_village_and_town(db_session):
    town = make_town("T01")
    group = town.children[1].children[0]
    home = make_family(group, size=4, enrolled=True)
    db_session.expire_all()
    home = db_session.get(Household, home.id)
    assert (home.group_id, home.village_id, home.town_id) == (group.id, group.parent_id, town.id)
    assert len(home.members) == 4
    assert home.head in home.members
    for person in home.members:
        assert (person.group_id, person.village_id, person.town_id) == (group.id, group.parent_id, town.id)
        assert person.enrolled
    assert len({p.name for p in home.members}) == 4


def test_people_get_pinyin_keys_and_valid_id_numbers(db_session):
    town = make_town("T01", villages=1, groups_per_village=1)
    home = make_household(town.children[0].children[0])
    person = make_person(home, name="张红梅", sex="F", birth_date=date(1988, 2, 29), with_id_number=True)
    assert (person.name_pinyin, person.name_initials) == ("zhanghongmei", "zhm")
    assert ric.is_valid(person.id_number)
    assert ric.get_birth_date(person.id_number) == date(1988, 2, 29)
    assert int(person.id_number[16]) % 2 == 0  # even sequence digit: a woman


def test_users_get_their_areas_and_password(db_session):
    town = make_town("T01")
    worker = make_user("wang", "worker", ["T01-V01"])
    boss = make_user("zhan", "supervisor", [town])
    db_session.expire_all()
    assert [a.code for a in db_session.get(User, worker.id).areas] == ["T01-V01"]
    assert [a.code for a in db_session.get(User, boss.id).areas] == ["T01"]
    assert worker.check_password("pw") and not worker.check_password("nope")


def test_login_helper_signs_in_through_the_form_with_its_csrf_token(app, client):
    with app.app_context():
        make_user("wang", "worker", [make_town("T01").children[0]])
    response = client.post("/login", data={"username": "wang", "password": "pw"})
    assert response.status_code == 400  # no CSRF token: refused
    login(client, "wang")
    assert client.get("/login").status_code == 302  # signed in: the login page sends you on


def test_wrong_password_does_not_sign_in(app, client):
    with app.app_context():
        make_user("wang", "worker")
    response = login(client, "wang", "wrong", expect_success=False)
    assert response.status_code == 200
    assert client.get("/login").status_code == 200


def test_chromium_signs_in_on_a_phone_sized_page(live_server, page):
    with live_server.app_context():
        make_user("wang", "worker", [make_town("T01").children[0]])
    browser_login(page, live_server.url, "wang")
    assert page.viewport_size == {"width": 360, "height": 640}
    assert page.evaluate("navigator.language") == "zh-CN"
    assert page.evaluate("typeof window.htmx") == "object", "static/vendor/htmx.min.js did not load"


def test_a_fresh_database_starts_without_tables(make_app, fresh_database_url):
    app = make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url)
    with app.app_context():
        assert sa.inspect(db.engine).get_table_names() == []
        db.create_all()
        assert "person" in sa.inspect(db.engine).get_table_names()
