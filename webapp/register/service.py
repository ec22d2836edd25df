"""Writes to the register from the web forms, through the sync merge (see webapp/merging.py)."""
from __future__ import annotations

import uuid

from flask_login import current_user

from sync import REJECTED

from ..extensions import db
from ..merging import local_today, merge_from_server
from ..models import Area, Household, Person
from .schemas import validate_household, validate_person
from .sync_rules import PERSON_FIELDS

__all__ = ["local_today", "save_household", "save_person"]


def _merge_one(entity: str, entity_id: str, base_version: int, data: dict) -> dict:
    return merge_from_server(current_user._get_current_object(), entity, entity_id, base_version, data)


def save_household(household: Household | None, form: dict, group: Area):
    """Create (household=None, in ``group``) or update a household. Returns (household, errors)."""
    clean, errors = validate_household(form, village_id=group.parent_id, session=db.session)
    if errors:
        return household, errors
    entity_id = household.id if household else str(uuid.uuid4())
    result = _merge_one("household", entity_id, household.version if household else 0,
                        {"group_id": clean["group_id"], "number": clean["number"], "address": clean["address"]})
    if result["status"] == REJECTED:
        return household, result["errors"]
    return db.session.get(Household, entity_id), {}


def save_person(person: Person | None, form: dict, household: Household):
    """Create (person=None, in ``household``) or update a person. Returns (person, errors)."""
    clean, errors = validate_person(form, town_id=household.town_id, session=db.session,
                                    person_id=person.id if person else None, today=local_today())
    if errors:
        return person, errors
    entity_id = person.id if person else str(uuid.uuid4())
    data = {name: clean.get(name) for name in PERSON_FIELDS if name != "household_id"}
    data["household_id"] = household.id
    if data["status"] != "away":
        data["away_place"], data["away_contact"] = "", ""
    result = _merge_one("person", entity_id, person.version if person else 0, data)
    if result["status"] == REJECTED:
        return person, result["errors"]
    return db.session.get(Person, entity_id), {}
