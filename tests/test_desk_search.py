"""The desk finds the right person first, on the server and in the desk's cached roster alike.

Names sharing initials (张红梅 / 章宏敏 / 赵慧明 / 周海明 all are "zhm"), a shorter name whose
initials are a prefix of theirs (张红 "zh"), ID tails, phone tails, a slip code, a scanned slip.
The same cases run through webapp/desk/queries.search and through static/js/desk-search.js in
Chromium on the roster payload the desk keeps: both must give the expected person first and
the same order.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.checkup_helpers import schedule
from tests.factories import make_household, make_id_number, make_person, make_town, make_user
from webapp.desk import queries
from webapp.extensions import db
from webapp.models import User

ROOT = Path(__file__).resolve().parent.parent

PEOPLE = [  # name, ID number, phone, enrolled
    ("张红梅", "110101199005171234", "13800001111", True),
    ("章宏敏", "110101198803025678", "13900002222", True),
    ("赵慧明", "11010119751109345X", "13700003333", True),
    ("周海明", "110101196601018765", "15800004444", True),
    ("张红", "110101200102029876", "18600005555", True),
    ("张宏兵", "110101199901014321", "13600006666", False),  # in the village, not invited
]

# query → the name that must come first
CASES = {
    "zh": "张红",  # exact initials before the zhm names whose initials only start with zh
    "zhanghongmi": "章宏敏",  # partial pinyin
    "zhanghongme": "张红梅",
    "zhaoh": "赵慧明",
    "zhou hai": "周海明",  # spaces typed between syllables
    "ZHM": "张红梅",  # four exact initials: alphabetical by pinyin
    "zhb": "张宏兵",
    "zhangh": "张红",  # six letters, shaped like a slip code: still pinyin  # found for a walk-in, though not invited
    "1234": "张红梅",  # ID tail
    "345x": "赵慧明",  # ID tail ending in X, typed in lower case
    "678": None,  # too short for an ID tail or a phone number's start or end
    "1380000": "张红梅",  # a phone number typed from its start
    "0000": None,  # digits from the middle of a number are not searched
    "8765": "周海明",
    "2222": "章宏敏",  # phone ending
    "00005555": "张红",
    "红梅": "张红梅",  # Chinese characters
    "张红": "张红",  # exact name before longer names starting with it
    "海": "周海明",
    "１２３４": "张红梅",  # full-width digits from a zh-CN keyboard
    "ｚｈ": "张红",  # full-width letters
}


@pytest.fixture
def desk_day(app):
    with app.app_context():
        town = make_town("T01", villages=2)
        village, other = town.children
        home = make_household(village.children[0])
        for name, id_number, phone, enrolled in PEOPLE:
            make_person(home, name=name, id_number=id_number, phone=phone, enrolled=enrolled)
        # Someone of another village with the same initials: not covered by the day.
        make_person(make_household(other.children[0]), name="张华明", id_number="110101199001011234",
                    phone="13800001111", enrolled=True)
        make_user("boss", "supervisor", [town])
        make_user("qiantai", "desk", [town])
        day = schedule(town, date(2026, 12, 1), areas=[village])
        return day.id


def _user(name):
    return db.session.scalar(sa.select(User).where(User.username == name))


def _server_order(day, q):
    return [p["n"] for p in queries.search(day, _user("qiantai"), q)]


def test_each_kind_of_query_finds_the_expected_person_first_on_the_server(app, desk_day):
    from webapp.checkups.models import CheckupDay

    with app.app_context():
        day = db.session.get(CheckupDay, desk_day)
        for q, expected in CASES.items():
            order = _server_order(day, q)
            if expected is None:
                assert order == [], q
            else:
                assert order and order[0] == expected, (q, order)
        assert set(_server_order(day, "zhm")[:4]) == {"张红梅", "章宏敏", "赵慧明", "周海明"}
        assert "张华明" not in _server_order(day, "zhm")  # another village: not this day's
        invited = {inv.person.name: inv for inv in day.invitations}
        assert _server_order(day, invited["章宏敏"].code.lower()) == ["章宏敏"]
        assert _server_order(day, "DS1:" + invited["周海明"].token) == ["周海明"]
        assert _server_order(day, "DS1:" + "x" * 22) == []
        [walk_in] = [p for p in queries.search(day, _user("qiantai"), "zhb")]
        assert walk_in["inv"] is None and walk_in["code"] == ""


@pytest.mark.browser
def test_the_desk_device_ranks_its_cached_roster_like_the_server(app, desk_day, browser):
    from webapp.checkups.models import CheckupDay

    with app.app_context():
        day = db.session.get(CheckupDay, desk_day)
        user = _user("qiantai")
        roster = queries.roster_payload(day, user)
        invited = {inv.person.name: inv for inv in day.invitations}
        cases = dict(CASES)
        cases["zhm"] = None
        cases[invited["章宏敏"].code.lower()] = "章宏敏"
        cases["DS1:" + invited["周海明"].token] = "周海明"
        expected_orders = {q: _server_order(day, q) for q in cases}
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=(ROOT / "static/js/desk-search.js").read_text(encoding="utf-8"))
        orders = page.evaluate(
            "([people, queries]) => Object.fromEntries(queries.map((q) => "
            "[q, DeskSearch.search(people, q).map((hit) => hit.p.n)]))",
            [roster, list(cases)])
    finally:
        context.close()
    for q, expected in cases.items():
        assert orders[q] == expected_orders[q], q
        if expected is not None:
            assert orders[q][0] == expected, (q, orders[q])
    assert {p["n"] for p in roster} == {name for name, *_ in PEOPLE}
    assert all("110101" not in p["idm"][4:] for p in roster)  # masked, only the tail kept


ROW = ("key", "pinyin", "name", "person_id", "village_id", "group_id", "status")


def _keys_in_table() -> set[tuple]:
    from webapp.desk.search_index import DeskSearchKey

    return {tuple(row) for row in db.session.execute(sa.select(*(getattr(DeskSearchKey, c) for c in ROW)))}


def _keys_wanted() -> set[tuple]:
    from webapp.desk.search_index import person_keys
    from webapp.models import Person

    return {tuple(row[c] for c in ROW) for p in db.session.scalars(sa.select(Person)) for row in person_keys(p)}


def test_the_search_keys_follow_people_added_and_edited_through_sync(app, client):
    """The server search reads keys, not people: a phone changed on a worker's phone is found by its
    new digits at once, and no longer by the old ones; a new person is found by every kind of key."""
    from tests.test_api_sync import _new_family, _rec, _setup, _sync, _token
    from webapp.models import Person

    ids = _setup(app)
    with app.app_context():
        town = _user("desk").areas[0]
        boss = make_user("boss", "supervisor", [town])
        day_id = schedule(town, date(2026, 12, 1), areas=list(town.children), user=boss).id
    worker = _token(client, "worker_a")
    hid, pid, records = _new_family(ids["group_a"])
    id_number = records[1]["data"]["id_number"] = make_id_number(date(1988, 3, 2), "F")
    assert [r["status"] for r in _sync(client, worker, records)["results"]] == ["applied", "applied"]

    from webapp.checkups.models import CheckupDay

    def found(q):
        with app.app_context():
            return [p["id"] for p in queries.search(db.session.get(CheckupDay, day_id), _user("desk"), q)]

    for q in ("cxy", "chenxiuying", "陈秀英", "秀英", id_number[-4:], id_number[-6:], "5678", "12345678", "1391234"):
        assert found(q) == [pid], q
    edit = _rec("person", pid, {"phone": "13500009876", "name": "陈秀云"}, base=1, when="2026-11-22T10:30:00+08:00")
    assert _sync(client, worker, [edit])["results"][0]["status"] in ("applied", "merged")
    with app.app_context():
        person = db.session.get(Person, pid)
        assert (person.phone, person.name) == ("13500009876", "陈秀云")
    assert found("5678") == [] and found("秀英") == []
    assert found("9876") == [pid] and found("秀云") == [pid] and found("cxy") == [pid]
    with app.app_context():
        assert db.session.get(Person, pid).name_pinyin == "chenxiuyun"
        assert _keys_in_table() == _keys_wanted()


def test_the_demo_town_written_in_bulk_has_its_search_keys(app):
    from webapp.demo import build_demo

    with app.app_context():
        build_demo(db.session, people=300)
        db.session.commit()
        wanted = _keys_wanted()
        assert len({row[3] for row in wanted}) >= 250 and _keys_in_table() == wanted


def test_a_name_whose_pinyin_is_its_initials_is_one_row_of_the_best_rank(app):
    """阿娥 is "ae" in pinyin and in initials: twenty of them all rank first, none pushed down."""
    from webapp.desk.search_index import successor

    with app.app_context():
        town = make_town("T01", villages=1)
        home = make_household(town.children[0].children[0])
        for n in range(queries.SEARCH_LIMIT):
            make_person(home, name="阿娥", id_number=make_id_number(date(1980, 1, 1 + n)), enrolled=True)
        make_user("boss", "supervisor", [town])
        make_user("qiantai", "desk", [town])
        day = schedule(town, date(2026, 12, 1), areas=list(town.children))
        found = queries.search(day, _user("qiantai"), "ae")
        assert len(found) == queries.SEARCH_LIMIT and {p["rank"] for p in found} == {1}
        assert len({p["id"] for p in found}) == queries.SEARCH_LIMIT
        # A query ending in the last code point, or just below the surrogates, is no error.
        assert queries.search(day, _user("qiantai"), "阿\U0010ffff") == []
        assert queries.search(day, _user("qiantai"), "阿\ud7ff") == []
        assert successor("N:a\U0010ffff") == "N:b" and successor("N:\ud7ff") == "N:\ue000"
