"""The ``visit`` record type: an event judged by its form definition, projected onto ``Visit``.

Registered from the blueprint (``register_sync_types``). A visit record's data is the
envelope ``form_id``, ``form_version``, ``household_id`` plus the answers by field name,
exactly what the outbox takes from the rendered form.

What must hold:

* The server judges a record by the *current* version of its form: a record made with an
  older version (the form changed while the phone was offline) is rejected with a
  ``form_version`` error, stays on the phone, and is fixed in the new form and sent again.
* The same answers the browser refused are refused here (validation.py).
* A change report's register change is merged in the same unit as the visit (changes.py);
  the Visit row is written once per visit id, so a resend never applies a change twice.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from sync import EventRule

from .. import audit
from ..extensions import db
from ..merging import server_now
from ..models import Household, Person
from ..register.sync_rules import WRITERS, RegisterRules
from . import changes
from .definitions import current_form, form_version
from .models import Visit
from .validation import validate_answers

log = logging.getLogger(__name__)
ENVELOPE = ("form_id", "form_version", "household_id")


def members_of(household_id: str) -> dict[str, str]:
    """Member ids → names: the choices of a ``member`` field (everyone ever in the household)."""
    rows = db.session.execute(sa.select(Person.id, Person.name).where(Person.household_id == household_id)
                              .order_by(Person.birth_date)).all()
    return {pid: name for pid, name in rows}


def split(data: dict) -> tuple[dict, dict]:
    return ({k: data.get(k) for k in ENVELOPE}, {k: v for k, v in data.items() if k not in ENVELOPE})


class VisitRules:
    def __init__(self, user, villages: frozenset[str] | None, device_id: str | None, today: date):
        self.user, self.villages, self.device_id, self.today = user, villages, device_id, today
        self.register = RegisterRules(user, villages, device_id, today)

    def allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in WRITERS:
            return _("Your role may not record visits.")
        household_id = data.get("household_id")
        household = db.session.get(Household, household_id) if isinstance(household_id, str) else None
        if household is not None and self.villages is not None and household.village_id not in self.villages:
            return _("This household is not in your villages.")
        return None

    def valid(self, data, entity_id, context):
        envelope, answers = split(data)
        definition = current_form(envelope["form_id"]) if isinstance(envelope["form_id"], str) else None
        if definition is None:
            return {"form_id": [_("Unknown form.")]}
        if envelope["form_version"] != definition["version"] and str(envelope["form_version"]) != str(
                definition["version"]):
            return {"form_version": [_("This form was changed to version %(version)s while this visit waited on "
                                       "the phone. Open it again, check the answers and save.",
                                       version=definition["version"])]}
        household_id = envelope["household_id"]
        household = db.session.get(Household, household_id) if isinstance(household_id, str) else None
        if household is None:
            return {"household_id": [_("This household is not on the server yet. Send it first.")]}
        clean, errors = validate_answers(definition, answers, today=self.today, members=members_of(household.id))
        if errors:
            return errors
        if definition["form_id"] == changes.CHANGE_FORM:
            return changes.change_errors(self.register, entity_id, household, clean, context)
        return {}

    def project(self, event, store) -> str | None:
        """Write the Visit row (and the register change) once; later calls only name the village."""
        household = db.session.get(Household, event.data.get("household_id"))
        if db.session.get(Visit, event.entity_id) is not None or not event.counted:
            return household.village_id
        envelope, answers = split(event.data)
        definition = form_version(envelope["form_id"], int(envelope["form_version"]))
        clean, _errors = validate_answers(definition, answers, today=self.today, members=members_of(household.id))
        change = None
        if definition["form_id"] == changes.CHANGE_FORM:
            change = changes.apply_change(store, self.register, event.entity_id, household, clean, event, server_now())
            if change and change["status"] == "rejected":
                log.error("visit %s: its register change %s was refused", event.entity_id, change["record_id"])
        at = datetime.fromtimestamp(event.stamp.physical_ms / 1000, tz=timezone.utc)
        local_zone = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
        person_id = change["entity_id"] if change else clean.get("person_id")
        visit = Visit(id=event.entity_id, record_id=event.record_id, form_id=definition["form_id"],
                      form_version=definition["version"], household_id=household.id, person_id=person_id,
                      village_id=household.village_id, user_id=self.user.id, device_id=event.device_id,
                      kind=str(clean.get("kind") or "") if definition["form_id"] == changes.CHANGE_FORM else "",
                      answers=clean, register_change=change, visited_at=at.replace(tzinfo=None),
                      visited_on=at.astimezone(local_zone).date())
        db.session.add(visit)
        db.session.flush()
        audit.record("create", "visit", visit.id, None,
                     {"form_id": visit.form_id, "form_version": visit.form_version, "household_id": household.id,
                      "person_id": person_id, "kind": visit.kind}, user=self.user, device_id=self.device_id)
        return household.village_id

    def rules(self) -> dict:
        return {"visit": EventRule(validate=self.valid, allowed=self.allowed)}

    def event_projections(self) -> dict:
        return {"visit": self.project}
