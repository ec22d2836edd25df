"""The keys the desk's server search looks people up by, so a search reads a few index ranges
instead of every person of the day.

A desk types initials, pinyin, a name or part of it, the end of an ID number or some phone
digits. B-trees answer "equals" and "starts with", not "ends with" or "contains", so each
person gets keys that turn every such question into a prefix range (``keys_of``):

- ``i:`` initials, ``p:`` full pinyin, ``N:`` the name: equal or starts with;
- ``n:`` each proper ending of the name: "contains" is "some ending starts with";
- ``d:`` the last six characters of the ID number, reversed: "ends with" is "starts with";
- ``t:`` the phone's digits (the number typed from its start), ``e:`` the same reversed ("ends
  with": the last digits, what people say at a desk).

Each row also carries the person's pinyin and name (the search's order) and village, group and
status (its scope), so choosing the best twenty reads key rows only.

The rows are kept in step with ``person`` by a flush hook (every ORM write: sync merges, forms,
journal undo) and rebuilt wholesale by ``rebuild`` after bulk inserts (the demo town) and by
migration 0012. ``tests/test_desk_search.py`` checks the table against ``keys_of`` after writes.
"""
from __future__ import annotations

import re
import sys

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from ..models import Person

ID_TAIL = 6
_NOT_DIGIT = re.compile(r"\D")
# Person columns a key row carries: what the keys are made of, what search orders by, and what
# it scopes by (village, group, status), so a search never reads the person table to choose.
WATCHED = ("name", "name_pinyin", "name_initials", "id_number", "phone", "village_id", "group_id", "status")
CHUNK = 2000


def _code_point_order(length: int) -> sa.String:
    """Code-point order on both databases, so ranges and ORDER BY mean what they do in Python
    and in desk-search.js (PostgreSQL's default collation may not)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


class DeskSearchKey(db.Model):
    """One (key, person) pair with the person's sort and scope columns; derived from ``person``,
    never edited by hand. The primary key is the search's order (key, then pinyin, name, id): on
    SQLite the rows are stored in it (WITHOUT ROWID), so one range read gives them ordered."""

    __tablename__ = "desk_search_key"
    __table_args__ = {"sqlite_with_rowid": False}
    key: Mapped[str] = mapped_column(_code_point_order(220), primary_key=True)
    pinyin: Mapped[str] = mapped_column(_code_point_order(200), primary_key=True)
    name: Mapped[str] = mapped_column(_code_point_order(50), primary_key=True)
    person_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, index=True)
    village_id: Mapped[str | None] = mapped_column(sa.String(36))
    group_id: Mapped[str | None] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(16), default="resident")


def keys_of(name: str | None, pinyin: str | None, initials: str | None, id_number: str | None,
            phone: str | None) -> set[str]:
    name, keys = name or "", set()
    if initials:
        keys.add("i:" + initials)
    if pinyin:
        keys.add("p:" + pinyin)
    if name:
        keys.add("N:" + name)
        keys.update("n:" + name[k:] for k in range(1, len(name)))
    tail = (id_number or "").upper()[-ID_TAIL:]
    if tail:
        keys.add("d:" + tail[::-1])
    digits = _NOT_DIGIT.sub("", phone or "")
    if digits:
        keys.update(("t:" + digits, "e:" + digits[::-1]))
    return keys


_COLUMNS = (Person.id, Person.name, Person.name_pinyin, Person.name_initials, Person.id_number, Person.phone,
            Person.village_id, Person.group_id, Person.status)


def key_rows(pid, name, pinyin, initials, id_number, phone, village_id, group_id, status) -> list[dict]:
    """The rows of one person, from the values of ``_COLUMNS``."""
    shared = {"pinyin": pinyin or "", "name": name or "", "person_id": pid, "village_id": village_id,
              "group_id": group_id, "status": status or ""}
    return [{"key": key, **shared} for key in sorted(keys_of(name, pinyin, initials, id_number, phone))]


def person_keys(person) -> list[dict]:
    return key_rows(*(getattr(person, col.key) for col in _COLUMNS))


def successor(prefix: str) -> str:
    """The least string above every string starting with ``prefix`` (code-point order, which is
    UTF-8 byte order). Surrogates are skipped; past the last code point, the shorter prefix's."""
    last = ord(prefix[-1]) + 1
    if last > sys.maxunicode:
        return successor(prefix[:-1])  # every key has a two-character kind first ("N:")
    return prefix[:-1] + chr(0xE000 if 0xD800 <= last <= 0xDFFF else last)


def starts_with(prefix: str):
    """A WHERE clause on the key: it starts with ``prefix`` (a range, so the index answers)."""
    return sa.and_(DeskSearchKey.key >= prefix, DeskSearchKey.key < successor(prefix))


def _write(conn, by_person: dict[str, list[dict]]) -> None:
    table = DeskSearchKey.__table__
    ids = list(by_person)
    for start in range(0, len(ids), CHUNK):
        conn.execute(table.delete().where(table.c.person_id.in_(ids[start:start + CHUNK])))
    _insert(conn, [row for rows in by_person.values() for row in rows])


def _insert(conn, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK * 5):
        conn.execute(DeskSearchKey.__table__.insert(), rows[start:start + CHUNK * 5])


def _changed(person) -> bool:
    state = sa.inspect(person)
    return any(state.attrs[name].history.has_changes() for name in WATCHED)


@sa.event.listens_for(Session, "after_flush")
def _follow_person_writes(session: Session, _context) -> None:
    """New and edited people get their rows again; people deleted (a journal undo) lose them."""
    by_person = {p.id: person_keys(p) for p in session.new if isinstance(p, Person)}
    by_person.update({p.id: person_keys(p) for p in session.dirty if isinstance(p, Person) and _changed(p)})
    by_person.update({p.id: [] for p in session.deleted if isinstance(p, Person)})
    if by_person:
        _write(session.connection(), by_person)


def rebuild(session: Session, person_ids: list[str] | None = None) -> int:
    """Make the rows of every person (or of ``person_ids``) again from the person table; for
    people written without the ORM. Returns how many people were keyed."""
    conn = session.connection()
    stmt = sa.select(*_COLUMNS)
    if person_ids is None:
        conn.execute(DeskSearchKey.__table__.delete())
        people = conn.execute(stmt).all()
        for start in range(0, len(people), CHUNK):
            _insert(conn, [row for person in people[start:start + CHUNK] for row in key_rows(*person)])
        return len(people)
    by_person: dict[str, list[dict]] = {pid: [] for pid in person_ids}
    for start in range(0, len(person_ids), CHUNK):
        for person in conn.execute(stmt.where(Person.id.in_(person_ids[start:start + CHUNK]))):
            by_person[person[0]] = key_rows(*person)
    _write(conn, by_person)
    return len(by_person)
