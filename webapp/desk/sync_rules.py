"""The desk's record types: ``signin``, ``signin_undo`` and ``absence`` (all events).

* ``signin`` ``{"day_id", "person_id"?, "desk"?, "walk_in"?: {"reason", "name"?, "village_id"?,
  "phone"?}}``. Its unique key is (day, person) — for a walk-in who is not in the register,
  (day, the sign-in's entity id). The earliest sign-in counts; one made later at another desk
  is answered ``duplicate`` and kept (DESIGN.md §4, property 5). The time is the record's
  client time, clamped by the server clock like every stamp.
* ``signin_undo`` ``{"signin_id", "day_id", "person_id", "reason"?}``: a mistaken sign-in is
  undone by a fact, not deleted. It may arrive before the sign-in it undoes (another desk's
  phone came back first); both orders end the same.
* ``absence`` ``{"day_id", "person_id", "reason", "note"?, "certificate_on"?,
  "certificate_place"?}``: why someone did not come; the latest statement by stamp stands.

What must hold: the ``Attendance`` row is a function of the set of events received (never of
their order): ``recompute_signin`` reads every sign-in and undo of the key each time, and an
absence statement replaces the standing one only when its stamp is later.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from sync import Event, EventRule
from sync.hlc import stamp_to_str

from .. import audit
from ..checkups.models import CheckupDay, Invitation, checkup_day_area
from ..extensions import db
from ..models import Area, Person, new_id
from .models import ABSENCE_REASONS, SIGNIN_ROLES, Attendance

ABSENCE_ROLES = ("admin", "supervisor", "desk", "worker")
MAX_SKEW = timedelta(minutes=5)
PHONE = re.compile(r"^\+?[0-9 -]{3,20}$")


def signin_key(data: dict, entity_id: str) -> tuple | None:
    day_id = data.get("day_id")
    person = data.get("person_id") or entity_id
    return (day_id, person) if isinstance(day_id, str) and isinstance(person, str) else None


def undo_key(data: dict) -> tuple | None:
    signin_id = data.get("signin_id")
    return (signin_id,) if isinstance(signin_id, str) else None


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))


def _local_date(moment: datetime) -> date:
    return moment.astimezone(_zone()).date()


def _stamp_time(event: Event) -> datetime:
    return datetime.fromtimestamp(event.stamp.physical_ms / 1000, tz=timezone.utc)


def _text(value, limit: int) -> str | None:
    """The stripped text, or None when it is not a string or too long."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value.strip()) > limit:
        return None
    return value.strip()


