"""Validation of the check-up day form (marshmallow), free of request objects."""
from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .labels import SERVICE_LABELS

REQUIRED = _l("Please fill this in.")


class DaySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    date = fields.Date(required=True, error_messages={"required": REQUIRED, "null": REQUIRED,
                                                      "invalid": _l("Enter a date like 2026-12-01.")})
    start_time = fields.Time(required=True, error_messages={"required": REQUIRED, "null": REQUIRED,
                                                            "invalid": _l("Enter a time like 08:00.")})
    end_time = fields.Time(required=True, error_messages={"required": REQUIRED, "null": REQUIRED,
                                                          "invalid": _l("Enter a time like 12:00.")})
    station = fields.String(required=True, validate=validate.Length(
        min=1, max=200, error=_l("Say where the check-up day is (at most {max} characters).")),
        error_messages={"required": REQUIRED, "null": REQUIRED})
    services = fields.List(fields.String(validate=validate.OneOf(list(SERVICE_LABELS),
                                                                 error=_l("Choose from the list."))),
                           required=True, validate=validate.Length(min=1, error=_l("Choose at least one service.")),
                           error_messages={"required": _l("Choose at least one service.")})
    bring = fields.String(load_default="", validate=validate.Length(max=200, error=_l("Use at most {max} characters.")))
    areas = fields.List(fields.String(), required=True,
                        validate=validate.Length(min=1, error=_l("Choose at least one village or group.")),
                        error_messages={"required": _l("Choose at least one village or group.")})

    @validates_schema(skip_on_field_errors=False)
    def _window(self, data, **kwargs):
        if data.get("start_time") and data.get("end_time") and data["end_time"] <= data["start_time"]:
            raise ValidationError(_l("The end must be after the start."), "end_time")


def validate_day(form: dict, *, allowed_areas: set[str], today: date, new: bool) -> tuple[dict, dict]:
    """(clean values, {field: [messages]}). A new day may not be in the past."""
    data = {k: v for k, v in form.items() if not (isinstance(v, str) and not v.strip())}
    try:
        clean = DaySchema().load(data)
        errors = {}
    except ValidationError as err:
        clean, errors = err.valid_data or {}, err.messages
    if clean.get("areas") and not set(clean["areas"]) <= allowed_areas:
        errors["areas"] = [_l("Choose villages or groups of this town.")]
    if new and clean.get("date") and clean["date"] < today:
        errors["date"] = [_l("The day cannot be in the past.")]
    return clean, {name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])] if not isinstance(msgs, dict)
                   else [str(m) for ms in msgs.values() for m in ms] for name, msgs in errors.items()}
