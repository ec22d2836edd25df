"""Changing attendance settings (targets, make-up deadlines, counties) and building exports.

Every change and every export writes an audit entry in the same transaction."""
from __future__ import annotations

import csv
import io
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import audit
from ..checkups.models import CheckupDay
from ..extensions import db
from ..models import Area
from .labels import BASIS_LABELS, STANDING_LABELS
from .models import BASES, AttendanceTarget
from .rates import valid_targets


def parse_targets(form: dict) -> tuple[dict, dict]:
    """(clean values, {field: [message]}) from the settings form."""
    errors, clean = {}, {}
    for name in ("floor", "aim", "high"):
        raw = (form.get(name) or "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            errors[name] = [_("Enter a whole percentage from 1 to 100.")]
        else:
            clean[name] = int(raw)
    if not errors and not valid_targets(clean["floor"], clean["aim"], clean["high"]):
        errors["high"] = [_("The targets must rise: every village ≤ aim ≤ high.")]
    if form.get("basis") not in BASES:
        errors["basis"] = [_("Choose what the rate counts.")]
    else:
        clean["basis"] = form["basis"]
    return clean, errors


def save_targets(town: Area, clean: dict, *, user) -> AttendanceTarget:
    row = db.session.get(AttendanceTarget, town.id)
    before = None if row is None else {"floor": row.floor, "aim": row.aim, "high": row.high, "basis": row.basis}
    if row is None:
        row = AttendanceTarget(town_id=town.id)
        db.session.add(row)
    row.floor, row.aim, row.high, row.basis = clean["floor"], clean["aim"], clean["high"], clean["basis"]
    row.updated_by = user.id
    audit.record("update", "attendance_target", town.id, before, dict(clean), user=user)
    return row


def parse_deadline(raw: str, day: CheckupDay) -> tuple[date | None, str | None]:
    try:
        value = date.fromisoformat((raw or "").strip())
    except ValueError:
        return None, _("Enter the deadline like 2026-12-31. Nothing was changed.")
    if value < day.date:
        return None, _("The make-up deadline cannot be before the check-up day. Nothing was changed.")
    return value, None


def set_deadline(day: CheckupDay, value: date, *, user) -> None:
    before = day.makeup_until.isoformat() if day.makeup_until else None
    day.makeup_until = value
    audit.record("makeup_deadline", "checkup_day", day.id, {"makeup_until": before},
                 {"makeup_until": value.isoformat()}, user=user)


def place_towns_in_county(code: str, name: str, town_codes: list[str]) -> tuple[Area, int]:
    """Make county ``code`` (if new) and put the towns under it; audited as an area change."""
    county = db.session.scalar(sa.select(Area).where(Area.code == code))
    if county is None:
        county = Area(code=code, kind="county", name=name)
        db.session.add(county)
        db.session.flush()
        audit.record("create", "area", county.id, None, {"code": code, "kind": "county", "name": name})
    elif county.kind != "county":
        raise ValueError(f"{code} is a {county.kind}, not a county")
    towns = list(db.session.scalars(sa.select(Area).where(Area.code.in_(town_codes), Area.kind == "town")))
    missing = set(town_codes) - {t.code for t in towns}
    if missing:
        raise ValueError("no such town: " + ", ".join(sorted(missing)))
    for town in towns:
        if town.parent_id != county.id:
            audit.record("update", "area", town.id, {"parent_id": town.parent_id}, {"parent_id": county.id})
            town.parent_id = county.id
    return county, len(towns)


# -- exports -----------------------------------------------------------------------------------

EXPORTS = ("roster", "villages", "makeup")


def mask_phone(phone: str | None) -> str:
    """Lists and files show a phone as 139****0001; the full number only behind a call button."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def _rate(value) -> str:
    return "" if value is None else f"{value}"


def table(what: str, day: CheckupDay, live: dict, people: list[dict]) -> tuple[list[str], list[list]]:
    """(header, rows) of one export; ``people`` are queries.people_rows (or makeup_rows)."""
    if what == "villages":
        header = [_("Village"), _("Invited"), _("Away (certificate expected)"), _("Signed in on the day"),
                  _("Same-day rate"), _("Band"), _("Make-up"), _("Certificates"), _("Coverage"),
                  _("Walk-ins"), _("Rate counts")]
        rows = []
        for label, r in [(row["village"].name, row["rates"]) for row in live["rows"]] + [(_("Town total"), live["total"])]:
            c = r.counts
            rows.append([label, c.invited, c.away, c.on_day, _rate(r.same_day), band_text(r), c.makeup,
                         c.certificate, _rate(r.coverage), c.walk_ins, str(BASIS_LABELS[r.basis])])
        return header, rows
    header = [_("Village"), _("Group"), _("Name"), _("Phone"), _("Invited as"), _("Status"),
              _("Signed in"), _("Certificate received")]
    if what == "makeup":
        header.append(_("Make-up deadline"))
    rows = []
    for row in people:
        att, inv = row["attendance"], row["invitation"]
        signed = att.signed_in_on.isoformat() if att is not None and att.signed_in_on else ""
        cert = att.certificate_on.isoformat() if att is not None and att.certificate_on else ""
        line = [row["village"], row["group"], row["person"].name, mask_phone(row["person"].phone),
                _("certificate") if inv.kind == "certificate" else _("check-up"),
                str(STANDING_LABELS[row["standing"]]), signed, cert]
        if what == "makeup":
            line.append(day.makeup_until.isoformat() if day.makeup_until else "")
        rows.append(line)
    return header, rows


def band_text(r) -> str:
    from .labels import band_label

    return band_label(r.band, r.targets)


def to_csv(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # a BOM: Excel opens Chinese CSV correctly


def to_xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def audit_export(what: str, fmt: str, day: CheckupDay, count: int, *, user) -> None:
    audit.record("export", "attendance", day.id, None, {"what": what, "format": fmt, "rows": count}, user=user)
