"""Register import: drafts between preview and confirmation, the template, and the import.

The import is one unit: every household and person of the file becomes a server-made sync
record, and ``merge_all_or_nothing`` merges them in one transaction with one audit entry
for the import (the projections add the usual per-row entries). If the merge rejects any
record, nothing is written and the rows it rejected are shown as errors.
"""
from __future__ import annotations

import csv
import hashlib
import io
import secrets
import uuid
from datetime import date, timedelta

import sqlalchemy as sa
from flask import abort, current_app
from stdnum.cn import ric

from .. import audit
from ..extensions import db
from ..merging import local_today, merge_all_or_nothing, server_now
from ..models import Area, ImportDraft, User, utcnow
from ..register.sync_rules import PERSON_FIELDS
from ..scope import scoped
from .checks import VILLAGE_KINDS, Checked, check_rows
from .columns import BY_KEY, COLUMNS
from .reader import read_table

IMPORTERS = ("admin", "supervisor")


class AlreadyImported(Exception):
    """The draft was imported (and deleted) by another request meanwhile."""


def may_import(user: User) -> bool:
    """Admins, and supervisors for their town: the station keeps the town's spreadsheet, and a
    supervisor may already change every household of those villages through the forms.
    Workers add people one at a time; desk staff do not change the register."""
    return user.role in IMPORTERS


# -- drafts ----------------------------------------------------------------------------------

def _errors_json(checked: Checked) -> dict:
    return {str(row): errors for row, errors in sorted(checked.errors.items())}


def create_draft(user: User, filename: str, data: bytes) -> ImportDraft:
    """Read and judge a file, keep it as a draft; raises reader.FileProblem."""
    db.session.execute(sa.delete(ImportDraft).where(ImportDraft.expires_at < utcnow()))
    table = read_table(data, max_rows=current_app.config["IMPORT_MAX_ROWS"])
    errors = _errors_json(check_rows(table.rows, user=user, today=local_today()))
    draft = ImportDraft(
        id=secrets.token_urlsafe(24), user_id=user.id, filename=filename[:200],
        sha256=hashlib.sha256(data).hexdigest(), rows=table.rows, ignored_columns=table.ignored_columns,
        skip=[], first_errors=errors, errors=errors,
        expires_at=utcnow() + timedelta(minutes=current_app.config["IMPORT_DRAFT_MINUTES"]))
    db.session.add(draft)
    db.session.commit()
    return draft


def draft_for(draft_id: str, user: User) -> ImportDraft:
    """The user's own unexpired draft, or 404 (a draft id of someone else reveals nothing)."""
    draft = db.session.get(ImportDraft, draft_id)
    if draft is None or draft.user_id != user.id or draft.expires_at < utcnow():
        abort(404)
    return draft


def cancel(draft: ImportDraft) -> None:
    db.session.delete(draft)
    db.session.commit()


def recheck(draft: ImportDraft, user: User, skip: set[int]) -> Checked:
    """Judge the rows again without the skipped ones (skipping a head changes its household)."""
    known = {row["row"] for row in draft.rows}
    checked = check_rows(draft.rows, user=user, today=local_today(), skip=frozenset(skip & known))
    # A skipped row keeps showing the errors it was skipped for (also ones that appeared later).
    draft.first_errors = {**draft.first_errors,
                          **{str(n): draft.errors[str(n)] for n in skip if str(n) in draft.errors}}
    draft.skip = sorted(skip & known)
    draft.errors = _errors_json(checked)
    db.session.commit()
    return checked


# -- the import ------------------------------------------------------------------------------

def _records(checked: Checked) -> tuple[list[dict], dict[str, list[int]]]:
    """Households first (people name theirs), and which sheet rows each record came from."""
    now = server_now().isoformat()
    records, origin, people = [], {}, []

    def record(entity: str, entity_id: str, data: dict) -> dict:
        return {"id": str(uuid.uuid4()), "type": entity, "entity_id": entity_id, "base_version": 0,
                "client_time": now, "data": data}

    for (group_id, number), rows in checked.households.items():
        household_id = str(uuid.uuid4())
        address = next(r["cells"]["address"] for r in rows if r["cells"].get("address"))
        records.append(record("household", household_id, {"group_id": group_id, "number": number,
                                                           "address": address}))
        origin[records[-1]["id"]] = [r["row"] for r in rows]
        for r in rows:
            clean = checked.people[r["row"]]
            data = {name: clean.get(name) for name in PERSON_FIELDS if name != "household_id"}
            data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}
            data["household_id"] = household_id
            if data["status"] != "away":
                data["away_place"], data["away_contact"] = "", ""
            people.append(record("person", str(uuid.uuid4()), data))
            origin[people[-1]["id"]] = [r["row"]]
    return records + people, origin