class DeskRules:
    def __init__(self, user, villages: frozenset[str] | None, device_id: str | None, today: date):
        self.user, self.villages, self.device_id, self.today = user, villages, device_id, today
        self._day_areas: dict[str, frozenset[str]] = {}

    # -- lookups ---------------------------------------------------------------------------
    @staticmethod
    def _get(model, value):
        return db.session.get(model, value) if isinstance(value, str) and len(value) <= 64 else None

    def _areas_of(self, day: CheckupDay) -> tuple[frozenset[str], frozenset[str]]:
        """The day's own areas (villages or single groups) and the villages they lie in."""
        if day.id not in self._day_areas:
            rows = db.session.execute(
                sa.select(Area.id, Area.kind, Area.parent_id).join(checkup_day_area, checkup_day_area.c.area_id == Area.id)
                .where(checkup_day_area.c.day_id == day.id)).all()
            self._day_areas[day.id] = (frozenset(r.id for r in rows),
                                       frozenset(r.parent_id if r.kind == "group" else r.id for r in rows))
        return self._day_areas[day.id]

    def _covers(self, day: CheckupDay, village_id: str, group_id: str | None = None) -> bool:
        areas, _villages = self._areas_of(day)
        return village_id in areas or (group_id is not None and group_id in areas)

    @staticmethod
    def _invitation(day_id: str, person_id: str | None) -> Invitation | None:
        if person_id is None:
            return None
        return db.session.scalar(sa.select(Invitation).where(
            Invitation.day_id == day_id, Invitation.person_id == person_id, Invitation.active.is_(True)))

    def _village_of(self, data: dict) -> str | None:
        person = self._get(Person, data.get("person_id"))
        if person is not None:
            return person.village_id
        walk_in = data.get("walk_in")
        if isinstance(walk_in, dict) and isinstance(walk_in.get("village_id"), str):
            return walk_in["village_id"]
        return None

    def _in_scope(self, village_id: str | None) -> bool:
        return village_id is None or self.villages is None or village_id in self.villages

    def _check_day(self, data: dict, errors: dict) -> CheckupDay | None:
        day = self._get(CheckupDay, data.get("day_id"))
        if day is None or (self.villages is not None and not (self._areas_of(day)[1] & self.villages)):
            errors["day_id"] = [_("This check-up day does not exist.")]
            return None
        if not day.active:
            errors["day_id"] = [_("This check-up day was cancelled.")]
        return day

    # -- signin ----------------------------------------------------------------------------
    def signin_allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in SIGNIN_ROLES:
            return _("Your role may not sign people in.")
        if not self._in_scope(self._village_of(data)):
            return _("This person is not in your villages.")
        return None

    def signin_valid(self, data, entity_id, context):
        errors: dict[str, list[str]] = {}
        for name in set(data) - {"day_id", "person_id", "desk", "walk_in"}:
            errors[name] = [_("Unknown field.")]
        if _text(data.get("desk"), 40) is None:
            errors["desk"] = [_("The desk name is at most 40 characters.")]
        day = self._check_day(data, errors)
        walk_in = data.get("walk_in")
        if walk_in is not None and not isinstance(walk_in, dict):
            errors["walk_in"] = [_("Describe the walk-in.")]
            walk_in = None
        if day is None:
            return errors
        signed = min(context["record"].client_time, context["now"] + MAX_SKEW)
        if _local_date(signed) < day.date:
            errors["day_id"] = [_("This check-up day has not begun: sign-in opens on %(date)s.",
                                  date=day.date.isoformat())]
        person_id = data.get("person_id")
        if person_id is not None:
            person = self._get(Person, person_id)
            if person is None:
                errors["person_id"] = [_("This person is not on the server yet.")]
                return errors
            if not self._covers(day, person.village_id, person.group_id):
                errors["person_id"] = [_("This person's village is not part of this check-up day.")]
            invited = self._invitation(day.id, person.id) is not None
            if not invited and not (walk_in and _text(walk_in.get("reason"), 200)):
                errors["walk_in"] = [_("%(name)s is not on this day's list: give the reason for the walk-in.",
                                       name=person.name)]
            if walk_in is not None:
                errors.update(self._walk_in_errors(walk_in, day, needs_person=False))
        elif walk_in is None:
            errors["person_id"] = [_("Choose the person to sign in, or add a walk-in.")]
        else:
            errors.update(self._walk_in_errors(walk_in, day, needs_person=True))
        return errors

    def _walk_in_errors(self, walk_in: dict, day: CheckupDay, *, needs_person: bool) -> dict:
        errors: dict[str, list[str]] = {}
        allowed = {"reason", "name", "village_id", "phone"} if needs_person else {"reason", "phone"}
        for name in set(walk_in) - allowed:
            errors[f"walk_in.{name}"] = [_("Unknown field.")]
        if not _text(walk_in.get("reason"), 200):
            errors["walk_in.reason"] = [_("Give the reason for the walk-in (at most 200 characters).")]
        phone = walk_in.get("phone")
        if phone not in (None, "") and not (isinstance(phone, str) and PHONE.match(phone)):
            errors["walk_in.phone"] = [_("Enter a phone number of digits only.")]
        if needs_person:
            if not _text(walk_in.get("name"), 50):
                errors["walk_in.name"] = [_("Enter the walk-in's name (at most 50 characters).")]
            village_id = walk_in.get("village_id")
            if not isinstance(village_id, str) or village_id not in self._areas_of(day)[1]:
                errors["walk_in.village_id"] = [_("Choose one of this day's villages.")]
            elif not self._in_scope(village_id):
                errors["walk_in.village_id"] = [_("This village is not yours.")]
        return errors

    # -- signin_undo -----------------------------------------------------------------------
    def undo_allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in SIGNIN_ROLES:
            return _("Your role may not sign people in.")
        row = self._attendance(data.get("day_id"), data.get("person_id"))
        village = row.village_id if row is not None else self._village_of(data)
        if not self._in_scope(village):
            return _("This person is not in your villages.")
        return None

    def undo_valid(self, data, entity_id, context):
        errors: dict[str, list[str]] = {}
        for name in set(data) - {"signin_id", "day_id", "person_id", "reason"}:
            errors[name] = [_("Unknown field.")]
        if not isinstance(data.get("signin_id"), str) or not isinstance(data.get("person_id"), str):
            errors["signin_id"] = [_("Choose the sign-in to undo.")]
        if _text(data.get("reason"), 200) is None:
            errors["reason"] = [_("The reason is at most 200 characters.")]
        day = self._check_day(data, errors)
        if errors or day is None:
            return errors
        signins = context["store"].events_by_key("signin", (day.id, data["person_id"]))
        target = next((e for e in signins if e.record_id == data["signin_id"]), None)
        if target is not None:
            undone_on = _local_date(min(context["record"].client_time, context["now"] + MAX_SKEW))
            if undone_on != _local_date(_stamp_time(target)):
                errors["signin_id"] = [_("A sign-in can only be undone on the day it was made.")]
        return errors

    # -- absence ---------------------------------------------------------------------------
    def absence_allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in ABSENCE_ROLES:
            return _("Your role may not record absences.")
        if not self._in_scope(self._village_of({"person_id": data.get("person_id")})):
            return _("This person is not in your villages.")
        return None

    def absence_valid(self, data, entity_id, context):
        errors: dict[str, list[str]] = {}
        fields = {"day_id", "person_id", "reason", "note", "certificate_on", "certificate_place"}
        for name in set(data) - fields:
            errors[name] = [_("Unknown field.")]
        day = self._check_day(data, errors)
        person = self._get(Person, data.get("person_id"))
        if person is None:
            errors["person_id"] = [_("This person is not on the server yet.")]
        elif day is not None and not self._covers(day, person.village_id, person.group_id):
            errors["person_id"] = [_("This person's village is not part of this check-up day.")]
        if data.get("reason") not in ABSENCE_REASONS:
            errors["reason"] = [_("Choose why the person did not come.")]
        if _text(data.get("note"), 200) is None:
            errors["note"] = [_("The note is at most 200 characters.")]
        if _text(data.get("certificate_place"), 100) is None:
            errors["certificate_place"] = [_("The place is at most 100 characters.")]
        received = data.get("certificate_on")
        if received not in (None, ""):
            try:
                on = date.fromisoformat(received) if isinstance(received, str) else None
            except ValueError:
                on = None
            if on is None:
                errors["certificate_on"] = [_("Enter the date the certificate was received.")]
            elif on > self.today + timedelta(days=1):
                errors["certificate_on"] = [_("The date cannot be in the future.")]
            elif data.get("reason") != "away":
                errors["certificate_on"] = [_("A certificate is recorded for people away.")]
        return errors

    # -- projections -----------------------------------------------------------------------
    def _attendance(self, day_id, person_key) -> Attendance | None:
        if not isinstance(day_id, str) or not isinstance(person_key, str):
            return None
        return db.session.scalar(sa.select(Attendance).where(Attendance.day_id == day_id,
                                                             Attendance.person_key == person_key))

    def _row(self, day_id: str, person_key: str, data: dict) -> Attendance:
        """The row of (day, person), made on the first event that names them."""
        row = self._attendance(day_id, person_key)
        if row is not None:
            return row
        person = self._get(Person, data.get("person_id"))
        walk_in = data.get("walk_in") if isinstance(data.get("walk_in"), dict) else {}
        invitation = self._invitation(day_id, person.id if person else None)
        row = Attendance(id=new_id(), day_id=day_id, person_key=person_key, person_id=person.id if person else None,
                         invitation_id=invitation.id if invitation else None,
                         village_id=person.village_id if person else walk_in.get("village_id"),
                         group_id=person.group_id if person else None)
        db.session.add(row)
        return row

    def _audit_new(self, event: Event, known: list[Event], after: dict) -> None:
        """One audit entry per event, when it first arrives (a projection runs again when an
        earlier event takes the count over)."""
        if not any(e.record_id == event.record_id for e in known):
            audit.record("create", event.type, event.entity_id, None, after, user=self.user, device_id=self.device_id)

    def project_signin(self, event: Event, store) -> str | None:
        day_id, person_key = signin_key(event.data, event.entity_id)
        known = store.events_by_key("signin", (day_id, person_key))
        row = self.recompute_signin(store, day_id, person_key, event)
        self._audit_new(event, known, {"day_id": day_id, "person": person_key, "desk": row.signed_desk if
                                       row.signin_record_id == event.record_id else event.data.get("desk", ""),
                                       "walk_in": isinstance(event.data.get("walk_in"), dict),
                                       "counted": row.signin_record_id == event.record_id})
        return row.village_id

    def project_undo(self, event: Event, store) -> str | None:
        day_id, person_key = event.data["day_id"], event.data["person_id"]
        row = self._attendance(day_id, person_key)
        if row is None:
            # The sign-in it undoes has not arrived: nothing to show yet (the sign-in will
            # find this undo by its key); the person's village still lets desks pull it.
            self._audit_new(event, store.events_by_key("signin_undo", (event.data["signin_id"],)),
                            {"day_id": day_id, "person": person_key, "signin": event.data["signin_id"]})
            return self._village_of({"person_id": person_key})
        known = store.events_by_key("signin_undo", (event.data["signin_id"],))
        self.recompute_signin(store, day_id, person_key, event)
        self._audit_new(event, known, {"day_id": day_id, "person": person_key, "signin": event.data["signin_id"],
                                       "signed_in": row.signed_in})
        return row.village_id

    def recompute_signin(self, store, day_id: str, person_key: str, incoming: Event) -> Attendance:
        """Attendance = the earliest sign-in of (day, person) not undone; the rest are duplicates.

        ``incoming`` is the event being stored (not yet in the store's key lists)."""
        signins = {e.record_id: e for e in store.events_by_key("signin", (day_id, person_key))}
        if incoming.type == "signin":
            signins[incoming.record_id] = incoming
        undone = set()
        for record_id in signins:
            undos = store.events_by_key("signin_undo", (record_id,))
            if undos or (incoming.type == "signin_undo" and incoming.data.get("signin_id") == record_id):
                undone.add(record_id)
        standing = sorted((e for e in signins.values() if e.record_id not in undone), key=lambda e: e.stamp)
        first = standing[0] if standing else None
        source = first or incoming
        row = self._row(day_id, person_key, source.data if source.type == "signin" else incoming.data)
        if first is None:
            row.signin_record_id = row.signed_in_at = row.signed_in_on = row.signed_by = None
            row.signed_device = row.signed_desk = ""
        else:
            at = _stamp_time(first)
            walk_in = first.data.get("walk_in") if isinstance(first.data.get("walk_in"), dict) else None
            row.signin_record_id = first.record_id
            row.signed_in_at, row.signed_in_on = at.replace(tzinfo=None), _local_date(at)
            row.signed_by, row.signed_device = first.user_id, first.device_id[:64]
            row.signed_desk = (first.data.get("desk") or "").strip()
            row.walk_in = walk_in is not None and row.invitation_id is None  # invited since the desk's roster
            row.walk_in_reason = (walk_in or {}).get("reason", "").strip()
            row.walk_in_name = (walk_in or {}).get("name", "").strip()
            row.walk_in_phone = (walk_in or {}).get("phone", "") or ""
        row.duplicates = max(len(standing) - 1, 0)
        return row

    def project_absence(self, event: Event, store) -> str | None:
        data = event.data
        row = self._row(data["day_id"], data["person_id"], data)
        stamp = stamp_to_str(event.stamp)
        audit.record("create", "absence", event.entity_id, None,
                     {"day_id": row.day_id, "person": data["person_id"], "reason": data["reason"],
                      "certificate_on": data.get("certificate_on") or None,
                      "stands": not row.absence_stamp or stamp > row.absence_stamp},
                     user=self.user, device_id=self.device_id)
        if not row.absence_stamp or stamp > row.absence_stamp:
            row.absence_stamp = stamp
            row.absence_reason = data["reason"]
            row.absence_note = (data.get("note") or "").strip()
            row.absence_by, row.absence_at = event.user_id, _stamp_time(event).replace(tzinfo=None)
            row.certificate_on = date.fromisoformat(data["certificate_on"]) if data.get("certificate_on") else None
            row.certificate_place = (data.get("certificate_place") or "").strip()
        return row.village_id

    # -- registration ----------------------------------------------------------------------
    def rules(self) -> dict:
        return {
            "signin": EventRule(validate=self.signin_valid, allowed=self.signin_allowed,
                                unique_key=signin_key, key_takes_entity=True),
            "signin_undo": EventRule(validate=self.undo_valid, allowed=self.undo_allowed, unique_key=undo_key),
            "absence": EventRule(validate=self.absence_valid, allowed=self.absence_allowed),
        }

    def event_projections(self) -> dict:
        return {"signin": self.project_signin, "signin_undo": self.project_undo, "absence": self.project_absence}
