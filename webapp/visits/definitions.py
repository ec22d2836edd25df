"""Visit form definitions as data: one canonical shape, read from YAML/JSON, XLSForm or the database.

What must hold:

* ``normalise(raw)`` turns any accepted spelling (a YAML file, an uploaded JSON, an XLSForm
  sheet read by xlsform.py) into one canonical dict, so two sources of the same form compare
  equal, and the browser form (render) and the server schema (validation.py) read the same thing.
* ``relevant`` expressions are a small XLSForm subset (``${f} = 'v'``, ``${f} != 'v'``,
  ``selected(${f}, 'v')`` joined by ``and`` / ``or``; ``and`` binds tighter) parsed once to
  ``[[{"field", "op", "value"}, …], …]`` (any of all-of). static/js/visit-forms.js evaluates
  exactly that structure; ``is_relevant`` here is its twin.
* A field may only refer to fields before it, so relevance is decided in one pass.
* Built-in forms (forms/*.yaml) are version 1..n in the repo; admins load later versions into
  ``visit_form`` without a deploy. Every version ever used stays readable.
"""
from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from ..extensions import db

FORMS_DIR = Path(__file__).resolve().parent / "forms"
FIELD_TYPES = ("text", "integer", "decimal", "date", "select_one", "select_many", "yes_no", "phone", "note",
               "member")
NUMERIC = ("integer", "decimal")
CHOICE_TYPES = ("select_one", "select_many")
PHONE_PATTERN = r"1[3-9]\d{9}"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FORM_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESERVED = ("form_id", "form_version", "household_id")
FIELD_KEYS = ("name", "type", "label", "hint", "required", "min", "max", "pattern", "choices", "relevant",
              "default")


