"""Judging the rows of a register file: per row, with the register's own validators.

What must hold:

* A row is judged by ``validate_person`` and its household by ``validate_household``,
  the functions behind the web forms and the sync merge, so a row the preview accepts is
  a row the merge accepts (the merge judges it again; a difference rolls everything back).
* Rules that only a file can break are checked across the rows not skipped: one head per
  household, one address per household, an ID number once in the file, a household
  number not already used in its group.
* Villages are looked up among those the user may see; a code outside them reads as
  unknown, so a file cannot be used to learn which codes exist elsewhere.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from stdnum.cn import ric

from ..extensions import db
from ..models import Area, Household, Person, User
from ..register.schemas import HEAD, validate_household, validate_person
from ..scope import scoped
from .columns import person_values

VILLAGE_KINDS = ("village", "committee")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.IGNORECASE)


@dataclass
class Checked:
    """The outcome for the rows not skipped: errors per sheet row number, and the households."""

    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    households: dict[tuple, list[dict]] = field(default_factory=dict)  # key -> rows in file order
    people: dict[int, dict] = field(default_factory=dict)  # sheet row -> clean person data
    places: dict[tuple, tuple[Area, Area]] = field(default_factory=dict)  # key -> (village, group)

    def add(self, row: int, key: str, message) -> None:
        self.errors.setdefault(row, {}).setdefault(key, []).append(str(message))


class Areas:
    """Visible villages by code and their groups, loaded with two queries."""

    def __init__(self, user: User):
        villages = db.session.scalars(
            scoped(sa.select(Area).where(Area.kind.in_(VILLAGE_KINDS)), Area, user)).all()
        self.villages = {v.code: v for v in villages}
        groups = db.session.scalars(
            sa.select(Area).where(Area.kind == "group", Area.parent_id.in_([v.id for v in villages]))).all()
        self.groups: dict[tuple[str, str], Area] = {(g.parent_id, g.code): g for g in groups}

    def group(self, village: Area, code: str) -> Area | None:
        """The group by its full code, or by the part after the village's code ("001")."""
        return self.groups.get((village.id, code)) or self.groups.get((village.id, village.code + code))


def check_rows(rows: list[dict], *, user: User, today: date, skip: frozenset[int] = frozenset()) -> Checked:
    out = Checked()
    areas = Areas(user)
    registered = _registered_ids(rows, areas)
    for row in rows:
        if row["row"] not in skip:
            _check_row(row, areas, today, out, registered)
    _check_households(out)
    _check_duplicate_ids(out)
    return out


def _registered_ids(rows: list[dict], areas: Areas) -> dict[str, set[str]]:
    """Town id → the file's ID numbers already in that town's register, in a few queries
    (one per 500 numbers) instead of one per row; compacted and upper-cased as the validator does."""
    numbers = sorted({ric.compact(row["cells"].get("id_number", "")).upper() for row in rows} - {""})
    towns = {v.parent_id for v in areas.villages.values()}
    found: dict[str, set[str]] = {town: set() for town in towns}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        for town_id, number in db.session.execute(
                sa.select(Person.town_id, Person.id_number)
                .where(Person.id_number.in_(chunk), Person.town_id.in_(towns))):
            found[town_id].add(number)
    return found


def _check_row(row: dict, areas: Areas, today: date, out: Checked, registered: dict[str, set[str]]) -> None:
    number, cells = row["row"], row["cells"]
    for key, messages in row.get("problems", {}).items():
        for message in messages:
            out.add(number, key, message)
    for key in ("village_code", "group_code", "household_number"):
        if not cells.get(key):
            out.add(number, key, _l("Please fill this in."))
    village = areas.villages.get(cells.get("village_code", ""))
    group = None
    if cells.get("village_code") and village is None:
        out.add(number, "village_code", _l("There is no village with this code among your villages."))
    elif village is not None and cells.get("group_code"):
        group = areas.group(village, cells["group_code"])
        if group is None:
            out.add(number, "group_code", _l("This village has no group with this code."))
    values, errors = person_values(cells)
    if _SCIENTIFIC.match(values["id_number"] or ""):
        errors["id_number"] = [str(_l("Excel stored this ID number as a number and lost its last digits. "
                                      "Format the column as text and type the number again."))]
    if "id_number" in errors or "id_number" in row.get("problems", {}):
        values["id_number"] = ""  # judged already; the other fields are still checked
    town_id = village.parent_id if village else ""
    clean, person_errors = validate_person(values, town_id=town_id, session=db.session, today=today,
                                           registered_ids=registered.get(town_id, set()))
    for key, messages in {**person_errors, **errors}.items():
        for message in messages:
            out.add(number, key, message)
    if group is not None and cells.get("household_number"):
        key = (group.id, cells["household_number"])
        out.households.setdefault(key, []).append(row)
        out.places[key] = (village, group)
    if clean:
        out.people[number] = clean


def _check_households(out: Checked) -> None:
    taken = _numbers_in_register({key for key in out.households})
    for key, rows in out.households.items():
        village, group = out.places[key]
        addresses = [r for r in rows if r["cells"].get("address")]
        heads = [r for r in rows if r["cells"].get("relation") == HEAD]
        if key in taken:
            for r in rows:
                out.add(r["row"], "household_number", _l(
                    "This household number is already in the register in this group. Add people to that "
                    "household on its page, or use a new number."))
        if not addresses:
            for r in rows:
                out.add(r["row"], "address", _l("Give the household's address on at least one of its rows."))
        else:
            first = addresses[0]
            _clean, errors = validate_household(
                {"group_id": group.id, "number": key[1], "address": first["cells"]["address"]},
                village_id=village.id, session=db.session)
            for name, messages in errors.items():
                for message in messages:
                    out.add(first["row"], "address" if name == "group_id" else name, message)
            for r in addresses[1:]:
                if r["cells"]["address"] != first["cells"]["address"]:
                    out.add(r["row"], "address", _l("The same household has another address in row %(row)s.",
                                                    row=first["row"]))
        if not heads:
            for r in rows:
                out.add(r["row"], "relation", _l("This household has no head: one of its rows needs 户主."))
        for r in heads[1:]:
            out.add(r["row"], "relation", _l("This household already has a head in row %(row)s.",
                                             row=heads[0]["row"]))


def _numbers_in_register(keys: set[tuple]) -> set[tuple]:
    """(group id, household number) pairs of the file that the register already holds."""
    if not keys:
        return set()
    groups = {g for g, _n in keys}
    rows = db.session.execute(sa.select(Household.group_id, Household.number)
                              .where(Household.group_id.in_(groups))).all()
    return {(g, n) for g, n in rows} & keys


def _check_duplicate_ids(out: Checked) -> None:
    rows_by_id: dict[str, list[int]] = defaultdict(list)
    for number, clean in out.people.items():
        if clean.get("id_number"):
            rows_by_id[clean["id_number"]].append(number)
    for numbers in rows_by_id.values():
        for number in numbers:
            others = "、".join(str(n) for n in numbers if n != number)
            if others:
                out.add(number, "id_number", _l("The same ID number is also in row %(rows)s.", rows=others))
