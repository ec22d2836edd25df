"""Translated names of the services a check-up day offers, and of invitation kinds."""
from flask_babel import lazy_gettext as _l

SERVICE_LABELS = {
    "womens_health": _l("Women's health screening"),
    "pre_pregnancy": _l("Pre-pregnancy health check"),
    "breast": _l("Breast check"),
    "blood_pressure": _l("Blood pressure check"),
}
DEFAULT_BRING = _l("ID card and this notice slip")
KIND_LABELS = {
    "checkup": _l("Invited"),
    "certificate": _l("Away: certificate requested"),
}
DAY_STATUS_LABELS = {"scheduled": _l("Scheduled"), "cancelled": _l("Cancelled")}
WEEKDAYS = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"),
            _l("Sunday"))


def service_names(codes) -> tuple[str, ...]:
    return tuple(str(SERVICE_LABELS.get(code, code)) for code in codes)
