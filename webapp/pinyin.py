"""Pinyin keys for Chinese names, computed once when a name is saved.

``full`` is the toneless pinyin run together (张红梅 → zhanghongmei) and
``initials`` the first letter of each syllable (zhm); both lower case, so a
search can use a plain prefix/substring match on an indexed column.
"""
import re

from pypinyin import Style, lazy_pinyin


def pinyin_keys(name: str) -> tuple[str, str]:
    chunks = lazy_pinyin(name, style=Style.NORMAL, errors="default")
    # Non-Chinese runs come back whole ("Li Lei"): split them into words too.
    syllables = [w for chunk in chunks for w in re.split(r"[^0-9a-z]+", chunk.lower()) if w]
    return "".join(syllables), "".join(s[0] for s in syllables)
