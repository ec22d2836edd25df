"""Translated words of the sign-in desk (desk.js gets them through webapp/pwa/strings.py)."""
from flask_babel import lazy_gettext as _l

ABSENCE_REASON_LABELS = {
    "away": _l("Away (certificate expected)"), "ill": _l("Ill"), "declined": _l("Declined"),
    "moved": _l("Moved away"), "other": _l("Other reason"),
}
SAVED = _l("Saved")
ALREADY_SIGNED = _l("Already signed in: this sign-in was kept as a duplicate.")
