"""What a sign-in desk reads: the day's roster, the search over it, the day's sign-in events.

What must hold:
- Everything is limited to the villages the user sees (``village_ids_for``) *and* to the areas
  the day covers; a person outside either is neither listed nor found.
- The ranking here and the one in ``static/js/desk.js`` are the same rule (see ``rank_of``), so
  a desk finds the same person first online and offline. tests/test_desk_search.py holds both
  to one list of cases.
- The roster carries ID numbers and phones only as the masked text shown and the digits needed
  to search; it lives in the user's page cache, emptied at logout.
"""
from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from sync import stamp_from_str

from ..checkups.models import CheckupDay, Invitation
from ..extensions import db
from ..models import Area, Person, SyncCounter, SyncEvent, User
from ..register.labels import mask_id, mask_phone
from ..scope import village_ids_for

GONE = ("moved_out", "deceased")
EVENT_TYPES = ("signin", "signin_undo", "absence")
SEARCH_LIMIT = 20
QR_PREFIX = "DS1:"

_STRIP = re.compile(r"[\s'·\-]+")
_LATIN = re.compile(r"^[a-z]+$")
_CODE = re.compile(r"^[2-9A-HJ-NP-Z]{6}$")
_ID_TAIL = re.compile(r"^\d{3,5}[0-9X]$")
_DIGITS = re.compile(r"^\d{4,11}$")


def day_village_ids(day: CheckupDay, user: User) -> list[str]:
    """The day's villages the user may see, in code order."""
    villages = village_ids_for(user)
    ids = {a.id if a.is_village else a.parent_id for a in day.areas}
    if villages is not None:
        ids &= villages
    return sorted(ids)


def _covered(day: CheckupDay, user: User):
    """A WHERE clause: people living in the day's areas the user sees."""
    seen = village_ids_for(user)
    villages = [a.id for a in day.areas if a.is_village and (seen is None or a.id in seen)]
    groups = [a.id for a in day.areas if a.kind == "group" and (seen is None or a.parent_id in seen)]
    parts = []
    if villages:
        parts.append(Person.village_id.in_(villages))
    if groups:
        parts.append(Person.group_id.in_(groups))
    return sa.or_(*parts) if parts else sa.false()


def _invited_ids(day: CheckupDay):
    return sa.select(Invitation.person_id).where(Invitation.day_id == day.id, Invitation.active.is_(True))


def _rows(day: CheckupDay, user: User, where=None, limit: int | None = None):
    """(Person, Invitation | None) for people invited to the day, or living in its areas."""
    seen = village_ids_for(user)
    inv = sa.orm.aliased(Invitation)
    stmt = (sa.select(Person, inv)
            .outerjoin(inv, sa.and_(inv.person_id == Person.id, inv.day_id == day.id, inv.active.is_(True)))
            .where(sa.or_(inv.id.is_not(None), sa.and_(_covered(day, user), Person.status.not_in(GONE)))))
    if seen is not None:
        stmt = stmt.where(Person.village_id.in_(seen))
    if where is not None:
        stmt = stmt.where(where)
    if limit is not None:
        stmt = stmt.limit(limit)
    return db.session.execute(stmt).all()


def _area_names(ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Area.id, Area.name).where(Area.id.in_(list(ids)))).all())


def person_entry(person: Person, inv: Invitation | None, on: date, names: dict[str, str]) -> dict:
    """One roster row as the desk device keeps it (short keys: 2,000 of them go over the air)."""
    id_number = (person.id_number or "").upper()
    return {
        "id": person.id, "n": person.name, "p": person.name_pinyin, "i": person.name_initials,
        "idm": mask_id(id_number), "idt": id_number[-6:], "ph": re.sub(r"\D", "", person.phone or ""),
        "phm": mask_phone(person.phone), "age": person.age_on(on), "sex": person.sex,
        "v": names.get(person.village_id, ""), "vid": person.village_id,
        "g": names.get(person.group_id, ""), "gid": person.group_id, "st": person.status,
        "inv": inv.id if inv else None, "code": inv.code if inv else "", "tok": inv.token if inv else "",
        "kind": inv.kind if inv else "",
    }


def roster_payload(day: CheckupDay, user: User) -> list[dict]:
    """Everyone the desk may meet on the day: the invited (with code and token) and the other
    living people of the covered areas (found for a walk-in, marked not invited)."""
    rows = _rows(day, user)
    names = _area_names({p.village_id for p, _ in rows} | {p.group_id for p, _ in rows})
    entries = [person_entry(p, inv, day.date, names) for p, inv in rows]
    entries.sort(key=lambda e: (e["inv"] is None, e["p"], e["n"]))
    return entries


def invited_count(day: CheckupDay, user: User) -> int:
    villages = village_ids_for(user)
    stmt = sa.select(sa.func.count()).select_from(Invitation).where(
        Invitation.day_id == day.id, Invitation.active.is_(True))
    if villages is not None:
        stmt = stmt.where(Invitation.village_id.in_(villages))
    return db.session.scalar(stmt) or 0


def normalise(q: str) -> str:
    return _STRIP.sub("", (q or "").strip())


