"""The columns of a register file and how a cell's text becomes a form value.

One row per person. A household is the rows sharing village code, group code and
household number; its address may be on any of its rows (all that give one must agree).
Headers are matched by name (Chinese or English, in any order); other columns are listed
as ignored, never guessed at. Values in Chinese (男/女, 外出, 是/否) become the codes the
register's forms send, so the register's own validators judge every row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    required: bool
    label: object  # lazy string shown in errors and the preview
    example: str
    aliases: tuple[str, ...] = ()


COLUMNS = (
    Column("village_code", "村代码", "village code", True, _l("Village code"), "140121101001"),
    Column("group_code", "组代码", "group code", True, _l("Group code"), "001"),
    Column("household_number", "户编号", "household number", True, _l("Household number"), "0001",
           ("户号",)),
    Column("address", "住址", "address", True, _l("Address"), "东山村一组8号", ("地址",)),
    Column("name", "姓名", "name", True, _l("Name"), "张红梅"),
    Column("relation", "与户主关系", "relation to head", True, _l("Relation to head of household"), "户主",
           ("relation", "关系")),
    Column("sex", "性别", "sex", True, _l("Sex"), "女"),
    Column("birth_date", "出生日期", "date of birth", True, _l("Date of birth"), "1980-05-02",
           ("birth date", "出生年月日")),
    Column("id_number", "身份证号", "id number", False, _l("ID number"), "11010119800502002X",
           ("身份证号码", "公民身份号码")),
    Column("phone", "手机号", "mobile phone", False, _l("Mobile phone"), "13812345678",
           ("phone", "手机", "联系电话", "电话")),
    Column("status", "状态", "status", False, _l("Status"), "常住"),
    Column("away_place", "外出地点", "away place", False, _l("Where they are (away)"), ""),
    Column("away_contact", "外出联系方式", "away contact", False, _l("Contact while away"), ""),
    Column("enrolled", "参加查体", "enrolled", False, _l("Enrolled in check-ups"), "是"),
)
BY_KEY = {c.key: c for c in COLUMNS}
HOUSEHOLD_KEYS = ("village_code", "group_code", "household_number", "address")


def _fold(header: str) -> str:
    return re.sub(r"[\s_*＊（）()]+", " ", header).strip().lower()


_HEADER_INDEX = {_fold(name): c.key for c in COLUMNS for name in (c.zh, c.en, c.key, *c.aliases)}


def match_headers(headers: list[str]) -> tuple[dict[int, str], list[str], list[str]]:
    """(position → column key, ignored header names, keys of required columns missing)."""
    positions: dict[int, str] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        key = _HEADER_INDEX.get(_fold(header or ""))
        if key is None or key in positions.values():
            if (header or "").strip():
                ignored.append(header.strip())
            continue
        positions[index] = key
    missing = [c.key for c in COLUMNS if c.required and c.key not in positions.values()]
    return positions, ignored, missing


# -- cell text → form value ------------------------------------------------------------------

SEX_WORDS = {"女": "F", "f": "F", "female": "F", "女性": "F", "男": "M", "m": "M", "male": "M", "男性": "M"}
STATUS_WORDS = {
    "常住": "resident", "在家": "resident", "在籍": "resident", "resident": "resident",
    "外出": "away", "流动": "away", "away": "away",
    "迁出": "moved_out", "moved out": "moved_out", "moved_out": "moved_out",
    "死亡": "deceased", "已故": "deceased", "deceased": "deceased",
}
YES_WORDS = {"是", "y", "yes", "1", "true", "√", "✓", "参加"}
NO_WORDS = {"否", "n", "no", "0", "false", "", "不参加"}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def cell_text(value) -> str:
    """A cell as text: dates as YYYY-MM-DD, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def date_text(text: str) -> str:
    """1980/5/2, 1980.05.02, 1980年5月2日, 19800502 → 1980-05-02. Anything else is left as it
    is, so the register's validator rejects it ("not a valid date") exactly as the form would;
    31 February keeps its numbers and is rejected the same way."""
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not match:
        return text
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def person_values(cells: dict[str, str]) -> tuple[dict, dict[str, list[str]]]:
    """The person form's values for one row, and errors only a file can have (words the
    form's choices do not know)."""
    errors: dict[str, list[str]] = {}
    sex = cells.get("sex", "")
    sex_code = SEX_WORDS.get(sex.lower(), sex) if sex else ""
    status = cells.get("status", "")
    status_code = STATUS_WORDS.get(status.lower(), None) if status else "resident"
    if status_code is None:
        errors["status"] = [str(_l("Unknown status \"%(value)s\": use 常住, 外出, 迁出 or 死亡.", value=status))]
        status_code = "resident"
    enrolled = cells.get("enrolled", "").lower()
    if enrolled in YES_WORDS:
        enrolled_value = True
    elif enrolled in NO_WORDS:
        enrolled_value = False
    else:
        errors["enrolled"] = [str(_l("Write 是 or 否."))]
        enrolled_value = False
    values = {
        "name": cells.get("name", ""),
        "sex": sex_code,
        "birth_date": date_text(cells.get("birth_date", "")),
        "id_number": cells.get("id_number", ""),
        "phone": cells.get("phone", ""),
        "relation": cells.get("relation", ""),
        "status": status_code,
        "away_place": cells.get("away_place", ""),
        "away_contact": cells.get("away_contact", ""),
        "enrolled": enrolled_value,
    }
    return values, errors
