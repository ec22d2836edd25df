"""The merge core (sync/) answers in plain English, being Flask-free; phones show the answers to
village workers, so the API translates the ones it knows before they leave (zh-CN first)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

SYNC_MESSAGES = {
    "Each record must be a JSON object.": _l("Each record must be a JSON object."),
    "Must be a UUID made on the device.": _l("Must be a UUID made on the device."),
    "Unknown record type.": _l("Unknown record type. Update the app, then send it again."),
    "Must be a whole number of at least 0, or null.": _l("Must be a whole number of at least 0, or null."),
    "Must be a JSON object.": _l("Must be a JSON object."),
    "Must not contain a NUL character; type the text again.":
        _l("Holds a character that cannot be saved (a NUL byte); type the text again."),
    "Must be an ISO 8601 time with a UTC offset.": _l("Must be a time with a UTC offset, e.g. 2026-11-22T09:14:03+08:00."),
    "Must include a UTC offset, e.g. +08:00.": _l("Must include a UTC offset, e.g. +08:00."),
    "The device clock looks wrong; check the phone's date.": _l("The phone's clock looks wrong; check its date."),
    "Unknown field.": _l("Unknown field."),
}


def translated(results: list[dict]) -> list[dict]:
    """The results with the core's known messages in the user's language; others untouched."""
    out = []
    for result in results:
        errors = result.get("errors")
        if errors:
            result = {**result, "errors": {field: [str(SYNC_MESSAGES.get(m, m)) for m in messages]
                                           for field, messages in errors.items()}}
        out.append(result)
    return out
