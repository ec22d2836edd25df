"""Masking of sensitive numbers and translated labels for the register's stored codes."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

SEX_LABELS = {"F": _l("Female"), "M": _l("Male")}
STATUS_LABELS = {
    "resident": _l("Living here"),
    "away": _l("Away"),
    "moved_out": _l("Moved out"),
    "deceased": _l("Deceased"),
}
RELATION_LABELS = {
    "户主": _l("Head of household"),
    "配偶": _l("Spouse"),
    "子": _l("Son"),
    "女": _l("Daughter"),
    "父亲": _l("Father"),
    "母亲": _l("Mother"),
    "孙子": _l("Grandson"),
    "孙女": _l("Granddaughter"),
    "儿媳": _l("Daughter-in-law"),
    "女婿": _l("Son-in-law"),
    "兄弟": _l("Brother"),
    "姐妹": _l("Sister"),
    "祖父母": _l("Grandparent"),
    "其他": _l("Other relative"),
}

# Roles whose work needs the full ID number and phone on a person's card.
FULL_NUMBER_ROLES = ("worker", "supervisor", "admin")


def mask_id(number: str | None) -> str:
    """3701**********123X: first 4 and last 4 characters."""
    if not number:
        return ""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(number: str | None) -> str:
    """138****5678: first 3 and last 4 digits."""
    if not number:
        return ""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def sees_full_numbers(user) -> bool:
    return getattr(user, "role", None) in FULL_NUMBER_ROLES


def label(mapping: dict, code: str | None) -> str:
    """The translated label for a code; unknown codes (e.g. free text from old data) as they are."""
    if not code:
        return ""
    return str(mapping.get(code, code))

FIELD_LABELS = {
    "name": _l("Name"), "sex": _l("Sex"), "birth_date": _l("Date of birth"), "id_number": _l("ID number"),
    "phone": _l("Mobile phone"), "relation": _l("Relation to head of household"), "status": _l("Status"),
    "away_place": _l("Where they are now (town, city or employer)"), "away_contact": _l("Contact while away"),
    "enrolled": _l("Enrolled in check-ups"), "household_id": _l("Household"), "group_id": _l("Group"),
    "number": _l("Household number"), "address": _l("Address"),
}
