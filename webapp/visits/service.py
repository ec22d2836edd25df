"""Writes of the visits feature: a visit posted without JavaScript, and admins loading forms."""
from __future__ import annotations

import uuid

from flask_babel import gettext as _

from sync import REJECTED

from .. import audit
from ..extensions import db
from ..merging import merge_from_server
from .definitions import DefinitionError, current_form, parse_text
from .models import VisitForm
from .xlsform import read_xlsform


def answers_from_form(definition: dict, form) -> dict:
    """A posted form as the outbox would send it: lists for select_many, the rest as text."""
    data = {"form_id": form.get("form_id"), "form_version": form.get("form_version"),
            "household_id": form.get("household_id")}
    for field in definition["fields"]:
        name = field["name"]
        if field["type"] == "select_many":
            if name in form:
                data[name] = form.getlist(name)
        elif field["type"] != "note" and name in form:
            data[name] = form.get(name)
    return data


def save_visit(user, household, definition: dict, form) -> tuple[str | None, dict]:
    """Merge one visit made in a browser without the outbox. Returns (visit id, errors)."""
    visit_id = str(uuid.uuid4())
    result = merge_from_server(user, "visit", visit_id, None, answers_from_form(definition, form))
    if result["status"] == REJECTED:
        return None, result["errors"]
    return visit_id, {}


def load_definition(user, filename: str, payload: bytes) -> tuple[dict | None, list[str]]:
    """Store a new version of a form from an uploaded YAML/JSON file or XLSForm workbook.

    The version must be newer than the one in use: visits already made keep theirs."""
    try:
        if filename.lower().endswith(".xlsx"):
            definition, source = read_xlsform(payload), "xlsform"
        else:
            definition, source = parse_text(payload.decode("utf-8")), "upload"
    except UnicodeDecodeError:
        return None, [_("The file is not UTF-8 text, YAML or JSON.")]
    except DefinitionError as exc:
        return None, exc.problems
    current = current_form(definition["form_id"])
    if current is not None and definition["version"] <= current["version"]:
        return None, [_("Version %(new)s is not newer than version %(old)s in use; raise the version.",
                        new=definition["version"], old=current["version"])]
    db.session.add(VisitForm(form_id=definition["form_id"], version=definition["version"],
                             definition=definition, source=source, created_by=user.id))
    audit.record("create", "visit_form", f"{definition['form_id']}@{definition['version']}", None,
                 {"form_id": definition["form_id"], "version": definition["version"], "source": source}, user=user)
    db.session.commit()
    return definition, []
