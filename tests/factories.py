"""Factories for the area tree, households, people and users.

Plain functions over the real models: call them inside an app context (the ``db_session``
fixture, or ``with app.app_context():``). Each one commits by default, so what it makes is
visible to the test client and to the live server at once; pass ``commit=False`` to make
many rows in one transaction, and commit yourself.

    town = make_town("T01", villages=2, groups_per_village=2)
    group = town.children[0].children[0]
    home = make_household(group)
    mother = make_person(home, name="张红梅", head=True, enrolled=True)
    make_user("wang", "worker", [town.children[0]])
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa
from stdnum.cn import ric
from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.models import Area, Household, Person, User
from webapp.pinyin import pinyin_keys

DEFAULT_PASSWORD = "pw"

_VILLAGE_NAMES = ["东风", "红星", "新华", "团结", "胜利", "光明", "前进", "和平", "永安", "长青", "太平", "石桥"]
_SURNAMES = ["张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"]
_GIVEN = ["红梅", "建国", "秀英", "伟", "芳", "丽", "军", "敏", "静", "强", "桂兰", "明", "海燕", "志强", "玉兰"]
_seq = itertools.count(1)


def _session(session):
    return session if session is not None else db.session


def _done(session, commit: bool) -> None:
    if commit:
        session.commit()
    else:
        session.flush()


def unique_name() -> str:
    """A plausible Chinese name, different on every call within a test run."""
    n = next(_seq)
    name = _SURNAMES[n % len(_SURNAMES)] + _GIVEN[(n // len(_SURNAMES)) % len(_GIVEN)]
    cycle = n // (len(_SURNAMES) * len(_GIVEN))
    return name + ("" if cycle == 0 else "一二三四五六七八九"[(cycle - 1) % 9])


def make_id_number(birth_date: date, sex: str = "F", region: str = "110101", serial: int | None = None) -> str:
    """A valid 18-digit resident ID number (checked by stdnum.cn.ric): odd sequence digit for men."""
    serial = (next(_seq) % 500) if serial is None else serial
    seq = serial * 2 + (1 if sex == "M" else 0)
    body = f"{region}{birth_date:%Y%m%d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # it reads all but the last character


def make_town(code: str = "T01", villages: int = 2, groups_per_village: int = 2, *,
              name: str | None = None, committees: int = 0, session=None, commit: bool = True) -> Area:
    """Town ``code`` with villages ``{code}-V01…`` (then committees ``{code}-C01…``),
    each holding groups ``{village code}-G01…``. Returns the town; villages are
    ``town.children`` and a village's groups are ``village.children`` (ordered by code)."""
    s = _session(session)
    town = Area(code=code, kind="town", name=name or f"{code}镇")
    s.add(town)
    kinds = [("village", "V", i) for i in range(1, villages + 1)] + [
        ("committee", "C", i) for i in range(1, committees + 1)
    ]
    for kind, letter, i in kinds:
        v_name = _VILLAGE_NAMES[(i - 1) % len(_VILLAGE_NAMES)] + ("村" if kind == "village" else "社区")
        village = Area(code=f"{code}-{letter}{i:02d}", kind=kind, name=v_name, parent=town)
        s.add(village)
        for g in range(1, groups_per_village + 1):
            s.add(Area(code=f"{village.code}-G{g:02d}", kind="group", name=f"{v_name}{g}组", parent=village))
    _done(s, commit)
    return town


def area(code: str, session=None) -> Area:
    """The area with this code (raises if there is none)."""
    return _session(session).scalars(sa.select(Area).where(Area.code == code)).one()


def groups_of(village: Area) -> list[Area]:
    return list(village.children)


def make_household(group: Area, *, address: str | None = None, number: str | None = None,
                   session=None, commit: bool = True, **fields) -> Household:
    """A household in ``group``; its village and town ids are copied from the group."""
    s = _session(session)
    village = group.parent
    n = next(_seq)
    household = Household(
        group_id=group.id,
        village_id=village.id,
        town_id=village.parent_id,
        number=number if number is not None else f"{n:04d}",
        address=address if address is not None else f"{group.name}{n}号",
        **fields,
    )
    s.add(household)
    _done(s, commit)
    return household


