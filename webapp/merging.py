"""The one way a change reaches the register: a sync record merged by sync.merge_batch.

Phones send records to /api/sync; web forms and conflict resolutions make a record on
the server and merge it here. Same rules, clocks, conflicts, projection and audit.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, g

from sync import REJECTED, Result, merge_batch

from . import audit
from .extensions import db
from .scope import village_ids_for
from .sync_store import SqlStore


def local_today() -> date:
    return datetime.now(ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))).date()


def server_now() -> datetime:
    """The merge clock (aware UTC); tests may patch this one name."""
    return datetime.now(timezone.utc)


def registered_device(device_id: str | None) -> str | None:
    """The id when it names a phone that logged in (audit links to it); browsers name themselves."""
    from .models import Device

    if not device_id:
        return None
    known = g.setdefault("doorstep_registered_devices", {})  # asked up to three times per sync request
    if device_id not in known:
        known[device_id] = db.session.get(Device, device_id) is not None
    return device_id if known[device_id] else None


def register_sync_types(app, factory) -> None:
    """Add record types to the merge: ``factory(user, villages, device_id, today)`` returns an
    object with ``rules()`` (type -> EntityRule | EventRule) and optionally ``projections()``
    (entity type -> Projection), ``event_projections()`` (event type -> project(event, store) ->
    village id) and ``prefetch(records)`` (called once per batch, under the batch lock, to load
    the typed rows its rules will read). Blueprints call this from their ``init_app``; the
    register's types come first."""
    app.extensions.setdefault("doorstep_sync_types", []).append(factory)


def store_and_rules(user, device_id: str | None):
    """A store limited to the user's scope and the merge rules judging their records."""
    villages = village_ids_for(user)
    device, today = registered_device(device_id), local_today()
    rules, projections, event_projections, prefetchers = {}, {}, {}, []
    for factory in current_app.extensions.get("doorstep_sync_types", []):
        types = factory(user, villages, device, today)
        rules.update(types.rules())
        projections.update(getattr(types, "projections", dict)())
        event_projections.update(getattr(types, "event_projections", dict)())
        if hasattr(types, "prefetch"):
            prefetchers.append(types.prefetch)
    store = SqlStore(db.session, projections=projections, event_projections=event_projections,
                     visible_villages=villages, prefetchers=prefetchers)
    return store, rules


def merge_records(user, device_id: str, records: list, *, audit_batch: bool = False) -> list[Result]:
    """Merge and commit; on a store failure nothing of the batch stays (the sender retries).

    ``audit_batch`` adds one audit entry counting the answers (a device's sync), in the same commit."""
    store, rules = store_and_rules(user, device_id)
    db.session.commit()  # end any read transaction, so the merge's first statement takes the write lock
    try:
        results = merge_batch(store, records, device_id=device_id, user_id=user.id, now=server_now(), rules=rules)
        if audit_batch and results:
            counts: dict[str, int] = {}
            for result in results:
                counts[result["status"]] = counts.get(result["status"], 0) + 1
            audit.record("sync", "device", device_id, after=counts, user=user,
                         device_id=registered_device(device_id))
        store.finish()
    except BaseException:
        db.session.rollback()
        raise
    return results


def merge_all_or_nothing(user, device_id: str, records: list, *, on_success=None) -> tuple[bool, list[Result]]:
    """Merge ``records`` as one unit: either every record is accepted and all of it is
    committed at once, or nothing stays (not even the raw records) and the results say why.

    For server-made batches that a person confirmed as a whole (a register import): a
    partial import would leave households without their members. ``on_success()`` runs
    inside the transaction before the commit (its audit entry commits with the rows)."""
    store, rules = store_and_rules(user, device_id)
    db.session.commit()  # as in merge_records: the merge's first statement takes the write lock
    try:
        results = merge_batch(store, records, device_id=device_id, user_id=user.id, now=server_now(), rules=rules)
        if any(result["status"] == REJECTED for result in results):
            db.session.rollback()
            return False, results
        if on_success is not None:
            on_success()
        store.finish()
    except BaseException:
        db.session.rollback()
        raise
    return True, results


def merge_from_server(user, entity: str, entity_id: str, base_version: int, data: dict) -> Result:
    """Merge one record made on the server for ``user`` (a web form, a conflict resolution)."""
    record = {"id": str(uuid.uuid4()), "type": entity, "entity_id": entity_id, "base_version": base_version,
              "client_time": server_now().isoformat(),
              "data": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}}
    [result] = merge_records(user, f"session-{user.id}", [record])
    return result
