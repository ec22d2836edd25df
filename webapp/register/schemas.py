"""Validation of register data: households and people.

These schemas are shared by the web forms and (later) the offline sync merge,
so they must stay free of Flask request objects. Everything the checks need
from the outside world (the town for the duplicate-ID check, the person being
edited, a database session, "today" in local time) is passed in as arguments.

Error messages are lazy strings; ``validate_*`` turns them into plain ``str``
in the current locale so that callers can render or JSON-encode them.
"""
from __future__ import annotations

from collections.abc import Container
from datetime import date
from functools import lru_cache

import phonenumbers
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from ..models import SEXES, STATUSES, Area, Person

EARLIEST_BIRTH = date(1900, 1, 1)
REQUIRED = _l("Please fill this in.")

# Person.relation holds the words of the household register book (户口簿 "与户主关系"),
# as the demo data and imports do; labels.py translates them for English users.
HEAD = "户主"
RELATIONS = (HEAD, "配偶", "子", "女", "父亲", "母亲", "孙子", "孙女", "儿媳", "女婿",
             "兄弟", "姐妹", "祖父母", "其他")


def _blank_to_none(data: dict, names) -> dict:
    for name in names:
        if name in data and isinstance(data[name], str) and not data[name].strip():
            data[name] = None
    return data


class HouseholdSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    number = fields.String(
        load_default="", validate=validate.Length(max=32, error=_l("Use at most {max} characters.")))
    address = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200, error=_l("Enter the address (at most {max} characters).")),
        error_messages={"required": REQUIRED, "null": REQUIRED},
    )
    group_id = fields.String(required=True, error_messages={"required": REQUIRED, "null": REQUIRED})

    @pre_load
    def tidy(self, data, **_kwargs):
        data = {k: (v.strip() if isinstance(v, str) else v) for k, v in dict(data).items()}
        if data.get("number") is None:
            data["number"] = ""
        return _blank_to_none(data, ("address", "group_id"))