def run_import(draft: ImportDraft, user: User) -> tuple[bool, dict]:
    """Import the draft's rows that are not skipped. Returns (done, summary or errors by row);
    (False, None) when another request imported this draft meanwhile."""
    checked = recheck(draft, user, set(draft.skip))
    if checked.errors:
        return False, draft.errors
    records, origin = _records(checked)
    draft_id, skipped = draft.id, list(draft.skip)
    summary = {"file": draft.filename, "sha256": draft.sha256, "households": len(checked.households),
               "people": len(checked.people), "skipped_rows": skipped}

    def finish():
        # Deleting the draft in the import's own transaction makes a second confirmation (a double
        # click, two tabs) find nothing to delete once the first has committed: it is rolled back.
        if db.session.execute(sa.delete(ImportDraft).where(ImportDraft.id == draft_id)).rowcount != 1:
            raise AlreadyImported(draft_id)
        audit.record("import", "register_import", draft_id, after=summary, user=user)

    try:
        done, results = merge_all_or_nothing(user, f"import-{draft_id}", records, on_success=finish)
    except AlreadyImported:
        return False, None
    if done:
        return True, summary
    errors: dict[str, dict[str, list[str]]] = {}
    for raw, result in zip(records, results, strict=True):
        if result["status"] == "rejected":
            for row in origin[raw["id"]]:
                for name, messages in result["errors"].items():
                    errors.setdefault(str(row), {}).setdefault(name, []).extend(messages)
    draft = db.session.get(ImportDraft, draft_id)
    draft.errors = errors
    db.session.commit()
    return False, errors


# -- templates -------------------------------------------------------------------------------

def visible_groups(user: User) -> list[tuple[Area, Area]]:
    """(village, group) pairs the user may import into, by code."""
    villages = db.session.scalars(
        scoped(sa.select(Area).where(Area.kind.in_(VILLAGE_KINDS)), Area, user).order_by(Area.code)).all()
    by_id = {v.id: v for v in villages}
    groups = db.session.scalars(sa.select(Area).where(Area.kind == "group", Area.parent_id.in_(by_id))
                                .order_by(Area.code)).all()
    return [(by_id[g.parent_id], g) for g in groups]


def example_rows(user: User) -> list[list[str]]:
    """Two people of one household, in the first group the user may import into."""
    pairs = visible_groups(user)
    village_code, group_code = (pairs[0][0].code, pairs[0][1].code) if pairs else ("140121101001", "140121101001001")
    head_id = "11010119800502002"
    head_id += ric.calc_check_digit(head_id + "0")
    head = {**{c.key: c.example for c in COLUMNS}, "village_code": village_code, "group_code": group_code,
            "id_number": head_id}
    son = {**head, "name": "张明", "relation": "子", "sex": "男", "birth_date": "2005-03-09", "id_number": "",
           "phone": "", "address": "", "status": "外出", "away_place": "广东省东莞市", "enrolled": "否"}
    return [[row[c.key] for c in COLUMNS] for row in (head, son)]


def template_xlsx(user: User, notes: list[tuple[str, str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "人员"
    sheet.append([c.zh for c in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in example_rows(user):
        sheet.append(row)
    for index, column in enumerate(COLUMNS, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(12, len(column.zh) * 2 + 4)
        # Codes, numbers and ID numbers as text, so Excel keeps leading zeros and all 18 digits.
        if column.key in ("village_code", "group_code", "household_number", "id_number", "phone"):
            for row in range(1, 2001):
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    help_sheet = workbook.create_sheet("说明")
    help_sheet.append(["列", "Column", "必填 / Required", "说明 / Notes"])
    for column in COLUMNS:
        help_sheet.append([column.zh, column.en, "是" if column.required else "", dict(notes).get(column.key, "")])
    codes = workbook.create_sheet("区划代码")
    codes.append(["村代码", "村名", "组代码", "组名"])
    for village, group in visible_groups(user):
        codes.append([village.code, village.name, group.code, group.name])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def template_csv(user: User) -> bytes:
    """UTF-8 with a BOM, which Excel needs to open Chinese text correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.zh for c in COLUMNS])
    writer.writerows(example_rows(user))
    return out.getvalue().encode("utf-8-sig")


def column_label(key: str) -> str:
    column = BY_KEY.get(key)
    return str(column.label) if column else key


# -- what the preview shows ------------------------------------------------------------------

def preview_view(draft: ImportDraft, max_error_rows: int, sample_rows: int) -> dict:
    """Counts, the rows with errors (and the skipped ones), and a sample of good rows.

    ID and phone numbers are masked as in every list; the row number leads to the file."""
    from ..register.labels import mask_id, mask_phone

    skip = set(draft.skip)
    def shown(row: dict, errors: dict) -> dict:
        cells = dict(row["cells"])
        cells["id_number"], cells["phone"] = mask_id(cells.get("id_number")), mask_phone(cells.get("phone"))
        return {"row": row["row"], "cells": cells, "skipped": row["row"] in skip,
                "errors": [(column_label(key), message) for key, messages in errors.items() for message in messages]}

    flagged, sample = [], []
    for row in draft.rows:
        number = str(row["row"])
        if row["row"] in skip:
            flagged.append(shown(row, draft.first_errors.get(number, {})))
        elif number in draft.errors:
            flagged.append(shown(row, draft.errors[number]))
        elif len(sample) < sample_rows:
            sample.append(shown(row, {}))
    households = {(r["cells"].get("village_code"), r["cells"].get("group_code"), r["cells"].get("household_number"))
                  for r in draft.rows if r["row"] not in skip}
    return {"total": len(draft.rows), "with_errors": len(draft.errors), "skipped": len(skip),
            "to_import": len(draft.rows) - len(skip), "households": len(households),
            "flagged": flagged[:max_error_rows], "more_flagged": max(0, len(flagged) - max_error_rows),
            "sample": sample, "columns": [c for c in COLUMNS if c.key != "address"]}
