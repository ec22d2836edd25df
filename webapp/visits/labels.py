"""Translated names of change kinds, and answers shown back in their form's own words."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

KIND_LABELS = {
    "birth": _l("Birth"), "death": _l("Death"), "marriage_in": _l("Married in"),
    "marriage_out": _l("Married out"), "divorce": _l("Divorce"), "moved_in": _l("Moved in"),
    "moved_out": _l("Moved out"), "away_for_work": _l("Away for work"), "returned": _l("Returned"),
}


def answer_text(field: dict, value, locale: str, members: dict[str, str]) -> str:
    """An answer as the worker chose it: choice labels, member names, yes/no."""
    if value is None or value == "" or value == []:
        return "—"
    if field["type"] == "yes_no":
        return _("Yes") if value is True else _("No")
    if field["type"] == "member":
        return members.get(value, "?")
    if field["choices"]:
        labels = {c["value"]: c["label"] for c in field["choices"]}
        values = value if isinstance(value, list) else [value]
        return "、".join((labels[v].get("en" if locale == "en" else "zh") or v) if v in labels else str(v)
                        for v in values)
    return str(value)