def make_person(household: Household, *, name: str | None = None, sex: str = "F",
                birth_date: date = date(1990, 5, 17), head: bool = False, id_number: str | None = None,
                with_id_number: bool = False, session=None, commit: bool = True, **fields) -> Person:
    """A person in ``household`` (same group, village and town), with pinyin search keys.

    ``head=True`` also makes them the household's head. ``with_id_number=True`` gives a
    valid generated ID number matching birth date and sex; otherwise the number stays empty
    unless passed. Any other model field (status, enrolled, phone, relation…) goes through."""
    s = _session(session)
    name = name or unique_name()
    full, initials = pinyin_keys(name)
    if id_number is None and with_id_number:
        id_number = make_id_number(birth_date, sex)
    if head:
        fields.setdefault("relation", "户主")
    person = Person(
        household_id=household.id,
        group_id=household.group_id,
        village_id=household.village_id,
        town_id=household.town_id,
        name=name,
        name_pinyin=full,
        name_initials=initials,
        sex=sex,
        birth_date=birth_date,
        id_number=id_number,
        **fields,
    )
    s.add(person)
    if head:
        s.flush()
        household.head_id = person.id
    _done(s, commit)
    return person


def make_family(group: Area, size: int = 3, *, session=None, commit: bool = True, **person_fields) -> Household:
    """A household with a head and ``size - 1`` more members; returns the household."""
    s = _session(session)
    household = make_household(group, session=s, commit=False)
    make_person(household, head=True, sex="M", birth_date=date(1975, 3, 2), session=s, commit=False,
                **person_fields)
    for i in range(size - 1):
        make_person(household, sex="F" if i % 2 == 0 else "M", birth_date=date(1978 + 8 * i, 7, 9),
                    session=s, commit=False, **person_fields)
    _done(s, commit)
    return household


def make_user(username: str, role: str = "worker", areas: Iterable[Area | str] = (), *,
              password: str = DEFAULT_PASSWORD, display_name: str | None = None, active: bool = True,
              session=None, commit: bool = True) -> User:
    """A user with ``role`` over ``areas`` (Area objects or area codes); password ``pw``."""
    s = _session(session)
    area_rows = [a if isinstance(a, Area) else area(a, session=s) for a in areas]
    user = User(username=username, display_name=display_name if display_name is not None else username,
                role=role, active=active, areas=area_rows)
    # A cheap hash keeps tests fast; check_password() reads any werkzeug method.
    user.password_hash = generate_password_hash(password, method="pbkdf2:sha256:1000")
    s.add(user)
    _done(s, commit)
    return user


def make_story_village() -> dict:
    """The village of the browser stories (tests/test_pwa.py, tests/test_offline_stories.py).

    青石镇 › 东风村: 1组 8号 holds 张建国 (head) and 李红梅, 2组 3号 holds 王秀英.
    王专干 (cunganbu1) and 李专干 (cunganbu2) work in the village, 赵站长 (zhanzhang)
    supervises the town. Returns the ids the stories use."""
    town = make_town("T01", villages=2, name="青石镇")
    village = town.children[0]
    group1, group2 = village.children
    home = make_household(group1, address="东风村1组 8号", number="8")
    head = make_person(home, name="张建国", sex="M", head=True, phone="13800138000", enrolled=True)
    wife = make_person(home, name="李红梅", relation="配偶", phone="13900139000", enrolled=True)
    other_home = make_household(group2, address="东风村2组 3号", number="3")
    neighbour = make_person(other_home, name="王秀英", head=True, phone="13700137000",
                            birth_date=date(1958, 2, 11))
    worker = make_user("cunganbu1", "worker", [village], display_name="王专干")
    other = make_user("cunganbu2", "worker", [village], display_name="李专干")
    make_user("zhanzhang", "supervisor", [town], display_name="赵站长")
    return {
        "village": village.id, "group1": group1.id, "group2": group2.id, "home": home.id,
        "other_home": other_home.id, "head": head.id, "wife": wife.id, "neighbour": neighbour.id,
        "worker": worker.id, "other": other.id,
    }
