"""What a change report does to the register: one person record, merged like any other.

A change report is a visit (an event); its register effect is a ``person`` sync record
derived from it and merged through the same engine, rules, projection and audit as a
phone's own person edit (``apply_change`` below, called from the visit's projection).

What must hold:

* Idempotent: the derived record's id is uuid5 of the *visit's* entity id, and a new
  person's id (birth, marriage in, moved in) is uuid5 of it too. A batch sent twice, or a
  rejected visit fixed and resent (same entity id), merges the change once and creates the
  person once, with the same id on every server.
* Judged before it is stored: ``change_errors`` runs the register's own person checks on
  the derived record while the visit is validated, so a visit is never accepted with a
  register change that would be refused.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask_babel import gettext as _

from sync import REJECTED, Record, merge_in_unit

from ..extensions import db
from ..models import Household, Person
from ..register.sync_rules import PERSON_FIELDS, person_fields

NAMESPACE = uuid.UUID("6f1d3c2a-8b0e-5d7f-9a41-2c6e0b7d5e13")
NEW_PERSON_KINDS = ("birth", "marriage_in", "moved_in")
STATUS_FOR_KIND = {"death": "deceased", "marriage_out": "moved_out", "moved_out": "moved_out",
                   "away_for_work": "away", "returned": "resident"}
KINDS = ("birth", "death", "marriage_in", "marriage_out", "divorce", "moved_in", "moved_out",
         "away_for_work", "returned")
CHANGE_FORM = "change_report"


def new_person_id(visit_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"visit:{visit_id}:person"))


def derived_record_id(visit_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"visit:{visit_id}:register"))


def person_change(visit_id: str, household: Household, answers: dict) -> tuple[str, dict] | None:
    """(person id, person data) this change report writes, or None (divorce: the report is the record)."""
    kind = answers.get("kind")
    if kind in NEW_PERSON_KINDS:
        data = {name: None for name in PERSON_FIELDS}
        data.update(household_id=household.id, name=answers.get("name"), sex=answers.get("sex"),
                    birth_date=answers.get("birth_date"), relation=answers.get("relation") or "",
                    status="resident", away_place="", away_contact="", enrolled=False)
        return new_person_id(visit_id), data
    status = STATUS_FOR_KIND.get(kind)
    person_id = answers.get("person_id")
    if status is None or not person_id:
        return None
    if status == "away":
        return person_id, {"status": "away", "away_place": answers.get("away_place") or "",
                           "away_contact": answers.get("away_contact") or ""}
    return person_id, {"status": status, "away_place": "", "away_contact": ""}


def change_errors(register_rules, visit_id: str, household: Household, answers: dict, context: dict) -> dict:
    """The register's verdict on the derived person record, keyed by the report's field names."""
    change = person_change(visit_id, household, answers)
    if change is None:
        return {}
    person_id, data = change
    current = db.session.get(Person, person_id)
    if current is not None and current.household_id != household.id:
        return {"person_id": [_("This person is not in this household.")]}
    values = {**(person_fields(current) if current is not None else {}), **data}
    fake = Record(id=derived_record_id(visit_id), type="person", entity_id=person_id, base_version=None,
                  client_time=context["record"].client_time, data=data)
    return register_rules.person_valid(values, person_id, {**context, "record": fake}) or {}


def apply_change(store, register_rules, visit_id: str, household: Household, answers: dict, event, now) -> dict | None:
    """Merge the derived person record; returns what the visit notes about it."""
    change = person_change(visit_id, household, answers)
    if change is None:
        return None
    person_id, data = change
    current = db.session.get(Person, person_id)
    client_time = datetime.fromtimestamp(event.stamp.physical_ms / 1000, tz=timezone.utc)
    raw = {"id": derived_record_id(visit_id), "type": "person", "entity_id": person_id,
           "base_version": current.version if current is not None else None,
           "client_time": client_time.isoformat(timespec="milliseconds"), "data": data}
    # In the visit's own unit and store: the visit and its register change are kept or rolled
    # back together, and the change gets its seq and sync rows like any other record.
    result = merge_in_unit(store, raw, device_id=event.device_id, user_id=event.user_id, now=now,
                           rules=register_rules.rules())
    return {"entity": "person", "entity_id": person_id, "record_id": raw["id"], "status": result["status"],
            "errors": result["errors"] if result["status"] == REJECTED else {}}
