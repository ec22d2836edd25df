"""The ``notice_delivery`` record: a village worker handed a notice slip over (offline).

Data: ``{"invitation_id", "how": person|family|phone, "delivered_on": "YYYY-MM-DD"}``.
It is an event (a fact, appended): per invitation the earliest delivery counts, later ones
are kept as duplicates. The projection writes the counted delivery onto the slip message
of the village's current list. A delivery before the list went out is refused with a
reason: the worker has nothing to hand over yet.
"""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from sync import Event, EventRule

from .. import audit
from ..checkups.models import Invitation
from ..extensions import db
from .models import NoticeMessage
from .service import current_list

DELIVERY_HOW = ("person", "family", "phone")
WRITERS = ("admin", "supervisor", "worker")


class NoticeRules:
    def __init__(self, user, villages: frozenset[str] | None, device_id: str | None, today: date):
        self.user, self.villages, self.device_id, self.today = user, villages, device_id, today

    def _invitation(self, data) -> Invitation | None:
        inv_id = data.get("invitation_id")
        return db.session.get(Invitation, inv_id) if isinstance(inv_id, str) else None

    def allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in WRITERS:
            return _("Your role may not record deliveries.")
        inv = self._invitation(data)
        if inv is not None and self.villages is not None and inv.village_id not in self.villages:
            return _("This person is not in your villages.")
        return None

    def valid(self, data, entity_id, context):
        errors = {}
        inv = self._invitation(data)
        if inv is None or not inv.active:
            errors["invitation_id"] = [_("This invitation does not exist or was withdrawn.")]
        elif current_list(inv.day, inv.village_id) is None:
            errors["invitation_id"] = [_("The notice list for this day has not gone out yet.")]
        if data.get("how") not in DELIVERY_HOW:
            errors["how"] = [_("Choose how the notice was delivered.")]
        try:
            delivered = date.fromisoformat(data.get("delivered_on") or "")
        except (TypeError, ValueError):
            errors["delivered_on"] = [_("Enter the date the slip was handed over.")]
        else:
            if delivered > self.today + timedelta(days=1):
                errors["delivered_on"] = [_("The date cannot be in the future.")]
        unknown = set(data) - {"invitation_id", "how", "delivered_on"}
        for name in unknown:
            errors[name] = [_("Unknown field.")]
        return errors

    def project(self, event: Event, store=None) -> str | None:
        inv = self._invitation(event.data)
        if inv is None:
            return None
        if store is not None and event.record_id not in {
                e.record_id for e in store.events_by_key("notice_delivery", (inv.id,))}:
            # Audited when it arrives (a later call only changes whether it counts).
            audit.record("create", "notice_delivery", event.entity_id, None,
                         {"invitation_id": inv.id, "how": event.data.get("how"),
                          "delivered_on": event.data.get("delivered_on"), "counted": event.counted},
                         user=self.user, device_id=self.device_id)
        if event.counted:
            notice_list = current_list(inv.day, inv.village_id)
            message = None if notice_list is None else db.session.scalar(
                sa.select(NoticeMessage).where(NoticeMessage.key == f"{notice_list.id}:slip:{inv.id}"))
            if message is not None:  # the earliest delivery counts: it may replace a later one
                message.status = "delivered"
                message.delivered_on = date.fromisoformat(event.data["delivered_on"])
                message.delivered_how = event.data["how"]
                message.delivered_by = event.user_id
        return inv.village_id

    def rules(self) -> dict:
        return {"notice_delivery": EventRule(validate=self.valid, allowed=self.allowed,
                                             unique_key=lambda data: (data.get("invitation_id"),))}

    def event_projections(self) -> dict:
        return {"notice_delivery": self.project}
