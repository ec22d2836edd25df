"""Read-only queries for visits. Every select is limited by webapp/scope.py."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from ..extensions import db
from ..models import Area, AuditEntry, Household, Person, User
from ..register.queries import GONE, VILLAGE_KINDS
from ..scope import scoped
from .changes import KINDS
from .models import Visit

STALE_LIMIT = 50
INDEX_LIMIT = 20000


def _visits(user) -> sa.Select:
    return scoped(sa.select(Visit), Visit, user)


def household_visits(household: Household, user) -> list[Visit]:
    return db.session.scalars(_visits(user).where(Visit.household_id == household.id)
                              .order_by(Visit.visited_at.desc())).all()


def person_visits(person: Person, user) -> list[Visit]:
    return db.session.scalars(_visits(user).where(Visit.person_id == person.id)
                              .order_by(Visit.visited_at.desc())).all()


def person_changes(person: Person) -> list[AuditEntry]:
    """The register's audit trail of this person (the caller checked scope on the person)."""
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.entity == "person",
                                                          AuditEntry.entity_id == person.id)
                              .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())).all()


def user_names(ids) -> dict[str, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = db.session.execute(sa.select(User.id, User.display_name, User.username).where(User.id.in_(ids)))
    return {uid: display or username for uid, display, username in rows}


def _latest_per(key, visits):
    latest = {}
    for visit in visits:  # ordered oldest first: later ones overwrite
        latest[key(visit)] = visit
    return latest


def follow_ups(user, today: date) -> list[dict]:
    """People whose last health follow-up left something open (no check-up elsewhere yet, or
    no certificate), and households whose last visit asked to come back by today."""
    rows = []
    followups = db.session.scalars(_visits(user).where(Visit.form_id == "health_followup")
                                   .order_by(Visit.visited_at)).all()
    people_ids = []
    for person_id, visit in _latest_per(lambda v: v.person_id, followups).items():
        answers = visit.answers
        if answers.get("checked_elsewhere") is False or answers.get("certificate_received") is False:
            people_ids.append((person_id, visit))
    people = {p.id: p for p in db.session.scalars(
        scoped(sa.select(Person), Person, user).where(Person.id.in_([p for p, _v in people_ids]),
                                                      Person.status.not_in(GONE)))}
    for person_id, visit in people_ids:
        person = people.get(person_id)
        if person is None:
            continue
        why = (_("Certificate not received yet") if visit.answers.get("checked_elsewhere")
               else _("No check-up elsewhere yet"))
        rows.append({"text": person.name, "url": url_for("visits.person_history", person_id=person.id),
                     "detail": why + " · " + _("last follow-up %(day)s", day=visit.visited_on.isoformat()),
                     "due": None})
    household_visits = db.session.scalars(_visits(user).where(Visit.form_id == "household_visit")
                                          .order_by(Visit.visited_at)).all()
    due = [(v.household_id, date.fromisoformat(v.answers["next_visit"]))
           for v in _latest_per(lambda v: v.household_id, household_visits).values()
           if v.answers.get("next_visit") and date.fromisoformat(v.answers["next_visit"]) <= today]
    homes = {h.id: h for h in db.session.scalars(
        scoped(sa.select(Household), Household, user).where(Household.id.in_([h for h, _d in due])))}
    for household_id, day in sorted(due, key=lambda pair: pair[1]):
        if household_id in homes:
            rows.append({"text": homes[household_id].address,
                         "url": url_for("visits.visit", household_id=household_id),
                         "detail": _("Asked to come back by %(day)s", day=day.isoformat()), "due": day})
    return rows


def stale_households(user, today: date, days: int) -> tuple[list[tuple[Household, date | None]], int]:
    """Households with no visit in ``days`` days (never visited first), and how many in all."""
    last = (sa.select(Visit.household_id, sa.func.max(Visit.visited_on).label("last"))
            .group_by(Visit.household_id).subquery())
    cutoff = today - timedelta(days=days)
    stmt = (scoped(sa.select(Household, last.c.last), Household, user)
            .outerjoin(last, last.c.household_id == Household.id)
            .where(sa.or_(last.c.last.is_(None), last.c.last < cutoff)))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = db.session.execute(stmt.order_by(last.c.last.is_not(None), last.c.last, Household.village_id,
                                            Household.group_id, Household.number).limit(STALE_LIMIT)).all()
    return [(h, d) for h, d in rows], total


def search_index(user) -> list[dict]:
    """The people a worker may search offline: name, pinyin keys, household and place."""
    rows = db.session.execute(
        scoped(sa.select(Person.id, Person.name, Person.name_pinyin, Person.name_initials, Person.household_id,
                         Person.status, Household.address, Area.name), Person, user)
        .join(Household, Household.id == Person.household_id).join(Area, Area.id == Person.group_id)
        .order_by(Person.village_id, Person.group_id, Household.number, Person.birth_date).limit(INDEX_LIMIT)).all()
    return [{"id": pid, "n": name, "p": full, "i": initials, "h": household_id, "s": status,
             "a": address, "g": group} for pid, name, full, initials, household_id, status, address, group in rows]


# -- supervisor ----------------------------------------------------------------------------

def _period(start: date, end: date):
    return Visit.visited_on >= start, Visit.visited_on <= end


def villages(user) -> list[Area]:
    return db.session.scalars(scoped(sa.select(Area).where(Area.kind.in_(VILLAGE_KINDS)), Area, user)
                              .order_by(Area.code)).all()


def visits_per_village(user, start: date, end: date) -> list[tuple[Area, int]]:
    counts = dict(db.session.execute(
        scoped(sa.select(Visit.village_id, sa.func.count()), Visit, user).where(*_period(start, end))
        .group_by(Visit.village_id)).all())
    return [(village, counts.get(village.id, 0)) for village in villages(user)]


def visits_per_worker(user, start: date, end: date) -> list[tuple[str, int]]:
    rows = db.session.execute(
        scoped(sa.select(Visit.user_id, sa.func.count()), Visit, user).where(*_period(start, end))
        .group_by(Visit.user_id)).all()
    names = user_names(uid for uid, _n in rows)
    return sorted(((names.get(uid, "?"), n) for uid, n in rows), key=lambda pair: (-pair[1], pair[0]))


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def change_summary(user, month: date) -> list[tuple[Area, dict[str, int]]]:
    """Change reports of one month per village and kind (every kind present, zeros included)."""
    start, end = month_bounds(month)
    rows = db.session.execute(
        scoped(sa.select(Visit.village_id, Visit.kind, sa.func.count()), Visit, user)
        .where(Visit.form_id == "change_report", *_period(start, end))
        .group_by(Visit.village_id, Visit.kind)).all()
    counts: dict[str, dict[str, int]] = {}
    for village_id, kind, n in rows:
        counts.setdefault(village_id, {})[kind] = n
    return [(v, {kind: counts.get(v.id, {}).get(kind, 0) for kind in KINDS}) for v in villages(user)]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min)
