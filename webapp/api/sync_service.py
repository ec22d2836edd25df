"""One sync exchange: merge the device's records, then hand back what changed in its scope."""
from __future__ import annotations

from sync import changes_since, decode_cursor, encode_cursor

from ..merging import merge_records, store_and_rules
from .messages import translated

MAX_RECORDS = 500
PULL_PAGE = 500


class BadRequest(Exception):
    pass


def sync_exchange(user, device_id: str, body: dict) -> dict:
    """Answer per DESIGN.md §4. Raises BadRequest for a body that is not a sync request."""
    records = body.get("records", [])
    if not isinstance(records, list):
        raise BadRequest("records must be a list")
    try:
        cursor = decode_cursor(body.get("cursor"))
    except (ValueError, TypeError):
        raise BadRequest("cursor is not one this server gave out") from None
    results = translated(merge_records(user, device_id, records, audit_batch=True))
    store, _rules = store_and_rules(user, device_id)
    changes, new_cursor, more = changes_since(store, cursor, visible=lambda change: True, limit=PULL_PAGE)
    return {"results": results, "changes": changes, "cursor": encode_cursor(new_cursor), "more": more}

