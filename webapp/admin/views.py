from functools import wraps

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..auth.service import revoke_devices
from ..extensions import db
from ..models import ROLES, Area, Device, User
from . import bp
from .service import save_user, validate_user


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.role != "admin":
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _assignable_areas():
    return db.session.scalars(
        sa.select(Area).where(Area.kind.in_(("county", "town", "village", "committee"))).order_by(Area.code)
    ).all()


@bp.get("/users")
@admin_required
def users():
    rows = db.session.scalars(sa.select(User).order_by(User.role, User.username)).all()
    return render_template("admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<user_id>", methods=["GET", "POST"])
@admin_required
def user_form(user_id=None):
    user = db.get_or_404(User, user_id) if user_id else None
    errors, form = {}, request.form
    if request.method == "POST":
        codes = form.getlist("areas")
        errors, areas = validate_user(form.get("username", ""), form.get("role", ""), codes,
                                      form.get("password") or None, existing=user, email=form.get("email", ""))
        if not errors:
            user = save_user(user, username=form.get("username", ""), display_name=form.get("display_name", ""),
                             role=form["role"], areas=areas, password=form.get("password") or None,
                             active=(form.get("active", "1") == "1"), actor=current_user,
                             email=form.get("email", ""))
            db.session.commit()
            flash(_("Saved."), "ok")
            return redirect(url_for("admin.users"))
    devices = (db.session.scalars(sa.select(Device).where(Device.user_id == user.id)
                                  .order_by(Device.created_at.desc())).all() if user else [])
    return render_template("admin/user_form.html", user=user, errors=errors, form=form, roles=ROLES,
                           areas=_assignable_areas(), devices=devices)


@bp.post("/users/<user_id>/revoke-devices")
@admin_required
def user_revoke_devices(user_id):
    user = db.get_or_404(User, user_id)
    count = revoke_devices(user, actor=current_user)
    db.session.commit()
    flash(_("%(count)d devices signed out.", count=count), "ok")
    return redirect(url_for("admin.user_form", user_id=user.id))
