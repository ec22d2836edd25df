"""User management, shared by the admin pages and the `flask user` commands."""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import audit
from ..extensions import db
from ..models import ROLES, Area, User

# Which kinds of area each role may be given.
ROLE_AREA_KINDS = {
    "admin": (),
    "supervisor": ("town", "county"),  # a county's supervisor sees all its towns
    "desk": ("town",),
    "worker": ("village", "committee"),
}


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate_user(username: str, role: str, area_codes: list[str], password: str | None,
                  existing: User | None = None, email: str = "") -> tuple[dict, list[Area]]:
    """Return (errors by field, areas). Password is required for a new user only; the e-mail
    address (where notice lists are sent, when e-mail is configured) may stay empty."""
    errors: dict[str, str] = {}
    email = (email or "").strip()
    if email and (len(email) > 200 or not EMAIL.match(email)):
        errors["email"] = _("Enter an e-mail address like name@example.org, or leave it empty.")
    username = (username or "").strip()
    if existing is None:
        if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
            errors["username"] = _("Use 1–64 letters, digits, dots or underscores.")
        elif db.session.scalar(sa.select(User.id).where(User.username == username)):
            errors["username"] = _("This user name is taken.")
        if not password or len(password) < 8:
            errors["password"] = _("The password needs at least 8 characters.")
    elif password and len(password) < 8:
        errors["password"] = _("The password needs at least 8 characters.")
    if role not in ROLES:
        errors["role"] = _("Choose a role.")
    areas = list(db.session.scalars(sa.select(Area).where(Area.code.in_(area_codes)))) if area_codes else []
    missing = set(area_codes) - {a.code for a in areas}
    if missing:
        errors["areas"] = _("Unknown area code: %(codes)s", codes=", ".join(sorted(missing)))
    elif role in ROLE_AREA_KINDS:
        allowed = ROLE_AREA_KINDS[role]
        if role != "admin" and not areas:
            errors["areas"] = _("Choose at least one area.")
        elif any(a.kind not in allowed for a in areas):
            errors["areas"] = _("This role can only be given these kinds of area: %(kinds)s",
                                kinds=", ".join(allowed) or "-")
    return errors, areas


def _user_snapshot(user: User) -> dict:
    return {"username": user.username, "role": user.role, "active": user.active,
            "display_name": user.display_name, "email": user.email, "areas": [a.code for a in user.areas]}


def save_user(user: User | None, *, username: str, display_name: str, role: str, areas: list[Area],
              password: str | None, active: bool = True, actor: User | None = None,
              email: str | None = None) -> User:
    before = None if user is None else _user_snapshot(user)
    if user is None:
        user = User(username=username.strip())
        db.session.add(user)
    user.display_name = (display_name or "").strip()[:100]
    if email is not None:
        user.email = email.strip()
    user.role = role
    user.areas = areas
    user.active = active
    if password:
        user.set_password(password)
    db.session.flush()
    audit.record("create" if before is None else "update", "user", user.id,
                 before=before, after=_user_snapshot(user), user=actor)
    return user
