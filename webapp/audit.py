"""Audit entries: who, which device, when, what, before and after."""
from __future__ import annotations

from flask import g, has_request_context
from flask_login import current_user

from .extensions import db
from .models import AuditEntry, utcnow


def values(action: str, entity: str, entity_id: str | None, before=None, after=None, user=None, device_id=None
           ) -> dict:
    """The columns of one audit entry; ``user`` and ``device_id`` default to the request's."""
    if user is None and has_request_context() and current_user and current_user.is_authenticated:
        user = current_user
    if device_id is None and has_request_context():
        device_id = g.get("device_id")
    return {"action": action, "entity": entity, "entity_id": entity_id, "before": before, "after": after,
            "user_id": user.id if user is not None else None, "device_id": device_id, "at": utcnow()}


def record(action: str, entity: str, entity_id: str | None, before=None, after=None, user=None, device_id=None):
    """Add an audit entry to the current transaction (committed with the change it describes)."""
    entry = AuditEntry(**values(action, entity, entity_id, before, after, user=user, device_id=device_id))
    db.session.add(entry)
    return entry
