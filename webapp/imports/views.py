"""Import pages: upload → preview with row errors → skip rows or re-upload → confirm."""
from __future__ import annotations

from functools import wraps

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from . import bp, service
from .columns import COLUMNS
from .reader import FileProblem

PREVIEW_SAMPLE_ROWS = 10


def importer_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not service.may_import(current_user):
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _notes() -> list[tuple[str, str]]:
    return [
        ("village_code", _("The village's code (see the sheet 区划代码).")),
        ("group_code", _("The group's full code, or the part after the village code (e.g. 001).")),
        ("household_number", _("Rows with the same village, group and household number are one household.")),
        ("address", _("On at least one row of the household; rows that repeat it must agree.")),
        ("relation", _("Exactly one person per household is 户主 (the head).")),
        ("sex", _("男 or 女.")),
        ("birth_date", _("For example 1980-05-02 or 1980/5/2.")),
        ("id_number", _("18 characters; format the column as text so Excel keeps every digit.")),
        ("phone", _("11 digits starting with 1.")),
        ("status", _("常住, 外出, 迁出 or 死亡; empty means 常住.")),
        ("away_place", _("Required when the status is 外出.")),
        ("enrolled", _("是 or 否; empty means 否.")),
    ]


def _upload_page(error: str | None = None, status: int = 200):
    return render_template("imports/upload.html", error=error, columns=COLUMNS, notes=dict(_notes()),
                           max_mb=f'{current_app.config["IMPORT_MAX_BYTES"] / 1024 / 1024:g}',
                           max_rows=current_app.config["IMPORT_MAX_ROWS"]), status


def _too_big() -> FileProblem:
    limit = current_app.config["IMPORT_MAX_BYTES"]
    return FileProblem(_("The file is larger than %(mb)s MB. Split it into smaller files.",
                         mb=f"{limit / 1024 / 1024:g}"), 413)


@bp.url_value_preprocessor
def limit_body(_endpoint, _values):
    """Runs before the CSRF check reads the form: a too large upload is refused unread."""
    if request.method == "POST":
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"] + 64 * 1024


@bp.after_request
def not_kept(response):
    """Previews show people of a file not yet imported: neither the browser nor the service
    worker keeps them (static/sw.js honours no-store)."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(413)
def too_large(_error):
    return _upload_page(_too_big().message, 413)


def _uploaded() -> tuple[str, bytes]:
    """The uploaded file's name and bytes; raises FileProblem for a missing or too large file."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    too_big = _too_big()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise FileProblem(_("Choose a file to upload."))
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise too_big
    return upload.filename, data


@bp.get("/")
@importer_required
def index():
    return _upload_page()


@bp.post("/")
@importer_required
def upload():
    try:
        filename, data = _uploaded()
        draft = service.create_draft(current_user, filename, data)
    except FileProblem as problem:
        return _upload_page(problem.message, problem.status)
    return redirect(url_for("imports.preview", draft_id=draft.id))


@bp.get("/template.xlsx")
@importer_required
def template_xlsx():
    return Response(service.template_xlsx(current_user, _notes()), headers={
        "Content-Disposition": "attachment; filename=register-import.xlsx"},
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/template.csv")
@importer_required
def template_csv():
    return Response(service.template_csv(current_user), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=register-import.csv"})


@bp.get("/<draft_id>")
@importer_required
def preview(draft_id):
    return _preview(service.draft_for(draft_id, current_user))


def _preview(draft, status: int = 200, message: str | None = None):
    return render_template("imports/preview.html", draft=draft, message=message,
                           view=service.preview_view(
                               draft, current_app.config["IMPORT_PREVIEW_ERROR_ROWS"], PREVIEW_SAMPLE_ROWS),
                           column_label=service.column_label), status


@bp.post("/<draft_id>")
@importer_required
def confirm(draft_id):
    draft = service.draft_for(draft_id, current_user)
    action = request.form.get("action")
    if action == "cancel":
        service.cancel(draft)
        flash(_("The import was cancelled. Nothing was imported."), "success")
        return redirect(url_for("imports.index"))
    # Rows listed on the page follow their tick boxes; rows not listed keep their state.
    shown = {int(n) for n in request.form.get("shown", "").split(",") if n.isdigit()}
    skip = (set(draft.skip) - shown) | {int(n) for n in request.form.getlist("skip") if n.isdigit()}
    if action == "skip_errors":
        skip |= {int(n) for n in draft.errors}
    service.recheck(draft, current_user, skip)
    if action != "import":
        return _preview(draft)
    done, outcome = service.run_import(draft, current_user)
    if outcome is None:
        flash(_("This file has already been imported."), "success")
        return redirect(url_for("register.index"))
    if not done:
        return _preview(service.draft_for(draft_id, current_user), 422,
                        _("Nothing was imported. Fix the rows below in the file and upload it again, "
                          "or tick them to skip them."))
    flash(_("Imported %(households)s households and %(people)s people.", households=outcome["households"],
            people=outcome["people"]), "success")
    return redirect(url_for("register.index"))