class PersonSchema(Schema):
    """Field-level rules for one person. Cross-row rules (duplicate ID in the town)
    are in ``validate_person`` because they need the database."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=50, error=_l("Enter a name of at most {max} characters.")),
        error_messages={"required": _l("Enter the name."), "null": _l("Enter the name.")},
    )
    sex = fields.String(
        required=True,
        validate=validate.OneOf(SEXES, error=_l("Choose female or male.")),
        error_messages={"required": _l("Choose female or male."), "null": _l("Choose female or male.")},
    )
    birth_date = fields.Date(
        required=True,
        error_messages={
            "required": _l("Enter the date of birth."),
            "null": _l("Enter the date of birth."),
            "invalid": _l("This is not a valid date."),
        },
    )
    id_number = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)
    relation = fields.String(
        load_default="", validate=validate.Length(max=20, error=_l("Use at most {max} characters.")))
    status = fields.String(
        load_default="resident",
        validate=validate.OneOf(STATUSES, error=_l("Choose one of the listed statuses.")),
    )
    away_place = fields.String(
        load_default="", validate=validate.Length(max=200, error=_l("Use at most {max} characters.")))
    away_contact = fields.String(
        load_default="", validate=validate.Length(max=50, error=_l("Use at most {max} characters.")))
    enrolled = fields.Boolean(
        load_default=False,
        truthy={True, "1", "true", "True", "on", "yes", "y"},
        falsy={False, "0", "false", "False", "off", "no", "n", "", None},
        allow_none=True,
    )

    def __init__(self, *args, today: date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today or date.today()

    @pre_load
    def tidy(self, data, **_kwargs):
        data = {k: (v.strip() if isinstance(v, str) else v) for k, v in dict(data).items()}
        for name in ("relation", "away_place", "away_contact"):
            if data.get(name) is None:
                data[name] = ""
        if "enrolled" not in data:
            data["enrolled"] = False  # an unticked checkbox sends nothing
        if data.get("status") in (None, ""):
            data["status"] = "resident"
        return _blank_to_none(data, ("name", "sex", "birth_date", "id_number", "phone"))

    @validates_schema(skip_on_field_errors=False)
    def check(self, data, **_kwargs):
        errors: dict[str, list] = {}
        birth = data.get("birth_date")
        if birth is not None:
            if birth > self.today:
                errors.setdefault("birth_date", []).append(_l("The date of birth cannot be in the future."))
            elif birth < EARLIEST_BIRTH:
                errors.setdefault("birth_date", []).append(_l("The date of birth cannot be before 1900."))
        if data.get("id_number"):
            try:
                data["id_number"] = normalise_id_number(data["id_number"], birth)
            except ValidationError as exc:
                errors["id_number"] = exc.messages
        if data.get("phone"):
            try:
                data["phone"] = normalise_mobile(data["phone"])
            except ValidationError as exc:
                errors["phone"] = exc.messages
        if data.get("status") == "away" and not data.get("away_place"):
            errors["away_place"] = [_l("Enter where the person is working or living now.")]
        if errors:
            raise ValidationError(errors)


@lru_cache(maxsize=4096)
def _id_number_problem(number: str) -> str | None:
    """Which check a compact ID number fails, if any. Cached: stdnum looks the area code up
    in its database each time, and every edit of a person checks their unchanged number."""
    try:
        ric.validate(number)
    except stdnum_errors.InvalidChecksum:
        return "checksum"
    except (stdnum_errors.InvalidLength, stdnum_errors.InvalidFormat):
        return "format"
    except stdnum_errors.ValidationError:
        return "other"
    return None


def normalise_id_number(value: str, birth: date | None) -> str:
    """Upper-case the check character, check it, and check it agrees with the birth date."""
    number = ric.compact(value).upper()
    problem = _id_number_problem(number)
    if problem == "checksum":
        raise ValidationError(_l("This ID number is not valid. Check the last digit."))
    if problem == "format":
        raise ValidationError(_l("An ID number has 18 characters: 17 digits, then a digit or X."))
    if problem is not None:
        raise ValidationError(_l("This ID number is not valid. Check the area code and the date in it."))
    if birth is not None and ric.get_birth_date(number) != birth:
        raise ValidationError(
            _l("The date of birth inside the ID number (digits 7 to 14) is not the same as the date of birth entered."))
    return number


def normalise_mobile(value: str) -> str:
    """A Chinese mobile number as its 11 digits (accepts spaces, dashes, +86)."""
    national = _mobile_national(value)
    if national is None:
        raise ValidationError(_l("This is not a valid mobile number. Enter 11 digits starting with 1."))
    return national


@lru_cache(maxsize=4096)
def _mobile_national(value: str) -> str | None:
    """Cached: parsing is slow, and every edit of a person checks their unchanged number."""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return None
    kind = phonenumbers.number_type(number)
    if (number.country_code != 86 or not phonenumbers.is_valid_number(number)
            or kind not in (phonenumbers.PhoneNumberType.MOBILE,
                            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)):
        return None
    national = str(number.national_number)
    return national if len(national) == 11 else None


def _plain(messages: dict) -> dict[str, list[str]]:
    """Lazy strings → str in the current locale; nested schema errors are flattened."""
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        values = value if isinstance(value, list) else [value]
        out[key] = [str(v) for v in values]
    return out


@lru_cache(maxsize=4)
def _person_schema(today: date) -> PersonSchema:
    """Building a schema costs as much as loading with it; one per day is enough (loading
    keeps no state on the schema)."""
    return PersonSchema(today=today)


@lru_cache(maxsize=1)
def _household_schema() -> HouseholdSchema:
    return HouseholdSchema()


def validate_person(data: dict, *, town_id: str, session, person_id: str | None = None,
                    today: date | None = None, id_taken=None,
                    registered_ids: Container[str] | None = None) -> tuple[dict, dict[str, list[str]]]:
    """Check one person's data. Returns ``(clean_data, errors)``; errors is empty when valid.

    The duplicate-ID check looks across the whole town (the uniqueness rule is per
    town), not only the caller's villages, and only answers yes/no: the message
    must never say who already holds the number. ``id_taken(town_id, id_number,
    person_id)`` may replace the query (the sync merge asks without flushing its batch). A
    caller judging many new people at once (an import) may instead pass the town's
    ``registered_ids`` it looked up in one query (only for people not yet in the register).
    """
    schema = _person_schema(today or date.today())
    try:
        clean = schema.load(data)
    except ValidationError as exc:
        return {}, _plain(exc.messages)
    if registered_ids is not None and id_taken is None:
        def id_taken(_town_id, id_number, _person_id):
            return id_number in registered_ids
    if clean.get("id_number") and (id_taken or _id_taken_in_db(session))(town_id, clean["id_number"], person_id):
        return {}, {"id_number": [str(_l("This ID number is already registered in this town."))]}
    return clean, {}


def _id_taken_in_db(session):
    def taken(town_id: str, id_number: str, person_id: str | None) -> bool:
        stmt = sa.select(Person.id).where(Person.town_id == town_id, Person.id_number == id_number)
        if person_id is not None:
            stmt = stmt.where(Person.id != person_id)
        return session.scalar(stmt.limit(1)) is not None
    return taken


def validate_household(data: dict, *, village_id: str, session) -> tuple[dict, dict[str, list[str]]]:
    """Check one household's data; its group must be a group of the given village."""
    try:
        clean = _household_schema().load(data)
    except ValidationError as exc:
        return {}, _plain(exc.messages)
    group = session.get(Area, clean["group_id"])
    if group is None or group.kind != "group" or group.parent_id != village_id:
        return {}, {"group_id": [str(_l("Choose a group of this village."))]}
    return clean, {}
