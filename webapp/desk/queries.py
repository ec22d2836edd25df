"""What a sign-in desk reads: the day's roster, the search over it, the day's sign-in events.

What must hold:
- Everything is limited to the villages the user sees (``village_ids_for``) *and* to the areas
  the day covers; a person outside either is neither listed nor found.
- The ranking here and the one in ``static/js/desk-search.js`` are the same rule (``_tiers``), so
  a desk finds the same person first online and offline. tests/test_desk_search.py holds both
  to one list of cases.
- The roster carries ID numbers and phones only as the masked text shown and the digits needed
  to search; it lives in the user's page cache, emptied at logout.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa

from sync import stamp_from_str

from ..checkups.models import CheckupDay, Invitation
from ..extensions import db
from ..models import Area, Person, SyncCounter, SyncEvent, User
from ..register.labels import mask_id, mask_phone
from ..scope import village_ids_for
from .search_index import DeskSearchKey, starts_with

GONE = ("moved_out", "deceased")
EVENT_TYPES = ("signin", "signin_undo", "absence")
SEARCH_LIMIT = 20
QR_PREFIX = "DS1:"

_STRIP = re.compile(r"[\s'·\-]+")
_LATIN = re.compile(r"^[a-z]+$")
_CODE = re.compile(r"^[2-9A-HJ-NP-Z]{6}$")
_ID_TAIL = re.compile(r"^[0-9]{3,5}[0-9X]$")
_DIGITS = re.compile(r"^[0-9]{4,11}$")


def day_village_ids(day: CheckupDay, user: User) -> list[str]:
    """The day's villages the user may see, in code order."""
    villages = village_ids_for(user)
    ids = {a.id if a.is_village else a.parent_id for a in day.areas}
    if villages is not None:
        ids &= villages
    return sorted(ids)


def _covered(day: CheckupDay, user: User, village=Person.village_id, group=Person.group_id):
    """A WHERE clause: people living in the day's areas the user sees."""
    seen = village_ids_for(user)
    villages = [a.id for a in day.areas if a.is_village and (seen is None or a.id in seen)]
    groups = [a.id for a in day.areas if a.kind == "group" and (seen is None or a.parent_id in seen)]
    parts = []
    if villages:
        parts.append(village.in_(villages))
    if groups:
        parts.append(group.in_(groups))
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
    """Spaces and separators dropped; full-width digits and letters (a zh-CN keyboard's １３８,
    ｚｈｍ) made plain, as desk-search.js does."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", q or "").strip())


def token_of(q: str) -> str | None:
    q = (q or "").strip()
    return q[len(QR_PREFIX):] if q.startswith(QR_PREFIX) and len(q) > len(QR_PREFIX) else None


def search(day: CheckupDay, user: User, q: str) -> list[dict]:
    """Roster rows matching ``q``, best first: rank, then pinyin, name and id.

    Ranks (the same in desk.js rankOf): 0 slip token or code; 1 exact name, exact initials,
    exact full pinyin, ID tail; 2 name prefix, initials prefix, phone ending; 3 pinyin prefix,
    name part, phone start. Each rank is one range of the search keys (search_index.py), best
    rank first, each cut to what is still missing of SEARCH_LIMIT: a rank is only read when the
    better ones found fewer than SEARCH_LIMIT people, so a two-letter query stops at rank 1 or 2."""
    token = token_of(q)
    q = normalise(q)
    if not q:
        return []
    found: dict[str, int] = {}
    if token or _CODE.match(q.upper()):  # a slip: straight to its invitation (indexed)
        slip = Invitation.token == token if token else Invitation.code == q.upper()
        hits = db.session.scalars(sa.select(Invitation.person_id).where(
            Invitation.day_id == day.id, Invitation.active.is_(True), slip, _person_scope(day, user)))
        found.update((person_id, 0) for person_id in hits)
    if not token:  # a six-letter code may also be pinyin ("zhangh"): both, the slip first
        scope = _key_scope(day, user)
        for tier in _tiers(q):
            need = SEARCH_LIMIT - len(found)
            if need <= 0:
                break
            stmt = sa.select(DeskSearchKey.person_id).where(tier.where, scope).order_by(*tier.order).limit(need)
            if found:
                stmt = stmt.where(DeskSearchKey.person_id.not_in(list(found)))
            if tier.repeats:  # one person may hold several matching keys: one row each
                stmt = stmt.group_by(DeskSearchKey.person_id, DeskSearchKey.pinyin, DeskSearchKey.name)
            for person_id in db.session.scalars(stmt):
                found.setdefault(person_id, tier.rank)
    if not found:
        return []
    inv = sa.orm.aliased(Invitation)
    rows = db.session.execute(
        sa.select(Person, inv).where(Person.id.in_(list(found)))
        .outerjoin(inv, sa.and_(inv.person_id == Person.id, inv.day_id == day.id, inv.active.is_(True)))).all()
    rows.sort(key=lambda row: (found[row[0].id], row[0].name_pinyin, row[0].name, row[0].id))
    names = _area_names({p.village_id for p, _ in rows} | {p.group_id for p, _ in rows})
    return [{**person_entry(p, i, day.date, names), "rank": found[p.id]} for p, i in rows]


def _scope(day: CheckupDay, user: User, village, group, status, person_id):
    """People the desk may find: living in the day's areas the user sees, or invited (moved since)."""
    # Invited people outside the covered areas are rare: asked per row, only for rows the first
    # test let through (an IN list of a big day's invitations costs more).
    invited_elsewhere = sa.exists().where(Invitation.person_id == person_id, Invitation.day_id == day.id,
                                          Invitation.active.is_(True))
    scope = sa.or_(sa.and_(_covered(day, user, village, group), status.not_in(GONE)), invited_elsewhere)
    seen = village_ids_for(user)
    return scope if seen is None else sa.and_(scope, village.in_(seen))


