"""Writes to the register from the web forms.

A form save is turned into a sync record and merged by the same engine as a phone's
outbox (sync.merge_batch with RegisterRules), so there is one way a change reaches the
register: same validation, same clocks and conflicts, same projection and audit.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_login import current_user

from sync import REJECTED, merge_batch

from ..extensions import db
from ..models import Area, Household, Person
from ..scope import village_ids_for
from ..sync_store import SqlStore
from .schemas import validate_household, validate_person
from .sync_rules import PERSON_FIELDS, RegisterRules


def local_today() -> date:
    return datetime.now(ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))).date()


def _json(value):
    return value.isoformat() if isinstance(value, date) else value


def _merge_one(entity: str, entity_id: str, base_version: int, data: dict) -> dict:
    """Merge one server-made record for the signed-in user; returns the engine's result."""
    user = current_user._get_current_object()
    villages = village_ids_for(user)
    rules = RegisterRules(user, villages, None, local_today())
    store = SqlStore(db.session, projections=rules.projections(), visible_villages=villages)
    now = datetime.now(timezone.utc)
    record = {"id": str(uuid.uuid4()), "type": entity, "entity_id": entity_id, "base_version": base_version,
              "client_time": now.isoformat(), "data": {k: _json(v) for k, v in data.items()}}
    [result] = merge_batch(store, [record], device_id=f"session-{user.id}", user_id=user.id, now=now,
                           rules=rules.rules())
    return result


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
