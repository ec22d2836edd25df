"""Merge rules for register entities (person, household), given to sync.merge_batch.

The same validators as the web forms (schemas.py) judge every record, so a record the
phone accepted offline and a form the server renders agree on what is valid. Projections
write the merged state into the Person and Household tables, audited, in the same unit.
"""
from __future__ import annotations

import logging
from datetime import date

from flask_babel import gettext as _

from sync import EntityRule, EntityState

from .. import audit
from ..extensions import db
from ..models import Area, Household, Person
from ..pinyin import pinyin_keys
from ..sync_store import Projection
from .schemas import HEAD, validate_household, validate_person

log = logging.getLogger(__name__)

PERSON_FIELDS = ("household_id", "name", "sex", "birth_date", "id_number", "phone", "relation", "status",
                 "away_place", "away_contact", "enrolled")
HOUSEHOLD_FIELDS = ("group_id", "number", "address")
WRITERS = ("admin", "supervisor", "worker")


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value


def person_fields(person: Person) -> dict:
    return {name: _plain(getattr(person, name)) for name in PERSON_FIELDS}


def household_fields(household: Household) -> dict:
    return {name: getattr(household, name) for name in HOUSEHOLD_FIELDS}


def linked_field_errors(data: dict) -> dict:
    """Fields whose rules tie them together must arrive in one record.

    Records are judged on their own proposal, and fields merge one by one (last writer
    wins). A rule spanning two fields therefore only holds in every arrival order when
    the latest writer of one is the latest writer of the other: a place comes with its
    status, "away" comes with its place, and an ID number with the birth date it encodes.
    """
    errors = {}
    if "away_place" in data and "status" not in data:
        errors["status"] = [_("Send the status together with the place.")]
    if data.get("status") == "away" and "away_place" not in data:
        errors["away_place"] = [_("Say where the person is when they are away.")]
    if ("id_number" in data) != ("birth_date" in data):
        errors["birth_date"] = [_("Send the date of birth together with the ID number.")]
    return errors


class RegisterRules:
    """Rules and projections for one user's request; ``villages`` None means every village."""

    def __init__(self, user, villages: frozenset[str] | None, device_id: str | None, today: date):
        self.user, self.villages, self.device_id, self.today = user, villages, device_id, today

    def _visible(self, village_id: str | None) -> bool:
        return self.villages is None or village_id in self.villages

    # -- scope -----------------------------------------------------------------------------
    def person_allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in WRITERS:
            return _("Your role may not change the register.")
        row = db.session.get(Person, entity_id)
        if row is not None and not self._visible(row.village_id):
            return _("This person is not in your villages.")
        household_id = data.get("household_id") or (row.household_id if row else None)
        household = db.session.get(Household, household_id) if isinstance(household_id, str) else None
        if household is not None and not self._visible(household.village_id):
            return _("This household is not in your villages.")
        return None

    def household_allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in WRITERS:
            return _("Your role may not change the register.")
        row = db.session.get(Household, entity_id)
        if row is not None and not self._visible(row.village_id):
            return _("This household is not in your villages.")
        group_id = data.get("group_id")
        group = db.session.get(Area, group_id) if isinstance(group_id, str) else None
        if group is not None and (group.kind != "group" or not self._visible(group.parent_id)):
            return _("This group is not in your villages.")
        return None

    # -- validation ------------------------------------------------------------------------
    def person_valid(self, values, entity_id, context):
        linked = linked_field_errors(context["record"].data)
        if linked:
            return linked
        household_id = values.get("household_id")
        household = db.session.get(Household, household_id) if isinstance(household_id, str) else None
        if household is None:
            return {"household_id": [_("This household is not on the server yet. Send it first.")]}
        _clean, errors = validate_person(values, town_id=household.town_id, session=db.session,
                                         person_id=entity_id, today=self.today)
        return errors

    def household_valid(self, values, entity_id, context):
        group_id = values.get("group_id")
        group = db.session.get(Area, group_id) if isinstance(group_id, str) else None
        if group is None or group.kind != "group":
            return {"group_id": [_("Choose a group.")]}
        current = db.session.get(Household, entity_id)
        village_id = current.village_id if current is not None else group.parent_id  # no moves across villages
        _clean, errors = validate_household(values, village_id=village_id, session=db.session)
        return errors

    # -- projections -----------------------------------------------------------------------
    def _load_person(self, entity_id):
        row = db.session.get(Person, entity_id)
        return None if row is None else (person_fields(row), row.version)

    def _load_household(self, entity_id):
        row = db.session.get(Household, entity_id)
        return None if row is None else (household_fields(row), row.version)

    def _write_person(self, state: EntityState, before: dict | None) -> str | None:
        household = db.session.get(Household, state.fields["household_id"])
        clean, errors = validate_person(state.fields, town_id=household.town_id, session=db.session,
                                        person_id=state.entity_id, today=self.today)
        if errors:  # linked_field_errors keeps merged states valid; never fail silently if one is not
            log.error("merged person %s is not valid (%s); its fields are kept in sync_entity",
                      state.entity_id, ", ".join(sorted(errors)))
        person = db.session.get(Person, state.entity_id)
        creating = person is None
        if creating:
            person = Person(id=state.entity_id)
        for name, value in clean.items():
            if name not in errors and name in PERSON_FIELDS:
                setattr(person, name, value)
        person.name_pinyin, person.name_initials = pinyin_keys(person.name)
        if person.status != "away":
            person.away_place, person.away_contact = "", ""
        person.household_id = household.id
        person.group_id, person.village_id, person.town_id = household.group_id, household.village_id, household.town_id
        person.version = state.version
        if creating:
            db.session.add(person)
        db.session.flush()
        if person.relation == HEAD and household.head_id != person.id:
            audit.record("update", "household", household.id, {"head_id": household.head_id},
                         {"head_id": person.id}, user=self.user, device_id=self.device_id)
            household.head_id = person.id
        audit.record("create" if before is None else "update", "person", person.id, before,
                     person_fields(person), user=self.user, device_id=self.device_id)
        return person.village_id

    def _write_household(self, state: EntityState, before: dict | None) -> str | None:
        group = db.session.get(Area, state.fields["group_id"])
        village = db.session.get(Area, group.parent_id)
        place = {"group_id": group.id, "village_id": village.id, "town_id": village.parent_id}
        household = db.session.get(Household, state.entity_id)
        creating = household is None
        if creating:  # every column set before the row joins the session (no early autoflush)
            household = Household(id=state.entity_id, **place)
        moved = not creating and household.group_id != group.id
        household.number = state.fields.get("number") or ""
        household.address = (state.fields.get("address") or "").strip()
        for name, value in place.items():
            setattr(household, name, value)
        household.version = state.version
        if creating:
            db.session.add(household)
        elif moved:  # members carry their group too
            for member in household.members:
                for name, value in place.items():
                    setattr(member, name, value)
        db.session.flush()
        audit.record("create" if before is None else "update", "household", household.id, before,
                     household_fields(household), user=self.user, device_id=self.device_id)
        return household.village_id

    # -- what merge_batch and SqlStore take ------------------------------------------------
    def rules(self) -> dict:
        return {
            "person": EntityRule(PERSON_FIELDS, validate=self.person_valid, allowed=self.person_allowed),
            "household": EntityRule(HOUSEHOLD_FIELDS, validate=self.household_valid, allowed=self.household_allowed),
        }

    def projections(self) -> dict[str, Projection]:
        return {
            "person": Projection(load=self._load_person, write=self._write_person),
            "household": Projection(load=self._load_household, write=self._write_household),
        }
