"""Read-only queries for check-up days. Days are seen by users of their town; invitations
(the people) only within the user's villages, through ``scoped()``-style filters."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Area, Person, User
from ..scope import village_ids_for
from .models import CheckupDay, Invitation

VILLAGE_KINDS = ("village", "committee")


def town_ids_for(user: User) -> frozenset[str] | None:
    villages = village_ids_for(user)
    if villages is None:
        return None
    return frozenset(t for t in db.session.scalars(sa.select(Area.parent_id).where(Area.id.in_(villages))) if t)


def day_villages(day: CheckupDay) -> set[str]:
    return {a.id if a.is_village else a.parent_id for a in day.areas}


def day_visible(day: CheckupDay, user: User) -> bool:
    """A day is seen by users of a village it covers (a town's supervisor and desk see them all)."""
    villages = village_ids_for(user)
    return villages is None or bool(day_villages(day) & villages)


def days_visible(user: User) -> list[CheckupDay]:
    towns = town_ids_for(user)
    stmt = sa.select(CheckupDay).options(selectinload(CheckupDay.areas)).order_by(CheckupDay.date)
    if towns is not None:
        stmt = stmt.where(CheckupDay.town_id.in_(towns))
    return [day for day in db.session.scalars(stmt) if day_visible(day, user)]


def get_day(day_id: str, user: User) -> CheckupDay:
    day = db.session.get(CheckupDay, day_id)
    if day is None or not day_visible(day, user):
        abort(404)
    return day


def may_plan(user: User, day: CheckupDay | None = None) -> bool:
    """Supervisors and admins schedule days for the towns they see."""
    if user.role not in ("supervisor", "admin"):
        return False
    towns = town_ids_for(user)
    return day is None or towns is None or day.town_id in towns


def towns_to_plan(user: User) -> list[Area]:
    towns = town_ids_for(user)
    stmt = sa.select(Area).where(Area.kind == "town").order_by(Area.code)
    if towns is not None:
        stmt = stmt.where(Area.id.in_(towns))
    return list(db.session.scalars(stmt))


def areas_of_town(town: Area, user: User) -> list[tuple[Area, list[Area]]]:
    """[(village, [groups])] of a town that the user sees."""
    villages = village_ids_for(user)
    stmt = sa.select(Area).where(Area.parent_id == town.id, Area.kind.in_(VILLAGE_KINDS)).order_by(Area.code)
    if villages is not None:
        stmt = stmt.where(Area.id.in_(villages))
    out = []
    for village in db.session.scalars(stmt):
        out.append((village, [g for g in village.children if g.kind == "group"]))
    return out


def upcoming_and_past(user: User, today) -> tuple[list[CheckupDay], list[CheckupDay]]:
    days = days_visible(user)
    return [d for d in days if d.date >= today], list(reversed([d for d in days if d.date < today]))


def village_counts(day: CheckupDay, user: User) -> list[dict]:
    """Per village the user sees: invited (active), of them certificate requests."""
    villages = village_ids_for(user)
    stmt = (sa.select(Invitation.village_id, Invitation.kind, sa.func.count())
            .where(Invitation.day_id == day.id, Invitation.active.is_(True))
            .group_by(Invitation.village_id, Invitation.kind))
    if villages is not None:
        stmt = stmt.where(Invitation.village_id.in_(villages))
    counts: dict[str, dict] = defaultdict(lambda: {"checkup": 0, "certificate": 0})
    for village_id, kind, n in db.session.execute(stmt):
        counts[village_id][kind] = n
    areas = {a.id: a for a in db.session.scalars(sa.select(Area).where(Area.id.in_(list(counts))))}
    rows = [{"village": areas[v], "invited": c["checkup"] + c["certificate"], "certificate": c["certificate"]}
            for v, c in counts.items()]
    return sorted(rows, key=lambda r: r["village"].code)


def roster(day: CheckupDay, village: Area, user: User) -> list[tuple[Area, list[Invitation]]]:
    """A village's invitations (active first), by group."""
    villages = village_ids_for(user)
    if villages is not None and village.id not in villages:
        abort(404)
    rows = db.session.scalars(
        sa.select(Invitation).join(Person, Person.id == Invitation.person_id)
        .where(Invitation.day_id == day.id, Invitation.village_id == village.id)
        .order_by(Invitation.group_id, Invitation.active.desc(), Person.name_pinyin))
    groups: dict[str, list[Invitation]] = defaultdict(list)
    for inv in rows:
        groups[inv.group_id].append(inv)
    areas = {a.id: a for a in db.session.scalars(sa.select(Area).where(Area.id.in_(list(groups))))}
    return sorted(((areas[g], invs) for g, invs in groups.items()), key=lambda pair: pair[0].code)


def people_to_add(day: CheckupDay, village: Area, q: str, limit: int = 20) -> list[Person]:
    """People of the village matching ``q`` (name, pinyin, initials) who are not invited now."""
    invited = sa.select(Invitation.person_id).where(Invitation.day_id == day.id, Invitation.active.is_(True))
    stmt = (sa.select(Person).where(Person.village_id == village.id, Person.id.not_in(invited),
                                    Person.status.not_in(("moved_out", "deceased"))))
    q = q.strip().lower()
    if q:
        like = f"%{q}%"
        stmt = stmt.where(sa.or_(Person.name.like(like), Person.name_pinyin.like(like),
                                 Person.name_initials.like(f"{q}%")))
    return list(db.session.scalars(stmt.order_by(Person.name_pinyin).limit(limit)))
