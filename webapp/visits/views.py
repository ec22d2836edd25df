"""Visit pages. Views read the request, call queries/service, render."""
from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, timedelta

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import audit
from ..merging import local_today
from ..models import Household, Person
from ..register.labels import FIELD_LABELS, sees_full_numbers
from ..register.sync_rules import WRITERS
from ..scope import get_in_scope, may_write, village_ids_for
from . import bp, queries, service
from .changes import KINDS
from .definitions import all_current_forms, current_form, form_version, text_in
from .labels import KIND_LABELS, answer_text
from .sync_rules import members_of
from .today import sections_for

SUPERVISORS = ("supervisor", "admin")
# Health answers (check-ups elsewhere, certificates) are shown to the roles that follow people up.
HEALTH_FORMS = ("health_followup",)


@bp.app_context_processor
def visit_globals():
    return {"text_in": text_in, "answer_text": answer_text, "KIND_LABELS": KIND_LABELS,
            "PERSON_FIELD_LABELS": FIELD_LABELS, "HEALTH_FORMS": HEALTH_FORMS,
            "sees_health": sees_full_numbers}


def _admin():
    if current_user.role != "admin":
        abort(404)


def _supervisor():
    if current_user.role not in SUPERVISORS:
        abort(404)


@bp.get("/today")
@login_required
def today():
    if current_user.role not in WRITERS:
        abort(404)  # desk staff do not visit households
    day = local_today()
    return render_template("visits/today.html", day=day,
                           sections=sections_for(current_user, village_ids_for(current_user), day))


@bp.get("/today/people.json")
@login_required
def people_index():
    """The worker's people for offline search. static/js/today.js keeps it in the page cache (the
    service worker fetches it ahead too) and asks again with the kept copy's ETag: an unchanged
    list costs a 304, not the whole list again."""
    if current_user.role not in WRITERS:
        abort(404)  # like Today itself: desk staff do not visit households
    response = jsonify({"people": queries.search_index(current_user)})
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32], weak=True)
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


@bp.route("/households/<household_id>/visit", methods=["GET", "POST"])
@login_required
def visit(household_id):
    household = get_in_scope(Household, household_id, current_user)
    if not may_write(household, current_user):
        abort(403)
    forms, errors, chosen = all_current_forms(), {}, request.args.get("form")
    if request.method == "POST":
        definition = current_form(request.form.get("form_id", ""))
        if definition is None:
            abort(400)
        visit_id, errors = service.save_visit(current_user._get_current_object(), household, definition, request.form)
        if not errors:
            flash(_("Saved"), "success")
            return redirect(url_for("visits.household_history", household_id=household.id))
        chosen = definition["form_id"]
    return render_template("visits/visit.html", household=household, forms=forms, chosen=chosen,
                           members=members_of(household.id), errors=errors, values=request.form,
                           today=local_today()), (422 if errors else 200)


@bp.get("/households/<household_id>/visits")
@login_required
def household_history(household_id):
    household = get_in_scope(Household, household_id, current_user)
    visits = queries.household_visits(household, current_user)
    return render_template("visits/history.html", household=household, person=None, visits=visits,
                           changes=[], names=queries.user_names(v.user_id for v in visits),
                           members=members_of(household.id), forms=_forms_of(visits),
                           can_write=may_write(household, current_user))


@bp.get("/people/<person_id>/visits")
@login_required
def person_history(person_id):
    person = get_in_scope(Person, person_id, current_user)
    visits = queries.person_visits(person, current_user)
    changes = queries.person_changes(person)
    return render_template("visits/history.html", household=person.household, person=person, visits=visits,
                           changes=changes, names=queries.user_names([v.user_id for v in visits]
                                                                     + [c.user_id for c in changes]),
                           members=members_of(person.household_id), forms=_forms_of(visits),
                           can_write=may_write(person, current_user))


def _forms_of(visits) -> dict:
    """Each visit read with the version it was made with (old visits stay readable)."""
    return {(v.form_id, v.form_version): form_version(v.form_id, v.form_version) for v in visits}


# -- admin: form versions ----------------------------------------------------------------------

@bp.route("/visit-forms/", methods=["GET", "POST"])
@login_required
def forms_admin():
    _admin()
    problems = []
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            problems = [_("Choose a file to load.")]
        else:
            definition, problems = service.load_definition(current_user._get_current_object(), upload.filename,
                                                           upload.read())
            if not problems:
                flash(_("Loaded %(form)s version %(version)s.", form=definition["form_id"],
                        version=definition["version"]), "success")
                return redirect(url_for("visits.forms_admin"))
    return render_template("visits/forms_admin.html", forms=all_current_forms(), problems=problems), (
        422 if problems else 200)


@bp.get("/visit-forms/preview")
@login_required
def form_preview():
    """One version of a form as a worker sees it, without saving (admins check uploads here)."""
    _admin()
    form_id = request.args.get("form_id", "")
    version = request.args.get("version", type=int)
    definition = form_version(form_id, version) if version else current_form(form_id)
    if definition is None:
        abort(404)
    return render_template("visits/preview.html", definition=definition, today=local_today())


# -- supervisor ---------------------------------------------------------------------------------

def _dates() -> tuple[date, date]:
    end = request.args.get("end", type=date.fromisoformat) or local_today()
    start = request.args.get("start", type=date.fromisoformat) or end - timedelta(days=29)
    return (start, end) if start <= end else (end, start)


@bp.get("/visits/report")
@login_required
def report():
    _supervisor()
    start, end = _dates()
    per_village = queries.visits_per_village(current_user, start, end)
    per_worker = queries.visits_per_worker(current_user, start, end)
    return render_template("visits/report.html", start=start, end=end, per_village=per_village,
                           per_worker=per_worker, top=max([n for _v, n in per_village] + [1]))


@bp.get("/visits/changes")
@login_required
def change_summary():
    _supervisor()
    try:
        month = date.fromisoformat(request.args.get("month", "") + "-01")
    except ValueError:
        month = local_today().replace(day=1)
    rows = queries.change_summary(current_user, month)
    export = request.args.get("format")
    if export in ("csv", "xlsx"):
        audit.record("export", "change_summary", month.strftime("%Y-%m"), None,
                     {"format": export, "villages": len(rows)})
        from ..extensions import db

        db.session.commit()
        return _export(month, rows, export)
    return render_template("visits/changes.html", month=month, rows=rows, kinds=KINDS)


def _export(month: date, rows, kind: str) -> Response:
    header = [_("Village")] + [str(KIND_LABELS[k]) for k in KINDS]
    table = [[village.name] + [counts[k] for k in KINDS] for village, counts in rows]
    name = f"changes-{month:%Y-%m}"
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(table)
        body = "\ufeff" + out.getvalue()  # a BOM so Excel opens the Chinese text as UTF-8
        return Response(body, mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename={name}.csv"})
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = month.strftime("%Y-%m")
    sheet.append(header)
    for row in table:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), headers={"Content-Disposition": f"attachment; filename={name}.xlsx"},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

