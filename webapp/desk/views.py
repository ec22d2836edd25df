"""The sign-in desk: pick a day, then find and sign people in (static/js/desk.js, offline too).

Without JavaScript the page still works online: the search box is a GET form answered here,
and each button posts a record that the server merges (merging.merge_records), the same
record desk.js puts in the outbox."""
from __future__ import annotations

import uuid

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import audit
from ..checkups import queries as checkup_queries
from ..extensions import db
from ..merging import local_today, merge_records, server_now
from ..models import Area
from . import bp, queries
from .forms import ABSENCE_REASONS, record_from_form
from .labels import ALREADY_SIGNED, SAVED
from .service import attendance_by_person

DESK_ROLES = ("desk", "supervisor", "admin")
ABSENCE_ROLES = DESK_ROLES + ("worker",)


def _day(day_id):
    if current_user.role not in ABSENCE_ROLES:
        abort(403)
    return checkup_queries.get_day(day_id, current_user)


@bp.route("/")
@login_required
def index():
    if current_user.role not in ABSENCE_ROLES:
        abort(403)
    days = queries.days_for_desk(current_user, local_today())
    return render_template("desk/index.html", days=days, today=local_today())


@bp.route("/<day_id>", methods=["GET", "POST"])
@login_required
def desk(day_id):
    day = _day(day_id)
    if request.method == "POST":  # without JavaScript; with it, desk.js sends the same record
        return _merge_posted(day)
    q = request.args.get("q", "")
    villages = [db.session.get(Area, v) for v in queries.day_village_ids(day, current_user)]
    return render_template("desk/desk.html", day=day, q=q, villages=villages, today=local_today(),
                           results=queries.search(day, current_user, q) if q else [],
                           counts=_counts(day), reasons=ABSENCE_REASONS,
                           can_sign=current_user.role in DESK_ROLES)


def _counts(day) -> dict:
    """Signed in of the invited, and walk-ins apart (desk.js counts the same way)."""
    villages = set(queries.day_village_ids(day, current_user))
    rows = [a for a in attendance_by_person(day.id).values() if a.signed_in and a.village_id in villages]
    return {"invited": queries.invited_count(day, current_user), "signed": sum(not a.walk_in for a in rows),
            "walk_ins": sum(a.walk_in for a in rows)}


def _merge_posted(day):
    record, errors = record_from_form(day, request.form, current_user.role in DESK_ROLES)
    if record is not None:
        record.update(id=str(uuid.uuid4()), base_version=None, client_time=server_now().isoformat())
        [result] = merge_records(current_user._get_current_object(), f"session-{current_user.id}", [record])
        errors = [m for ms in (result.get("errors") or {}).values() for m in ms] if result["status"] == "rejected" \
            else []
        if result["status"] == "duplicate":
            errors = [str(ALREADY_SIGNED)]
    for message in errors:
        flash(message, "error")
    if not errors:
        flash(str(SAVED), "success")
    return redirect(url_for("desk.desk", day_id=day.id, q=request.form.get("q", "")))


@bp.get("/<day_id>/roster.json")
@login_required
def roster(day_id):
    """The day's people for the desk device to keep (read when the desk opens, then offline)."""
    day = _day(day_id)
    people = queries.roster_payload(day, current_user)
    audit.record("export", "desk_roster", day.id, None, {"people": len(people)}, user=current_user)
    db.session.commit()
    return jsonify({"day_id": day.id, "date": day.date.isoformat(), "invited": queries.invited_count(day, current_user),
                    "people": people})


@bp.get("/<day_id>/events.json")
@login_required
def events(day_id):
    """The day's sign-ins, undos and absences so far, and the cursor to pull newer ones from."""
    day = _day(day_id)
    from sync import encode_cursor

    cursor = encode_cursor(queries.latest_seq())  # before reading: nothing committed between is lost
    return jsonify({"day_id": day.id, "cursor": cursor, "events": queries.day_events(day, current_user)})


@bp.get("/<day_id>/search")
@login_required
def search(day_id):
    """Server-side search over the day's people (the bench measures this)."""
    day = _day(day_id)
    q = request.args.get("q", "")[:80]
    return jsonify({"q": q, "people": queries.search(day, current_user, q)})


@bp.app_context_processor
def desk_globals():
    from .labels import ABSENCE_REASON_LABELS

    return {"ABSENCE_REASON_LABELS": ABSENCE_REASON_LABELS}
