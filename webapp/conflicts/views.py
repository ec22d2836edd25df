from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..register.labels import FIELD_LABELS
from . import bp, queries


@bp.get("/")
@login_required
def index():
    if current_user.role not in queries.RESOLVERS:
        abort(404)
    conflicts = queries.open_conflicts(current_user)
    rows = [(c, queries.subject(c), queries.choices(c)) for c in conflicts]
    return render_template("conflicts/index.html", rows=rows, villages=queries.village_names(conflicts),
                           FIELD_LABELS=FIELD_LABELS)


@bp.post("/<int:conflict_id>/resolve")
@login_required
def resolve(conflict_id: int):
    conflict = queries.conflict_in_scope(current_user, conflict_id)
    errors = queries.resolve(current_user, conflict, request.form.get("record_id", ""))
    if errors:
        flash(_("That value cannot be kept: %(reason)s", reason="; ".join(sum(errors.values(), []))), "error")
    else:
        flash(_("Saved."), "ok")
    return redirect(url_for("conflicts.index"))