def token_of(q: str) -> str | None:
    q = (q or "").strip()
    return q[len(QR_PREFIX):] if q.startswith(QR_PREFIX) and len(q) > len(QR_PREFIX) else None


def search(day: CheckupDay, user: User, q: str) -> list[dict]:
    """Roster rows matching ``q``, best first (rank, then invited first, then pinyin).

    Ranks (the same in desk.js): 0 slip token or code; 1 exact name, exact initials, exact
    full pinyin, ID tail; 2 name prefix, initials prefix, phone ending; 3 pinyin prefix, name
    part, phone part."""
    token = token_of(q)
    q = normalise(q)
    if not q:
        return []
    inv_code = sa.orm.aliased(Invitation)
    if token:
        cond = sa.exists().where(inv_code.person_id == Person.id, inv_code.day_id == day.id,
                                 inv_code.token == token)
    else:
        cond = _conditions(day, q)
    rows = _rows(day, user, where=cond)
    ranked = sorted(((rank_of(p, inv, q, token), inv is None, p.name_pinyin, p.name, p, inv) for p, inv in rows),
                    key=lambda r: r[:4])[:SEARCH_LIMIT]
    names = _area_names({r[4].village_id for r in ranked} | {r[4].group_id for r in ranked})
    return [{**person_entry(p, inv, day.date, names), "rank": rank} for rank, _, _, _, p, inv in ranked]


def _conditions(day: CheckupDay, q: str):
    """A WHERE clause narrowing the day's people to candidates for ``q`` (ranked in Python)."""
    lower, upper = q.lower(), q.upper()
    parts = []
    if _CODE.match(upper):
        parts.append(sa.exists().where(Invitation.person_id == Person.id, Invitation.day_id == day.id,
                                       Invitation.active.is_(True), Invitation.code == upper))
    if _LATIN.match(lower):
        parts += [Person.name_initials.startswith(lower, autoescape=True),
                  Person.name_pinyin.startswith(lower, autoescape=True)]
    elif _ID_TAIL.match(upper) or _DIGITS.match(q):
        if _ID_TAIL.match(upper):
            parts.append(Person.id_number.endswith(upper, autoescape=True))
        if q.isdigit():
            parts.append(Person.phone.contains(q, autoescape=True))
    elif not _CODE.match(upper):
        parts.append(Person.name.contains(q, autoescape=True))
    return sa.or_(*parts) if parts else sa.false()


def rank_of(person: Person, inv: Invitation | None, q: str, token: str | None = None) -> int:
    """How well ``person`` matches the normalised query; 9 = not at all. Mirrors desk.js rankOf."""
    if token:
        return 0 if inv is not None and inv.token == token else 9
    lower, upper = q.lower(), q.upper()
    if inv is not None and inv.code == upper:
        return 0
    best = 9
    if _LATIN.match(lower):
        initials, pinyin = person.name_initials or "", person.name_pinyin or ""
        if initials == lower or pinyin == lower:
            best = 1
        elif initials.startswith(lower):
            best = 2
        elif pinyin.startswith(lower):
            best = 3
        return best
    if _ID_TAIL.match(upper) or _DIGITS.match(q):
        id_number = (person.id_number or "").upper()
        phone = re.sub(r"\D", "", person.phone or "")
        if _ID_TAIL.match(upper) and id_number.endswith(upper):
            best = 1
        elif q.isdigit() and phone.endswith(q):
            best = 2
        elif q.isdigit() and q in phone:
            best = 3
        return best
    if person.name == q:
        return 1
    if person.name.startswith(q):
        return 2
    return 3 if q in person.name else 9


def day_events(day: CheckupDay, user: User) -> list[dict]:
    """The day's sign-in, undo and absence events in the user's villages, in the shape
    /api/sync pulls them (sync.change_of), so desk.js folds both with one function."""
    villages = day_village_ids(day, user)
    if not villages:
        return []
    stmt = (sa.select(SyncEvent)
            .where(SyncEvent.type.in_(EVENT_TYPES), SyncEvent.village_id.in_(villages))
            .order_by(SyncEvent.seq))
    out = []
    for row in db.session.scalars(stmt):
        if (row.data or {}).get("day_id") != day.id:
            continue
        out.append({"entity": row.type, "entity_id": row.entity_id, "record_id": row.record_id,
                    "data": dict(row.data), "counted": row.counted, "time_ms": _stamp_ms(row.stamp),
                    "seq": row.seq})
    return out


def _stamp_ms(stamp: str) -> int | None:
    try:
        return stamp_from_str(stamp).physical_ms
    except (ValueError, AttributeError):
        return None


def latest_seq() -> int:
    """The last change seq handed out: a desk that read ``day_events`` pulls from here on."""
    return db.session.scalar(sa.select(sa.func.max(SyncCounter.value))) or 0


def days_for_desk(user: User, today: date) -> list[CheckupDay]:
    """Scheduled days from today on that cover a village the user sees, plus the last week's
    (make-up sign-ins are recorded after the day)."""
    from ..checkups.queries import days_visible

    return [d for d in days_visible(user) if d.active and (d.date - today).days >= -7]
