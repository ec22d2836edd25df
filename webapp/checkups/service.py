"""Check-up days: create, edit, reschedule, cancel; invitations made from the register.

Who is invited (DESIGN.md §5): enrolled people living in the covered villages or groups,
not deceased and not moved out. People away for work get a certificate request instead.
Invitations are never deleted: a removal keeps the row with its reason, so the roster,
slips and sign-ins made before stay explained.
"""
from __future__ import annotations

import secrets
from datetime import date, time

import sqlalchemy as sa

from .. import audit
from ..extensions import db
from ..models import Area, Person, utcnow
from .models import CheckupDay, Invitation

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed at the desk
CODE_LENGTH = 6
INVITED_STATUSES = ("resident", "away")


def _day_fields(day: CheckupDay) -> dict:
    return {"date": day.date.isoformat(), "start_time": day.start_time.strftime("%H:%M"),
            "end_time": day.end_time.strftime("%H:%M"), "station": day.station, "services": list(day.services),
            "bring": day.bring, "status": day.status, "areas": sorted(a.id for a in day.areas)}


def new_token() -> str:
    return secrets.token_urlsafe(16)


def _new_code(taken: set[str]) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            taken.add(code)
            return code


def eligible_people(day: CheckupDay) -> list[Person]:
    """Who the register says should be invited today (one query)."""
    villages = [a.id for a in day.areas if a.is_village]
    groups = [a.id for a in day.areas if a.kind == "group"]
    where = []
    if villages:
        where.append(Person.village_id.in_(villages))
    if groups:
        where.append(Person.group_id.in_(groups))
    if not where:
        return []
    return list(db.session.scalars(
        sa.select(Person).where(sa.or_(*where), Person.enrolled.is_(True), Person.status.in_(INVITED_STATUSES))
        .order_by(Person.village_id, Person.group_id, Person.name_pinyin)))


def kind_for(person: Person) -> str:
    return "certificate" if person.status == "away" else "checkup"


def invite(day: CheckupDay, people: list[Person], *, user, after_notice_villages: frozenset[str] = frozenset()):
    """Invite people not yet invited (re-activating a removed invitation). Returns the new ones."""
    existing = {inv.person_id: inv for inv in day.invitations}
    taken = {inv.code for inv in day.invitations}
    made = []
    for person in people:
        inv = existing.get(person.id)
        if inv is not None:
            if inv.active:
                continue
            inv.active, inv.removed_at, inv.removed_reason = True, None, ""
        else:
            inv = Invitation(day=day, person_id=person.id, token=new_token(), code=_new_code(taken))
            db.session.add(inv)
        inv.village_id, inv.group_id, inv.kind = person.village_id, person.group_id, kind_for(person)
        inv.after_notice = person.village_id in after_notice_villages
        made.append(inv)
        audit.record("invite", "invitation", inv.id, None,
                     {"day_id": day.id, "person_id": person.id, "kind": inv.kind}, user=user)
    db.session.flush()
    return made


def create_day(*, town: Area, day_date: date, start: time, end: time, station: str, services: list[str],
               bring: str, areas: list[Area], user) -> CheckupDay:
    day = CheckupDay(town_id=town.id, date=day_date, start_time=start, end_time=end, station=station,
                     services=list(services), bring=bring, created_by=user.id)
    day.areas = list(areas)
    db.session.add(day)
    db.session.flush()
    audit.record("create", "checkup_day", day.id, None, _day_fields(day), user=user)
    invite(day, eligible_people(day), user=user)
    return day


def update_day(day: CheckupDay, *, start: time, end: time, station: str, services: list[str], bring: str,
               areas: list[Area], user) -> list[Invitation]:
    """Change what the day is; newly covered areas get their invitations (existing ones stay)."""
    before = _day_fields(day)
    day.start_time, day.end_time, day.station = start, end, station
    day.services, day.bring = list(services), bring
    day.areas = list(areas)
    audit.record("update", "checkup_day", day.id, before, _day_fields(day), user=user)
    covered = {a.id for a in day.areas}
    for inv in day.invitations:
        if inv.active and inv.village_id not in covered and inv.group_id not in covered:
            remove_invitation(inv, "area no longer covered", user=user)
    return refresh_invitations(day, user=user)


def reschedule(day: CheckupDay, new_date: date, *, user) -> None:
    """Move the day: lists made for the old date become void; the scheduler makes new ones."""
    from ..notices.service import void_lists  # notices build on check-up days

    if new_date == day.date:
        return
    before = _day_fields(day)
    day.previous_date, day.date = day.date, new_date
    void_lists(day, reason="rescheduled")
    audit.record("reschedule", "checkup_day", day.id, before, _day_fields(day), user=user)


def cancel(day: CheckupDay, *, user) -> None:
    from ..notices.service import void_lists

    before = _day_fields(day)
    day.status = "cancelled"
    void_lists(day, reason="cancelled")
    audit.record("cancel", "checkup_day", day.id, before, _day_fields(day), user=user)


def refresh_invitations(day: CheckupDay, *, user) -> list[Invitation]:
    """Invite whoever the register now says should come and is not invited yet."""
    from ..notices.service import after_invited, villages_with_lists

    sent = villages_with_lists(day)
    made = invite(day, eligible_people(day), user=user, after_notice_villages=sent)
    after_invited(day, made)
    return made


def add_person(day: CheckupDay, person: Person, *, user) -> Invitation | None:
    """Invite one person by hand (e.g. someone who moved in last week)."""
    from ..notices.service import after_invited, villages_with_lists

    made = invite(day, [person], user=user, after_notice_villages=villages_with_lists(day))
    after_invited(day, made)
    return made[0] if made else None


def remove_invitation(inv: Invitation, reason: str, *, user) -> None:
    from ..notices.service import void_messages_of

    if not inv.active:
        return
    inv.active, inv.removed_at, inv.removed_reason = False, utcnow(), reason
    void_messages_of(inv)
    audit.record("uninvite", "invitation", inv.id, {"active": True}, {"active": False, "reason": reason}, user=user)
