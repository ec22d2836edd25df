"""Server validation of visit answers: marshmallow schemas built from a form definition.

The browser form (templates/visits/_fields.html + static/js/visit-forms.js) enforces the same
definition with HTML5 attributes; what must hold is that both accept and reject the same
answers (tests/test_visit_forms_agree.py feeds both the same cases). So the rules here
follow the browser's, not Python's habits:

* An answer is empty only when it is "" (or missing, or an empty list): the browser's
  ``required`` does not trim spaces, so neither does this.
* Numbers are read as the browser reads an ``<input type=number>``: "1.0" and "1e3" are
  integers when their value is whole; min/max compare values.
* Phone numbers: 11 digits starting 13–19, the same pattern the browser checks.
* Patterns match the whole answer (the browser anchors ``pattern`` too).
* Fields hidden by ``relevant`` are not judged and not kept.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate

from .definitions import PHONE_PATTERN, relevant_names

REQUIRED = _l("Please fill this in.")
NUMBER_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _empty(value) -> bool:
    return value is None or value == "" or value == []


def resolve_bound(bound, today: date):
    if bound == "today":
        return today
    if isinstance(bound, str):
        return date.fromisoformat(bound)
    return bound


class FormNumber(fields.Field):
    """A number as an ``<input type=number>`` gives it; ``whole`` for integer fields."""

    def __init__(self, *, whole: bool, **kwargs):
        super().__init__(**kwargs)
        self.whole = whole

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError(_l("Enter a number."))
        text = str(value).strip() if isinstance(value, (int, float)) else value
        if not isinstance(text, str) or not NUMBER_RE.match(text):
            raise ValidationError(_l("Enter a number."))
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(_l("Enter a number.")) from None
        if self.whole:
            if number != number.to_integral_value():
                raise ValidationError(_l("Enter a whole number."))
            return int(number)
        return float(number)


class FormDate(fields.Date):
    default_error_messages = {"invalid": _l("Enter a date (year-month-day).")}


class YesNo(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("yes", True):
            return True
        if value in ("no", False):
            return False
        raise ValidationError(_l("Answer yes or no."))


class Choices(fields.List):
    """Several choices: a list of values (a single value counts as a list of one)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [value]
        return super()._deserialize(value, attr, data, **kwargs)


def _field_for(field: dict, today: date, members: dict[str, str]) -> fields.Field:
    kind, low, high = field["type"], field["min"], field["max"]
    messages = {"required": REQUIRED, "null": REQUIRED}
    checks = []
    if kind == "text":
        if low is not None or high is not None:
            checks.append(validate.Length(min=low, max=high, error=_l("Use between {min} and {max} characters.")
                                          if low is not None and high is not None else
                                          (_l("Use at least {min} characters.") if low is not None
                                           else _l("Use at most {max} characters."))))
        if field["pattern"]:
            checks.append(validate.Regexp(f"(?:{field['pattern']})\\Z", error=_l("This answer is not in the expected form.")))
        return fields.String(required=field["required"], validate=checks, error_messages=messages)
    if kind == "phone":
        return fields.String(required=field["required"], error_messages=messages, validate=validate.Regexp(
            f"{PHONE_PATTERN}\\Z", error=_l("Enter 11 digits starting with 1, e.g. 13800138000.")))
    if kind in ("integer", "decimal"):
        if low is not None or high is not None:
            checks.append(validate.Range(min=low, max=high, error=_l("Enter a number from {min} to {max}.")
                                         if low is not None and high is not None else
                                         (_l("Enter a number of at least {min}.") if low is not None
                                          else _l("Enter a number of at most {max}."))))
        return FormNumber(whole=kind == "integer", required=field["required"], validate=checks,
                          error_messages=messages)
    if kind == "date":
        low, high = resolve_bound(low, today), resolve_bound(high, today)
        if low is not None or high is not None:
            checks.append(validate.Range(min=low, max=high, error=_l("Enter a date from {min} to {max}.")
                                         if low is not None and high is not None else
                                         (_l("Enter a date on or after {min}.") if low is not None
                                          else _l("Enter a date on or before {max}."))))
        return FormDate(required=field["required"], validate=checks, error_messages=messages)
    if kind == "select_one":
        return fields.String(required=field["required"], error_messages=messages, validate=validate.OneOf(
            [c["value"] for c in field["choices"]], error=_l("Choose one of the listed answers.")))
    if kind == "select_many":
        one = fields.String(validate=validate.OneOf([c["value"] for c in field["choices"]],
                                                    error=_l("Choose among the listed answers.")))
        return Choices(one, required=field["required"], error_messages=messages)
    if kind == "yes_no":
        return YesNo(required=field["required"], error_messages=messages)
    if kind == "member":
        return fields.String(required=field["required"], error_messages=messages, validate=validate.OneOf(
            list(members), error=_l("Choose a member of this household.")))
    raise ValueError(f"no schema field for type {kind}")


def schema_for(definition: dict, shown: list[str], today: date, members: dict[str, str]) -> Schema:
    """A marshmallow schema for the fields shown (``relevant``) with these answers."""
    by_name = {f["name"]: f for f in definition["fields"]}
    spec = {name: _field_for(by_name[name], today, members) for name in shown if by_name[name]["type"] != "note"}
    return Schema.from_dict(spec, name=f"Visit_{definition['form_id']}_{definition['version']}")()


def validate_answers(definition: dict, raw: dict, *, today: date,
                     members: dict[str, str] | None = None) -> tuple[dict, dict[str, list[str]]]:
    """``(clean, errors)``: typed answers of the fields shown, or errors by field name.

    ``raw`` holds only answers (no envelope). Names the form does not have are errors: a
    record is never stored with answers nobody can read back."""
    known = {f["name"] for f in definition["fields"]}
    errors = {name: [str(_l("This form has no such question."))] for name in raw if name not in known}
    shown = relevant_names(definition, raw)
    data = {name: raw[name] for name in shown if name in raw and not _empty(raw[name])}
    try:
        clean = schema_for(definition, shown, today, members or {}).load(data)
    except ValidationError as exc:
        for name, messages in exc.messages.items():
            if isinstance(messages, dict):  # list items: {index: [messages]}
                messages = [m for item in messages.values() for m in item]
            errors[name] = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        clean = {}
    if errors:
        return {}, errors
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in clean.items()}, {}
