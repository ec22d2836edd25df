"""Open conflicts in a user's villages, with the names and people a supervisor needs to decide."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, current_app

from sync import stamp_from_str

from .. import audit
from ..extensions import db
from ..merging import merge_from_server
from ..models import Area, Household, Person, SyncConflict, SyncEntity, SyncRecord, User, utcnow
from ..scope import village_ids_for

RESOLVERS = ("supervisor", "admin")


@dataclass
class Choice:
    record_id: str
    value: object
    who: str
    when: datetime
    current: bool


def open_conflicts(user) -> list[SyncConflict]:
    stmt = sa.select(SyncConflict).where(SyncConflict.is_conflict.is_(True), SyncConflict.resolved_at.is_(None))
    villages = village_ids_for(user)
    if villages is not None:
        stmt = stmt.where(SyncConflict.village_id.in_(villages))
    return list(db.session.scalars(stmt.order_by(SyncConflict.village_id, SyncConflict.entity_id, SyncConflict.id)))


def conflict_in_scope(user, conflict_id: int) -> SyncConflict:
    """The conflict, or 404 when it is missing, resolved or outside the user's villages."""
    if user.role not in RESOLVERS:
        abort(404)
    conflict = db.session.get(SyncConflict, conflict_id)
    villages = village_ids_for(user)
    if conflict is None or (villages is not None and conflict.village_id not in villages):
        abort(404)
    return conflict


def _who(record_id: str) -> str:
    """The name of whoever sent an edit, from the record as it was received (its user, not its
    device: browsers name their own devices, and one phone may serve several users)."""
    raw = db.session.get(SyncRecord, record_id.lower())
    user = db.session.get(User, raw.user_id) if raw is not None else None
    return (user.display_name or user.username) if user else "?"


def choices(conflict: SyncConflict) -> list[Choice]:
    state = db.session.get(SyncEntity, (conflict.entity, conflict.entity_id))
    current = state.fields.get(conflict.field) if state else None
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    out = []
    for record_id, c in conflict.competitors.items():
        stamp = stamp_from_str(c["stamp"])
        when = datetime.fromtimestamp(stamp.physical_ms / 1000, timezone.utc).astimezone(tz)
        out.append(Choice(record_id, c["value"], _who(record_id), when, c["value"] == current))
    return sorted(out, key=lambda choice: choice.when)


def subject(conflict: SyncConflict) -> tuple[str, str | None]:
    """A readable name for the entity and the URL of its page."""
    if conflict.entity == "person":
        person = db.session.get(Person, conflict.entity_id)
        return (person.name, f"/people/{person.id}") if person else ("?", None)
    household = db.session.get(Household, conflict.entity_id)
    return (household.address, f"/households/{household.id}") if household else ("?", None)


def village_names(conflicts: list[SyncConflict]) -> dict[str, str]:
    ids = {c.village_id for c in conflicts if c.village_id}
    return dict(db.session.execute(sa.select(Area.id, Area.name).where(Area.id.in_(ids))).all()) if ids else {}


def resolve(user, conflict: SyncConflict, record_id: str) -> dict | None:
    """Keep the chosen value: when it is not the current one, merge it as a new change (audited
    like any other); then close the conflict. Returns the merge result's errors, if any."""
    chosen = conflict.competitors.get(record_id)
    if chosen is None:
        abort(404)
    state = db.session.get(SyncEntity, (conflict.entity, conflict.entity_id))
    if state.fields.get(conflict.field) != chosen["value"]:
        result = merge_from_server(user, conflict.entity, conflict.entity_id, state.version,
                                   {conflict.field: chosen["value"]})
        if result["errors"]:
            return result["errors"]
        conflict = db.session.get(SyncConflict, conflict.id)
    conflict.resolved_at, conflict.resolved_by = utcnow(), user.id
    conflict.resolution = {"record_id": record_id, "value": chosen["value"]}
    audit.record("resolve", "conflict", str(conflict.id), None, conflict.resolution, user=user)
    db.session.commit()
    return None
