"""The records the desk page posts without JavaScript: the same data desk.js puts in the outbox.

Only the shape is checked here (which fields go into which record); what the data may be is
judged once, by the merge rules of webapp/desk/sync_rules.py, for both paths."""
from __future__ import annotations

import uuid

from flask_babel import gettext as _

from .models import ABSENCE_REASONS  # noqa: F401  (re-exported for the views: one list, the merge rules judge by it)


def _text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def record_from_form(day, form, may_sign: bool) -> tuple[dict | None, list[str]]:
    """(record without id/time, errors). Types: signin, signin_undo, absence."""
    kind = form.get("type")
    data: dict = {"day_id": day.id}
    if kind in ("signin", "signin_undo") and not may_sign:
        return None, [_("Your role may not sign people in.")]
    if kind == "signin":
        if _text(form, "person_id"):
            data["person_id"] = _text(form, "person_id")
        if _text(form, "desk"):
            data["desk"] = _text(form, "desk")
        walk_in = {k: _text(form, k) for k in ("reason", "name", "village_id", "phone") if _text(form, k)}
        if walk_in or not data.get("person_id"):
            data["walk_in"] = walk_in
    elif kind == "signin_undo":
        data.update(signin_id=_text(form, "signin_id"), person_id=_text(form, "person_id"))
        if _text(form, "reason"):
            data["reason"] = _text(form, "reason")
    elif kind == "absence":
        data.update(person_id=_text(form, "person_id"), reason=_text(form, "reason"))
        for name in ("note", "certificate_on", "certificate_place"):
            if _text(form, name):
                data[name] = _text(form, name)
    else:
        return None, [_("Unknown action.")]
    return {"type": kind, "entity_id": str(uuid.uuid4()), "data": data}, []
