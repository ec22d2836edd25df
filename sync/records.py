"""The envelope of one incoming record, checked before any merge rule sees it.

What must hold:

* :func:`parse_record` never raises, whatever JSON value it is given; it returns either a
  :class:`Record` or a ``{field: [messages]}`` dict naming every bad field at once.
* A bad envelope is still stored as received (see ``merge``): :func:`raw_key` gives every
  received value a stable storage key, so a retried bad record is a duplicate too.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MIN_YEAR, MAX_YEAR = 2000, 2100
RECORD = "_record"  # the errors key for problems with the record as a whole


@dataclass(frozen=True)
class Record:
    """A record whose envelope is valid. Ids are lower-case canonical UUID strings."""

    id: str
    type: str
    entity_id: str
    base_version: int | None
    client_time: datetime  # always timezone-aware
    data: dict[str, Any]


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(UUID_RE.match(value))


def raw_key(raw: Any) -> str:
    """The key a received value is stored under: its id when that is a UUID, else a hash.

    Hashing the canonical JSON means a bad record sent twice is stored once, and two
    different bad records never overwrite each other.
    """
    if isinstance(raw, dict) and is_uuid(raw.get("id")):
        return raw["id"].lower()
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def parse_record(
    raw: Any, types: Collection[str]
) -> tuple[Record, None] | tuple[None, dict[str, list[str]]]:
    """Check the envelope ``{id, type, entity_id, base_version, client_time, data}``."""
    if not isinstance(raw, dict):
        return None, {RECORD: ["Each record must be a JSON object."]}
    errors: dict[str, list[str]] = {}

    def bad(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field in ("id", "entity_id"):
        if not is_uuid(raw.get(field)):
            bad(field, "Must be a UUID made on the device.")
    if not isinstance(raw.get("type"), str) or raw.get("type") not in types:
        bad("type", "Unknown record type.")
    base_version = raw.get("base_version")
    if base_version is not None and (
        isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 0
    ):
        bad("base_version", "Must be a whole number of at least 0, or null.")
    client_time, message = _parse_time(raw.get("client_time"))
    if message:
        bad("client_time", message)
    data = raw.get("data")
    if not isinstance(data, dict):
        bad("data", "Must be a JSON object.")
    else:
        for name, value in data.items():
            if _holds_nul(name) or _holds_nul(value):
                bad(str(name).replace("\x00", "\ufffd"), "Must not contain a NUL character; type the text again.")
    if errors:
        return None, errors
    return Record(
        id=raw["id"].lower(),
        type=raw["type"],
        entity_id=raw["entity_id"].lower(),
        base_version=base_version,
        client_time=client_time,
        data=data,
    ), None


def _holds_nul(value: Any) -> bool:
    """Whether a NUL hides anywhere in a JSON value (keys too): no database text column takes one.
    Iterative, because a value may be nested as deep as the JSON parser allowed."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _parse_time(value: Any) -> tuple[datetime | None, str | None]:
    if not isinstance(value, str):
        return None, "Must be an ISO 8601 time with a UTC offset."
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, "Must be an ISO 8601 time with a UTC offset."
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None, "Must include a UTC offset, e.g. +08:00."
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None, "The device clock looks wrong; check the phone's date."
    return moment, None
