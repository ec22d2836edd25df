"""Translated words for rates, bands and standings (the band is always said in words)."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

BASIS_LABELS = {
    "invited": _l("Rates count everyone invited: signed in on the day ÷ invited."),
    "present": _l("Rates leave out people away for work who did not come: signed in on the day ÷ "
                  "(invited − away)."),
}
BASIS_CHOICES = {"invited": _l("Over everyone invited"), "present": _l("Over invited minus people away")}
ABSENCE_LABELS = {
    "away": _l("Away for work"),
    "ill": _l("Ill"),
    "declined": _l("Declined"),
    "moved": _l("Moved away"),
    "other": _l("Other reason"),
}
STANDING_LABELS = {
    "on_day": _l("Seen on the day"),
    "makeup": _l("Seen at make-up"),
    "certificate": _l("Certificate received"),
    "declined": _l("Declined (respected)"),
    "moved": _l("Moved away"),
    "open": _l("Still to be seen"),
    "overdue": _l("Overdue"),
}


def band_label(band: str | None, targets: tuple[int, int, int]) -> str:
    floor, aim, high = targets
    if band is None:
        return _("No one invited")
    if band == "high":
        return _("At or above %(n)d %% (high target)", n=high)
    if band == "aim":
        return _("At or above %(n)d %% (aim)", n=aim)
    if band == "floor":
        return _("At or above %(n)d %% (every village)", n=floor)
    return _("Below %(n)d %%: under the target for every village", n=floor)