class DefinitionError(ValueError):
    """A definition that cannot be used; ``problems`` lists every reason, in plain words."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


# -- text in two languages ------------------------------------------------------------------

def _texts(value: Any) -> dict[str, str]:
    """A label or hint as {"zh", "en"}; a plain string serves both languages."""
    if value is None or value == "":
        return {"zh": "", "en": ""}
    if isinstance(value, str):
        return {"zh": value, "en": value}
    if isinstance(value, dict):
        zh, en = str(value.get("zh") or ""), str(value.get("en") or "")
        return {"zh": zh or en, "en": en or zh}
    return {"zh": str(value), "en": str(value)}


def text_in(texts: dict | None, locale: str) -> str:
    texts = texts or {}
    return texts.get("en" if locale == "en" else "zh") or texts.get("zh") or ""


# -- relevance ------------------------------------------------------------------------------

_COND = re.compile(
    r"""^(?:\$\{(?P<f1>\w+)\}\s*(?P<op>!=|=)\s*(?P<q1>['"])(?P<v1>[^'"]*)(?P=q1)"""
    r"""|selected\(\s*\$\{(?P<f2>\w+)\}\s*,\s*(?P<q2>['"])(?P<v2>[^'"]*)(?P=q2)\s*\))$""")


def parse_relevant(expression: Any) -> list[list[dict]] | None:
    """``"${kind} = 'birth' or selected(${met}, 'head')"`` → canonical; None when empty."""
    if expression is None or expression == "":
        return None
    if isinstance(expression, list):  # already canonical (uploaded JSON, the database)
        return [[{"field": c["field"], "op": c["op"], "value": str(c["value"])} for c in clause]
                for clause in expression]
    clauses = []
    for part in re.split(r"\s+or\s+", str(expression).strip()):
        conditions = []
        for piece in re.split(r"\s+and\s+", part.strip()):
            match = _COND.match(piece.strip())
            if not match:
                raise DefinitionError([f"relevant: cannot read {piece.strip()!r} (supported: ${{field}} = 'value', "
                                       "${field} != 'value', selected(${field}, 'value'), joined by and / or)"])
            if match["f1"]:
                conditions.append({"field": match["f1"], "op": match["op"], "value": match["v1"]})
            else:
                conditions.append({"field": match["f2"], "op": "selected", "value": match["v2"]})
        clauses.append(conditions)
    return clauses


def _condition_holds(condition: dict, values: dict) -> bool:
    value = values.get(condition["field"])
    if condition["op"] == "selected":
        return condition["value"] in value if isinstance(value, list) else value == condition["value"]
    text = "" if value is None else (",".join(value) if isinstance(value, list) else str(value))
    same = text == condition["value"]
    return same if condition["op"] == "=" else not same


def is_relevant(field: dict, values: dict) -> bool:
    """``values`` are the raw answers of the *relevant* earlier fields (others count as empty)."""
    clauses = field.get("relevant")
    if not clauses:
        return True
    return any(all(_condition_holds(c, values) for c in clause) for clause in clauses)


def relevant_names(definition: dict, raw: dict) -> list[str]:
    """The fields shown for these answers, in order, the way the browser decides it."""
    shown, seen = [], {}
    for field in definition["fields"]:
        if is_relevant(field, seen):
            shown.append(field["name"])
            seen[field["name"]] = raw.get(field["name"])
    return shown


# -- the canonical shape --------------------------------------------------------------------

def _bound(value: Any, kind: str, where: str, problems: list[str]):
    if value is None or value == "":
        return None
    if kind == "date":
        if value == "today" or isinstance(value, date):
            return value if value == "today" else value.isoformat()
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            problems.append(f"{where}: a date bound must be YYYY-MM-DD or 'today', not {value!r}")
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems.append(f"{where}: must be a number, not {value!r}")
        return None
    if kind in ("text", "phone", "integer", "select_many"):
        return int(number) if number == int(number) else number
    return int(number) if number == int(number) else number


def _field(raw: Any, index: int, earlier: list[str], problems: list[str]) -> dict | None:
    if not isinstance(raw, dict):
        problems.append(f"field {index + 1}: must be a mapping")
        return None
    name = str(raw.get("name") or "")
    where = f"field {name or index + 1}"
    unknown = sorted(set(raw) - set(FIELD_KEYS))
    if unknown:
        problems.append(f"{where}: unknown keys {', '.join(unknown)}")
    if not NAME_RE.match(name) or name in RESERVED:
        problems.append(f"{where}: the name must be lower-case letters, digits and _ (and not {', '.join(RESERVED)})")
    if name in earlier:
        problems.append(f"{where}: the name is used twice")
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        problems.append(f"{where}: unknown type {kind!r} (known: {', '.join(FIELD_TYPES)})")
        return None
    choices = None
    if kind in CHOICE_TYPES:
        choices = []
        for choice in raw.get("choices") or []:
            if isinstance(choice, dict):
                choices.append({"value": str(choice.get("value")), "label": _texts(choice.get("label"))})
            else:
                choices.append({"value": str(choice), "label": _texts(str(choice))})
        if not choices:
            problems.append(f"{where}: a {kind} field needs choices")
    elif raw.get("choices"):
        problems.append(f"{where}: only select_one and select_many take choices")
    pattern = raw.get("pattern") or None
    if pattern is not None:
        if kind != "text":
            problems.append(f"{where}: only text fields take a pattern")
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{where}: the pattern is not a valid regular expression ({exc})")
    relevant = None
    try:
        relevant = parse_relevant(raw.get("relevant"))
    except DefinitionError as exc:
        problems.extend(f"{where}: {p}" for p in exc.problems)
    for clause in relevant or []:
        for condition in clause:
            if condition["field"] not in earlier:
                problems.append(f"{where}: relevant refers to {condition['field']!r}, which is not an earlier field")
    default = raw.get("default")
    if isinstance(default, date):
        default = default.isoformat()
    if kind == "select_many" and default is not None and not isinstance(default, list):
        default = [str(v).strip() for v in str(default).split() if str(v).strip()]
    elif kind == "yes_no" and isinstance(default, bool):
        default = "yes" if default else "no"
    elif default is not None and not isinstance(default, list):
        default = str(default)
    if default == "":
        default = None
    bound_kind = "date" if kind == "date" else kind
    return {
        "name": name, "type": kind, "label": _texts(raw.get("label")), "hint": _texts(raw.get("hint")),
        "required": bool(raw.get("required")) and kind != "note",
        "min": _bound(raw.get("min"), bound_kind, f"{where} min", problems),
        "max": _bound(raw.get("max"), bound_kind, f"{where} max", problems),
        "pattern": pattern, "choices": choices, "relevant": relevant, "default": default,
    }


def normalise(raw: Any) -> dict:
    """The canonical definition, or DefinitionError naming every problem at once."""
    if not isinstance(raw, dict):
        raise DefinitionError(["a form definition must be a mapping with form_id, version, title and fields"])
    problems: list[str] = []
    form_id = str(raw.get("form_id") or "")
    if not FORM_ID_RE.match(form_id):
        problems.append("form_id: lower-case letters, digits and _ (e.g. household_visit)")
    version = raw.get("version")
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append("version: a whole number of at least 1")
    unknown = sorted(set(raw) - {"form_id", "version", "title", "fields"})
    if unknown:
        problems.append(f"unknown keys {', '.join(unknown)}")
    fields, names = [], []
    for index, item in enumerate(raw.get("fields") or []):
        field = _field(item, index, names, problems)
        if field is not None:
            fields.append(field)
            names.append(field["name"])
    if not fields:
        problems.append("fields: a form needs at least one field")
    if problems:
        raise DefinitionError(problems)
    return {"form_id": form_id, "version": version, "title": _texts(raw.get("title")), "fields": fields}


def parse_text(text: str) -> dict:
    """A YAML (or JSON, which is YAML) definition file's text → canonical definition."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError([f"the file is not valid YAML or JSON ({exc.__class__.__name__})"]) from None
    return normalise(raw)


# -- where definitions live -----------------------------------------------------------------

_PARSED: dict[tuple[str, int, int], dict] = {}


def builtin_forms() -> dict[str, dict]:
    """form_id -> canonical definition of the repo's YAML files.

    Parsed again only when a file changes (its mtime and size are the key): every page's layout
    asks for the titles, and parsing the YAML each time cost ~40–200 ms per request (bench/dashboard.py).
    Callers get copies, so nobody can change the cached definitions."""
    forms = {}
    for path in sorted(FORMS_DIR.glob("*.yaml")):
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key not in _PARSED:
            _PARSED[key] = parse_text(path.read_text(encoding="utf-8"))
        definition = copy.deepcopy(_PARSED[key])
        forms[definition["form_id"]] = definition
    return forms


BUILTIN_ORDER = ("household_visit", "change_report", "health_followup")


def _stored(form_id: str, version: int | None = None) -> dict | None:
    from .models import VisitForm

    stmt = sa.select(VisitForm.definition).where(VisitForm.form_id == form_id)
    stmt = stmt.where(VisitForm.version == version) if version is not None else stmt.order_by(
        VisitForm.version.desc())
    return db.session.scalar(stmt.limit(1))


def current_form(form_id: str) -> dict | None:
    """The newest version: an admin's upload when there is one newer than the repo's."""
    stored, builtin = _stored(form_id), builtin_forms().get(form_id)
    candidates = [d for d in (stored, builtin) if d is not None]
    return max(candidates, key=lambda d: d["version"]) if candidates else None


def form_version(form_id: str, version: int) -> dict | None:
    """One exact version (to read an old visit, or judge a record)."""
    builtin = builtin_forms().get(form_id)
    if builtin is not None and builtin["version"] == version:
        return builtin
    return _stored(form_id, version)


def all_current_forms() -> list[dict]:
    from .models import VisitForm

    ids = set(builtin_forms()) | set(db.session.scalars(sa.select(VisitForm.form_id).distinct()))
    order = {form_id: i for i, form_id in enumerate(BUILTIN_ORDER)}
    return [current_form(f) for f in sorted(ids, key=lambda f: (order.get(f, 99), f))]


def to_json(definition: dict) -> str:
    return json.dumps(definition, ensure_ascii=False, sort_keys=True)