def _key_scope(day: CheckupDay, user: User):
    k = DeskSearchKey
    return _scope(day, user, k.village_id, k.group_id, k.status, k.person_id)


def _person_scope(day: CheckupDay, user: User):
    """For a slip's invitation: its person, judged like a key row (one row, by primary key)."""
    person = sa.orm.aliased(Person)
    return sa.exists().where(person.id == Invitation.person_id,
                             _scope(day, user, person.village_id, person.group_id, person.status, person.id))


class _Tier(NamedTuple):
    rank: int
    where: object
    order: tuple
    repeats: bool = False


def _tiers(q: str) -> list[_Tier]:
    """The ranks for the normalised query ``q``, best first, as ranges of the search keys; the
    same rules as desk-search.js rankOf. Slip codes and tokens are looked up by ``search``."""
    lower, upper = q.lower(), q.upper()
    k = DeskSearchKey
    by_person = (k.pinyin, k.name, k.person_id)  # the result order: one key, or a sort
    by_key = (k.key, *by_person)  # a "p:" range: pinyin order is key order, the stored order
    if _LATIN.match(lower):
        # "ae" is both the initials and the pinyin of 阿娥: one row per person, not two
        return [_Tier(1, k.key.in_(["i:" + lower, "p:" + lower]), by_person, True),
                _Tier(2, starts_with("i:" + lower), by_person),
                _Tier(3, starts_with("p:" + lower), by_key)]
    tiers = []
    if _ID_TAIL.match(upper) or _DIGITS.match(q):
        if _ID_TAIL.match(upper):
            tiers.append(_Tier(1, starts_with("d:" + upper[::-1]), by_person))
        if q.isascii() and q.isdigit():
            tiers += [_Tier(2, starts_with("e:" + q[::-1]), by_person), _Tier(3, starts_with("t:" + q), by_person)]
        return tiers
    return [_Tier(1, k.key == "N:" + q, by_person), _Tier(2, starts_with("N:" + q), by_person),
            _Tier(3, starts_with("n:" + q), by_person, True)]


def day_events(day: CheckupDay, user: User) -> list[dict]:
    """The day's sign-in, undo and absence events in the user's villages, in the shape
    /api/sync pulls them (sync.change_of), so desk.js folds both with one function."""
    villages = day_village_ids(day, user)
    if not villages:
        return []
    # The day is picked in SQL: the villages' events of every past day are not this day's concern.
    stmt = (sa.select(SyncEvent)
            .where(SyncEvent.type.in_(EVENT_TYPES), SyncEvent.village_id.in_(villages),
                   SyncEvent.data["day_id"].as_string() == day.id)
            .order_by(SyncEvent.seq))
    return [{"entity": row.type, "entity_id": row.entity_id, "record_id": row.record_id,
             "data": dict(row.data), "counted": row.counted, "time_ms": _stamp_ms(row.stamp), "seq": row.seq}
            for row in db.session.scalars(stmt)]


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
