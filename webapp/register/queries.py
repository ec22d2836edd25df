"""Read-only queries for the register pages. Every select goes through ``scoped()``."""
from __future__ import annotations

import re
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Area, Household, Person, User
from ..scope import scoped

VILLAGE_KINDS = ("village", "committee")
GONE = ("moved_out", "deceased")
SEARCH_LIMIT = 50


def villages_by_town(user: User) -> list[tuple[Area, list[dict]]]:
    """[(town, [{"village", "households", "people", "enrolled"}, …]), …] for the villages the user sees.

    People and enrolled counts leave out those who moved out or died: they are the
    people a worker still has to visit.
    """
    villages = db.session.scalars(
        scoped(sa.select(Area).where(Area.kind.in_(VILLAGE_KINDS)), Area, user)
        .options(selectinload(Area.parent)).order_by(Area.code)
    ).all()
    households = dict(db.session.execute(
        scoped(sa.select(Household.village_id, sa.func.count()), Household, user)
        .group_by(Household.village_id)
    ).all())
    people = {
        village_id: (total, enrolled or 0)
        for village_id, total, enrolled in db.session.execute(
            scoped(sa.select(Person.village_id, sa.func.count(),
                             sa.func.sum(sa.case((Person.enrolled, 1), else_=0))), Person, user)
            .where(Person.status.not_in(GONE))
            .group_by(Person.village_id)
        )
    }
    towns: dict[str, list[dict]] = defaultdict(list)
    town_of: dict[str, Area] = {}
    for village in villages:
        town = village.parent
        town_of[town.id] = town
        total, enrolled = people.get(village.id, (0, 0))
        towns[town.id].append({"village": village, "households": households.get(village.id, 0),
                               "people": total, "enrolled": enrolled})
    return [(town_of[tid], rows) for tid, rows in towns.items()]


def groups_of(village: Area, user: User) -> list[dict]:
    """Groups of one village with their household and people counts."""
    groups = db.session.scalars(
        scoped(sa.select(Area).where(Area.parent_id == village.id), Area, user).order_by(Area.code)
    ).all()
    households = dict(db.session.execute(
        scoped(sa.select(Household.group_id, sa.func.count()), Household, user)
        .where(Household.village_id == village.id).group_by(Household.group_id)
    ).all())
    people = dict(db.session.execute(
        scoped(sa.select(Person.group_id, sa.func.count()), Person, user)
        .where(Person.village_id == village.id, Person.status.not_in(GONE)).group_by(Person.group_id)
    ).all())
    return [{"group": g, "households": households.get(g.id, 0), "people": people.get(g.id, 0)}
            for g in groups]


def groups_in_village(village_id: str, user: User) -> list[Area]:
    return db.session.scalars(
        scoped(sa.select(Area).where(Area.parent_id == village_id, Area.kind == "group"), Area, user)
        .order_by(Area.code)
    ).all()


def households_page(group: Area, user: User, page: int, per_page: int):
    """One page of a group's households, each with its head and living member count."""
    members = (
        sa.select(sa.func.count()).where(Person.household_id == Household.id, Person.status.not_in(GONE))
        .correlate(Household).scalar_subquery()
    )
    stmt = (
        scoped(sa.select(Household, members.label("members")), Household, user)
        .where(Household.group_id == group.id)
        .options(selectinload(Household.head))
        .order_by(Household.number, Household.address)
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return rows, Page(page, per_page, total)


def people_page(village: Area, user: User, page: int, per_page: int):
    stmt = (
        scoped(sa.select(Person), Person, user)
        .where(Person.village_id == village.id)
        .options(selectinload(Person.household), selectinload(Person.group))
        .order_by(Person.name_pinyin, Person.name)
    )
    total = db.session.scalar(scoped(sa.select(sa.func.count(Person.id)), Person, user)
                              .where(Person.village_id == village.id))
    people = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return people, Page(page, per_page, total)


def members_of(household: Household, user: User) -> list[Person]:
    return db.session.scalars(
        scoped(sa.select(Person), Person, user)
        .where(Person.household_id == household.id).order_by(Person.birth_date)
    ).all()


class Page:
    """Just enough of a paginator for prev/next links."""

    def __init__(self, page: int, per_page: int, total: int):
        self.page, self.per_page, self.total = page, per_page, total or 0
        self.pages = max(1, -(-self.total // per_page))
        self.has_prev = page > 1
        self.has_next = page < self.pages
        self.prev_num = page - 1
        self.next_num = page + 1


_ID_TAIL = re.compile(r"^\d{3,5}[0-9X]$")
_DIGITS = re.compile(r"^\d{4,11}$")
_LATIN = re.compile(r"^[a-z]+$")


def search_people(q: str, user: User) -> list[Person]:
    """People in scope matching ``q``, best first, at most 50.

    - Chinese (or any non-Latin) text: name substring; exact, then prefix, then the rest.
    - Latin letters: pinyin initials prefix (zhm) or full pinyin prefix (zhanghong);
      exact initials first, then initials prefix, then pinyin prefix.
    - 4–6 characters ending in a digit or X: the tail of an ID number; digits also match
      anywhere in a phone number.
    """
    q = re.sub(r"[\s'·-]+", "", (q or "").strip())
    if not q:
        return []
    key = q.upper() if _ID_TAIL.match(q.upper()) else q.lower()
    conditions, rank = [], None
    if _LATIN.match(key):
        conditions = [Person.name_initials.startswith(key, autoescape=True),
                      Person.name_pinyin.startswith(key, autoescape=True)]
        rank = sa.case((Person.name_initials == key, 0),
                       (Person.name_initials.startswith(key, autoescape=True), 1), else_=2)
    elif _ID_TAIL.match(key) or _DIGITS.match(key):
        if _ID_TAIL.match(key):
            conditions.append(Person.id_number.endswith(key, autoescape=True))
        if key.isdigit():
            conditions.append(Person.phone.contains(key, autoescape=True))
        rank = sa.case((Person.id_number.endswith(key, autoescape=True), 0),
                       (Person.phone.endswith(key, autoescape=True), 1), else_=2)
    else:
        conditions = [Person.name.contains(q, autoescape=True)]
        rank = sa.case((Person.name == q, 0), (Person.name.startswith(q, autoescape=True), 1), else_=2)
    if not conditions:
        return []
    stmt = (
        scoped(sa.select(Person), Person, user)
        .where(sa.or_(*conditions))
        .options(selectinload(Person.household), selectinload(Person.village), selectinload(Person.group))
        .order_by(rank, sa.case((Person.status.in_(GONE), 1), else_=0), Person.name_pinyin, Person.name)
        .limit(SEARCH_LIMIT)
    )
    return db.session.scalars(stmt).all()
