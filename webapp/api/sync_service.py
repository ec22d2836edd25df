"""One sync exchange: merge the device's records, then hand back what changed in its scope."""
from __future__ import annotations

from sync import changes_since, decode_cursor, encode_cursor, merge_batch

from .. import audit, merging
from ..extensions import db
from ..merging import registered_device, store_and_rules

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
    store, rules = store_and_rules(user, device_id)
    results = merge_batch(store, records, device_id=device_id, user_id=user.id, now=merging.server_now(), rules=rules)
    changes, new_cursor, more = changes_since(store, cursor, visible=lambda change: True, limit=PULL_PAGE)
    if records:
        counts: dict[str, int] = {}
        for result in results:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        audit.record("sync", "device", device_id, after=counts, user=user, device_id=registered_device(device_id))
        db.session.commit()
    return {"results": results, "changes": changes, "cursor": encode_cursor(new_cursor), "more": more}

