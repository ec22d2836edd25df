"""Pull by cursor (DESIGN.md §4 property 8).

What must hold: a device that starts from ``cursor=None`` and keeps calling with the
returned cursor until ``more`` is False has seen the latest state of every visible
entity and event, however the changes were interleaved with its calls, and never one
``visible`` refused. The cursor is the highest change seq *examined* (not only
returned), so a page full of invisible changes still moves the device forward.

Caveat for a SQL store: a seq taken by a transaction that commits *after* a larger seq
was already pulled would be skipped. Serialise merge units (SQLite does; on PostgreSQL
take a transaction-level advisory lock in ``begin``), or pull only below the smallest
seq still in flight.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .store import EntityState, Event, Store

CURSOR_PREFIX = "c1."


def change_of(item: EntityState | Event) -> dict[str, Any]:
    """The wire form of one change (the ``changes`` list of the sync response)."""
    if isinstance(item, EntityState):
        return {"entity": item.entity, "entity_id": item.entity_id, "version": item.version,
                "data": dict(item.fields), "deleted": bool(item.fields.get("deleted", False)),
                "seq": item.seq}
    return {"entity": item.type, "entity_id": item.entity_id, "version": None, "data": dict(item.data),
            "deleted": False, "record_id": item.record_id, "counted": item.counted,
            "time_ms": item.stamp.physical_ms, "seq": item.seq}  # when it happened: a desk shows it


def changes_since(
    store: Store,
    cursor: int | None,
    visible: Callable[[dict[str, Any]], bool],
    limit: int = 500,
) -> tuple[list[dict[str, Any]], int, bool]:
    """``(changes, new_cursor, more)``: at most ``limit`` visible changes after ``cursor``."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    after = cursor or 0
    changes: list[dict[str, Any]] = []
    while len(changes) < limit:
        page = store.changed_since(after, limit)
        if not page:
            return changes, after, False
        for item in page:
            after = item.seq
            change = change_of(item)
            if visible(change):
                changes.append(change)
                if len(changes) == limit:
                    break
    return changes, after, bool(store.changed_since(after, 1))


def encode_cursor(seq: int) -> str:
    """The opaque string a device echoes back."""
    return f"{CURSOR_PREFIX}{seq}"


def decode_cursor(text: str | None) -> int | None:
    """Inverse of :func:`encode_cursor`; ``ValueError`` for anything a device made up."""
    if text is None or text == "":
        return None
    digits = text[len(CURSOR_PREFIX):] if isinstance(text, str) and text.startswith(CURSOR_PREFIX) else ""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise ValueError("bad cursor")  # sequence numbers are 64-bit integers in the database
    return int(digits)
