"""Translated labels for stored codes (roles, area kinds), available in every template."""
from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "admin": _l("Administrator"),
    "supervisor": _l("Supervisor"),
    "desk": _l("Station desk"),
    "worker": _l("Village worker"),
}
AREA_KIND_LABELS = {
    "county": _l("County"),
    "town": _l("Town"),
    "village": _l("Village"),
    "committee": _l("Residents' committee"),
    "group": _l("Group"),
}


def init_app(app):
    app.jinja_env.globals.update(ROLE_LABELS=ROLE_LABELS, AREA_KIND_LABELS=AREA_KIND_LABELS)
