"""The Chinese interface is complete: every message has a translation that keeps its placeholders.

(The English interface is the source text itself.) A new string without a Chinese translation
would show English to a village worker who cannot read it; a translation that drops or renames
a placeholder would crash or show the wrong value."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def catalogue():
    with open(ROOT / "translations/zh/LC_MESSAGES/messages.po", "rb") as fh:
        return read_po(fh, locale="zh_CN")


def _names(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def test_every_message_has_a_chinese_translation_with_the_same_placeholders():
    missing, broken = [], []
    for message in catalogue():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            missing.append(ids[0])
            continue
        if _names(ids[-1]) != _names(strings[-1]):
            broken.append(ids[0])
    assert missing == [] and broken == []


def test_the_catalogue_holds_every_string_the_code_and_templates_use():
    method_map = [("webapp/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    used = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=keywords,
            callback=None, strip_comment_tags=False):
        used.add(message if isinstance(message, str) else message[0])
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue() if m.id}
    assert sorted(used - known) == []
