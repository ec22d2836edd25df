"""Import of an XLSForm subset (survey, choices, settings sheets) into a canonical definition.

Mapping (anything else is reported, never silently dropped):

* types: text, integer, decimal, date, note, ``select_one L``, ``select_multiple L``;
  ``select_one L`` whose list L holds exactly the values yes/no is our yes_no; a ``text``
  row with appearance ``phone`` is our phone field.
* columns: type, name, label, hint (``label::zh``, ``label::Chinese (zh)`` … per language),
  required (yes/true/1), relevant, default, appearance (phone only), constraint in the forms
  ``. >= N``, ``. <= N``, ``. >= today()``, ``. <= date('YYYY-MM-DD')``,
  ``string-length(.) <= N``, ``regex(., 'pattern')`` joined by ``and``.
* settings: form_id, version, form_title (per language too), default_language (zh or en).
"""
from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from .definitions import DefinitionError, normalise

SURVEY_COLUMNS = ("type", "name", "label", "hint", "required", "relevant", "default", "appearance", "constraint")
CHOICE_COLUMNS = ("list_name", "name", "label")
SETTINGS_COLUMNS = ("form_id", "version", "form_title", "default_language")
SIMPLE_TYPES = {"text": "text", "integer": "integer", "decimal": "decimal", "date": "date", "note": "note"}
_LANG = re.compile(r"^(?P<base>[a-z_]+)(?:::(?P<lang>.+))?$")
_CONSTRAINT = [
    (re.compile(r"^\.\s*(>=|<=)\s*(-?\d+(?:\.\d+)?)$"), "number"),
    (re.compile(r"^\.\s*(>=|<=)\s*today\(\)$"), "today"),
    (re.compile(r"^\.\s*(>=|<=)\s*date\('(\d{4}-\d{2}-\d{2})'\)$"), "date"),
    (re.compile(r"^string-length\(\.\)\s*(>=|<=)\s*(\d+)$"), "length"),
    (re.compile(r"^regex\(\.\s*,\s*'(.*)'\)$"), "regex"),
]


def _lang(suffix: str | None, default: str) -> str | None:
    if suffix is None:
        return default
    match = re.search(r"\((\w+)\)\s*$", suffix)
    code = (match.group(1) if match else suffix).strip().lower()
    return {"zh": "zh", "zh-cn": "zh", "zh_cn": "zh", "chinese": "zh", "en": "en", "english": "en"}.get(code)


def _rows(sheet, known: tuple[str, ...], default_lang: str, problems: list[str]) -> list[dict]:
    """Rows as dicts; ``label``/``hint``/``form_title`` become {lang: text}. Unknown columns are problems."""
    rows = list(sheet.iter_rows(values_only=True))
    if not rows:
        return []
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    columns = []
    for index, name in enumerate(header):
        match = _LANG.match(name)
        base = match["base"] if match else name
        lang = _lang(match["lang"], default_lang) if match else None
        if not name:
            columns.append(None)
        elif base not in known or (match["lang"] and base not in ("label", "hint", "form_title")) or lang is None:
            problems.append(f"sheet {sheet.title}: column {name!r} (column {index + 1}) is not supported")
            columns.append(None)
        else:
            columns.append((base, lang if base in ("label", "hint", "form_title") else None))
    out = []
    for row in rows[1:]:
        if all(v is None or str(v).strip() == "" for v in row):
            continue
        item: dict = {}
        for column, value in zip(columns, row, strict=False):
            if column is None or value is None or str(value).strip() == "":
                continue
            base, lang = column
            if lang:
                item.setdefault(base, {})[lang] = str(value).strip()
            else:
                item[base] = value if isinstance(value, (int, float)) and base == "version" else str(value).strip()
        out.append(item)
    return out


def _constraint(text: str, where: str, problems: list[str]) -> dict:
    rules: dict = {}
    for part in re.split(r"\s+and\s+", text.strip()):
        for pattern, kind in _CONSTRAINT:
            match = pattern.match(part.strip())
            if not match:
                continue
            if kind == "regex":
                rules["pattern"] = match.group(1)
            else:
                key = "min" if match.group(1) == ">=" else "max"
                rules[key] = "today" if kind == "today" else match.group(2)
            break
        else:
            problems.append(f"{where}: constraint {part.strip()!r} is not supported")
    return rules


def read_xlsform(payload: bytes) -> dict:
    """The canonical definition of an XLSForm workbook, or DefinitionError listing every problem."""
    try:
        book = load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable upload is the same answer
        raise DefinitionError([f"the file is not an Excel workbook ({exc.__class__.__name__})"]) from None
    problems: list[str] = []
    for name in book.sheetnames:
        if name not in ("survey", "choices", "settings"):
            problems.append(f"sheet {name!r} is not supported (only survey, choices, settings)")
    if "survey" not in book.sheetnames:
        raise DefinitionError(problems + ["the workbook has no survey sheet"])
    settings_rows = _rows(book["settings"], SETTINGS_COLUMNS, "zh", problems) if "settings" in book.sheetnames else []
    settings = settings_rows[0] if settings_rows else {}
    default_lang = _lang(str(settings.get("default_language") or "zh"), "zh") or "zh"
    choices: dict[str, list[dict]] = {}
    if "choices" in book.sheetnames:
        for row in _rows(book["choices"], CHOICE_COLUMNS, default_lang, problems):
            choices.setdefault(row.get("list_name", ""), []).append(
                {"value": row.get("name", ""), "label": row.get("label") or row.get("name", "")})
    fields = []
    for number, row in enumerate(_rows(book["survey"], SURVEY_COLUMNS, default_lang, problems), start=2):
        where = f"survey row {number} ({row.get('name', '?')})"
        xls_type = row.get("type", "").split()
        field = {"name": row.get("name"), "label": row.get("label"), "hint": row.get("hint"),
                 "relevant": row.get("relevant"), "default": row.get("default")}
        if str(row.get("required", "")).lower() in ("yes", "true", "1", "true()"):
            field["required"] = True
        appearance = row.get("appearance")
        if len(xls_type) == 1 and xls_type[0] in SIMPLE_TYPES:
            field["type"] = SIMPLE_TYPES[xls_type[0]]
            if appearance == "phone" and xls_type[0] == "text":
                field["type"], appearance = "phone", None
        elif len(xls_type) == 2 and xls_type[0] in ("select_one", "select_multiple"):
            listed = choices.get(xls_type[1])
            if listed is None:
                problems.append(f"{where}: no choices list {xls_type[1]!r}")
                continue
            if xls_type[0] == "select_one" and sorted(c["value"] for c in listed) == ["no", "yes"]:
                field["type"] = "yes_no"
            else:
                field["type"] = "select_one" if xls_type[0] == "select_one" else "select_many"
                field["choices"] = listed
        else:
            problems.append(f"{where}: type {row.get('type')!r} is not supported")
            continue
        if appearance:
            problems.append(f"{where}: appearance {appearance!r} is not supported")
        if row.get("constraint"):
            field.update(_constraint(row["constraint"], where, problems))
        fields.append({k: v for k, v in field.items() if v is not None})
    if problems:
        raise DefinitionError(problems)
    version = settings.get("version")
    version = int(version) if isinstance(version, (int, float)) or str(version).isdigit() else version
    return normalise({"form_id": settings.get("form_id"), "version": version,
                      "title": settings.get("form_title"), "fields": fields})
