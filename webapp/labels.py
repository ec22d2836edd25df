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


def local_date(value) -> str:
    """A date the way the reader writes it: 2026年12月1日 in Chinese, 2026-12-01 in English."""
    from flask_babel import get_locale

    if value is None:
        return ""
    if str(get_locale()).startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()


def local_time(value) -> str:
    """A stored moment (naive UTC) in local time (``TIMEZONE``): 12月1日 09:14, or 2026-12-01 09:14."""
    from datetime import timezone
    from zoneinfo import ZoneInfo

    from flask import current_app
    from flask_babel import get_locale

    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    local = value.astimezone(ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai")))
    if str(get_locale()).startswith("zh"):
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def init_app(app):
    app.jinja_env.globals.update(ROLE_LABELS=ROLE_LABELS, AREA_KIND_LABELS=AREA_KIND_LABELS)
    app.add_template_filter(local_date, "local_date")
    app.add_template_filter(local_time, "local_time")
