"""Writes to the register: one function per change, each in one transaction with its audit entry."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..extensions import db
from ..models import Area, Household, Person
from ..pinyin import pinyin_keys
from .schemas import HEAD, validate_household, validate_person

PERSON_FIELDS = ("name", "sex", "birth_date", "id_number", "phone", "relation", "status",
                 "away_place", "away_contact", "enrolled", "household_id", "group_id")
HOUSEHOLD_FIELDS = ("number", "address", "group_id", "head_id")


def local_today() -> date:
    return datetime.now(ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))).date()


def _place_in(obj, group: Area) -> None:
    """Households and people carry their village and town so scope checks are one comparison."""
    obj.group_id = group.id
    obj.village_id = group.parent.id
    obj.town_id = group.parent.parent.id


def save_household(household: Household | None, form: dict, group: Area):
    """Create (household=None, in ``group``) or update a household. Returns (household, errors)."""
    village_id = group.parent_id
    clean, errors = validate_household(form, village_id=village_id, session=db.session)
    if errors:
        return household, errors
    new_group = db.session.get(Area, clean["group_id"])
    if household is None:
        household = Household(number=clean["number"], address=clean["address"], version=1)
        _place_in(household, new_group)
        db.session.add(household)
        db.session.flush()
        audit.record("create", "household", household.id, None, audit.snapshot(household, HOUSEHOLD_FIELDS))
    else:
        before = audit.snapshot(household, HOUSEHOLD_FIELDS)
        household.number, household.address = clean["number"], clean["address"]
        if household.group_id != new_group.id:
            _move_members(household, new_group)
        _place_in(household, new_group)
        household.version += 1
        audit.record("update", "household", household.id, before, audit.snapshot(household, HOUSEHOLD_FIELDS))
    db.session.commit()
    return household, {}


def _move_members(household: Household, group: Area) -> None:
    """People carry their group too: moving a household moves its members (each change audited)."""
    for person in household.members:
        before = audit.snapshot(person, PERSON_FIELDS)
        _place_in(person, group)
        person.version += 1
        audit.record("update", "person", person.id, before, audit.snapshot(person, PERSON_FIELDS))


def save_person(person: Person | None, form: dict, household: Household):
    """Create (person=None, in ``household``) or update a person. Returns (person, errors)."""
    group = household.group
    clean, errors = validate_person(form, town_id=group.parent.parent.id, session=db.session,
                                    person_id=person.id if person else None, today=local_today())
    if errors:
        return person, errors
    creating = person is None
    before = None if creating else audit.snapshot(person, PERSON_FIELDS)
    if creating:
        person = Person(household_id=household.id, version=1)
        db.session.add(person)
    if creating or person.name != clean["name"] or not person.name_pinyin:
        person.name_pinyin, person.name_initials = pinyin_keys(clean["name"])
    for name, value in clean.items():
        setattr(person, name, value)
    if clean["status"] != "away":
        person.away_place, person.away_contact = "", ""
    _place_in(person, group)
    if not creating:
        person.version += 1
    try:
        db.session.flush()
    except IntegrityError:  # two saves of the same ID number racing each other
        db.session.rollback()
        return person, {"id_number": [str(_l("This ID number is already registered in this town."))]}
    audit.record("create" if creating else "update", "person", person.id, before,
                 audit.snapshot(person, PERSON_FIELDS))
    if clean["relation"] == HEAD and household.head_id != person.id:
        household_before = audit.snapshot(household, HOUSEHOLD_FIELDS)
        household.head_id = person.id
        household.version += 1
        audit.record("update", "household", household.id, household_before,
                     audit.snapshot(household, HOUSEHOLD_FIELDS))
    db.session.commit()
    return person, {}
