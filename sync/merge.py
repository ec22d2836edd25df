"""``merge_batch``: apply a device's records to the store, one unit of work each.

The properties of DESIGN.md §4 this module is responsible for:

1. Idempotent: a record whose storage key was seen before answers ``duplicate`` and
   writes nothing, also when it repeats within one batch.
2. Order independent: for records from any devices in any order and batching (with the
   same server clock), the entity fields and stamps, entity versions, the counted
   events and the conflict rows end the same. Statuses in the *answers* may differ
   (``applied`` vs ``merged``); the state may not.
3. Nothing lost: every received value is stored raw exactly once with its answer.
4. Conflicts recorded: per (entity, entity_id, field, base_version), the set of accepted
   competing edits; see ``store.Conflict``.
5. Events are facts; per unique key the earliest by stamp counts.
6. Scoped: ``allowed`` refusing is ``rejected`` with the reason under ``"scope"``.
7. Atomic per record: a rejected record does not touch the state and does not stop the
   next one. A failure *of the store* rolls the unit back and propagates (the device
   retries the batch; what was committed answers ``duplicate``). A callback that
   raises on odd data is a rejection, so one strange record cannot block an outbox.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict

from .hlc import MAX_SKEW, Stamp, stamp_for
from .records import RECORD, Record, parse_record, raw_key
from .rules import EntityRule, Errors, EventRule, TypeRule
from .store import Competitor, Conflict, EntityState, Event, RawRecord, Store

log = logging.getLogger(__name__)

APPLIED, DUPLICATE, MERGED, REJECTED = "applied", "duplicate", "merged", "rejected"
SCOPE = "scope"


class Result(TypedDict):
    id: Any
    status: str
    errors: Errors
    version: int | None
    first_status: NotRequired[str]  # only on ``duplicate``: what the first receipt answered


class _Refused(Exception):
    """A rule refused the record; carries the errors to answer with."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(errors)
        self.errors = errors


def merge_batch(
    store: Store,
    records: list[Any],
    *,
    device_id: str,
    user_id: str,
    now: datetime,
    rules: dict[str, TypeRule],
    max_skew: timedelta = MAX_SKEW,
) -> list[Result]:
    """One result per received value, in order. ``now`` is the server's aware time.

    A store may offer ``prefetch(records, event_keys)``: called once before the first unit
    with the received values and the ``(type, unique_key)`` pairs their events will look up,
    so that it can load what the batch touches in a few queries instead of one per read.
    It reads, it never writes; every unit still goes through ``begin``/``commit``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    prefetch = getattr(store, "prefetch", None)
    if prefetch is not None:
        prefetch(records, _event_keys(records, rules))
    return [
        merge_record(store, raw, device_id=device_id, user_id=user_id, now=now, rules=rules, max_skew=max_skew)
        for raw in records
    ]


def _event_keys(records: list[Any], rules: dict[str, TypeRule]) -> set[tuple[str, tuple]]:
    """The unique keys the batch's events will ask ``events_by_key`` for (a hint only: a
    record whose key cannot be computed here is judged, and rejected, in its own unit)."""
    keys = set()
    for raw in records:
        record, errors = parse_record(raw, rules.keys())
        rule = rules[record.type] if record is not None else None
        if not isinstance(rule, EventRule):
            continue
        try:
            key = _unique_key_of(rule, record)
        except Exception:  # noqa: BLE001 - the unit answers for it with a rejection
            continue
        if key is not None:
            keys.add((record.type, key))
    return keys


def merge_record(
    store: Store,
    raw: Any,
    *,
    device_id: str,
    user_id: str,
    now: datetime,
    rules: dict[str, TypeRule],
    max_skew: timedelta = MAX_SKEW,
) -> Result:
    """One record as one unit: ``begin``, decide and write, store it raw, ``commit``."""
    store.begin()
    try:
        result = merge_in_unit(store, raw, device_id=device_id, user_id=user_id, now=now, rules=rules,
                               max_skew=max_skew)
        store.commit()
        return result
    except BaseException:
        store.rollback()
        raise


def merge_in_unit(
    store: Store,
    raw: Any,
    *,
    device_id: str,
    user_id: str,
    now: datetime,
    rules: dict[str, TypeRule],
    max_skew: timedelta = MAX_SKEW,
) -> Result:
    """Decide, write and store one record inside the unit already open on ``store``.

    ``merge_record`` wraps this in a unit of its own. A rule's projection calls it directly
    for a record *derived* from the one being merged (the register change a visit reports),
    so both are kept or rolled back together; the derived record is idempotent by its own
    storage key like any other."""
    key = raw_key(raw)
    given_id = raw.get("id") if isinstance(raw, dict) else None
    seen = store.get_raw(key)
    if seen is not None:
        return Result(id=given_id, status=DUPLICATE, errors=seen.errors, version=seen.version,
                      first_status=seen.status)
    result = _decide(store, raw, given_id, device_id, user_id, now, rules, max_skew)
    store.put_raw(RawRecord(key=key, record=raw, device_id=device_id, user_id=user_id, received_at=now,
                            status=result["status"], errors=result["errors"], version=result["version"]))
    return result


def _decide(store, raw, given_id, device_id, user_id, now, rules, max_skew) -> Result:
    record, errors = parse_record(raw, rules.keys())
    if errors:
        return Result(id=given_id, status=REJECTED, errors=errors, version=None)
    rule = rules[record.type]
    stamp = stamp_for(record.client_time, now, device_id=device_id, record_id=record.id, max_skew=max_skew)
    context = {"record": record, "device_id": device_id, "user_id": user_id, "now": now, "store": store}
    try:
        if isinstance(rule, EntityRule):
            status, version = _merge_entity(store, record, rule, stamp, context)
        else:
            status, version = _append_event(store, record, rule, stamp, context)
    except _Refused as refused:
        return Result(id=given_id, status=REJECTED, errors=refused.errors, version=None)
    return Result(id=given_id, status=status, errors={}, version=version)


# -- entities ----------------------------------------------------------------------------

def last_writer_wins(
    fields: dict[str, Any], stamps: dict[str, Stamp], data: dict[str, Any], stamp: Stamp
) -> tuple[dict[str, Any], dict[str, Stamp], list[str]]:
    """Fields and stamps after applying ``data`` at ``stamp``, and the fields it lost."""
    fields, stamps, lost = dict(fields), dict(stamps), []
    for name, value in data.items():
        current = stamps.get(name)
        if current is None or stamp > current:
            fields[name], stamps[name] = value, stamp
        else:
            lost.append(name)
    return fields, stamps, lost


def _merge_entity(store: Store, record: Record, rule: EntityRule, stamp: Stamp, context: dict) -> tuple[str, int]:
    unknown = sorted(set(record.data) - set(rule.fields))
    if unknown:
        raise _Refused({name: ["Unknown field."] for name in unknown})
    existing = store.get_entity(record.type, record.entity_id)
    _check_scope(rule, context["user_id"], record, existing)
    current_fields = existing.fields if existing else {}
    current_stamps = existing.stamps if existing else {}
    fields, stamps, lost = last_writer_wins(current_fields, current_stamps, record.data, stamp)
    proposed = {**current_fields, **record.data}
    _check_valid(rule, proposed, record, {**context, "existing": existing, "merged": fields})

    version = (existing.version if existing else 0) + 1
    store.put_entity(EntityState(record.type, record.entity_id, fields, stamps, version, store.next_seq()))
    in_conflict = False
    for name, value in record.data.items():
        key = (record.type, record.entity_id, name, record.base_version)
        row = store.get_conflict(key) or Conflict(*key)
        competitors = {**row.competitors, record.id: Competitor(record.id, context["device_id"], value, stamp)}
        row = replace(row, competitors=competitors)
        store.put_conflict(row)
        in_conflict = in_conflict or row.is_conflict
    return (MERGED if lost or in_conflict else APPLIED), version


# -- events ------------------------------------------------------------------------------

def _append_event(store: Store, record: Record, rule: EventRule, stamp: Stamp, context: dict) -> tuple[str, None]:
    _check_scope(rule, context["user_id"], record, None)
    _check_valid(rule, record.data, record, context)
    unique_key = _call(record, _unique_key_of, rule, record)
    counted, status = True, APPLIED
    if unique_key is not None:
        current = [e for e in store.events_by_key(record.type, unique_key) if e.counted]
        if any(e.stamp < stamp for e in current):
            counted, status = False, DUPLICATE
        else:
            # The new one is earlier than the counted one: it takes over the count.
            for event in current:
                store.put_event(replace(event, counted=False, seq=store.next_seq()))
    store.put_event(Event(
        record_id=record.id, type=record.type, entity_id=record.entity_id, data=record.data, stamp=stamp,
        device_id=context["device_id"], user_id=context["user_id"], unique_key=unique_key, counted=counted,
        seq=store.next_seq(),
    ))
    return status, None


# -- callbacks ---------------------------------------------------------------------------

def _check_scope(rule: TypeRule, user_id: str, record: Record, existing: EntityState | None) -> None:
    reason = _call(record, rule.allowed, user_id, record.entity_id, record.data, existing)
    if reason:
        raise _Refused({SCOPE: [str(reason)]})


def _check_valid(rule: TypeRule, values: dict, record: Record, context: dict) -> None:
    errors = _call(record, _errors_of, rule, values, record.entity_id, context)
    if errors:
        raise _Refused(errors)


def _errors_of(rule: TypeRule, values: dict, entity_id: str, context: dict) -> Errors:
    errors = rule.validate(values, entity_id, context) or {}
    return {str(name): [messages] if isinstance(messages, str) else [str(m) for m in messages]
            for name, messages in errors.items() if messages}


def _unique_key_of(rule: EventRule, record: Record) -> tuple | None:
    key = rule.unique_key(record.data, record.entity_id) if rule.key_takes_entity else rule.unique_key(record.data)
    if key is None:
        return None
    key = tuple(key)
    hash(key)  # a key made of unhashable values is a bad record, not a server error
    return key


def _call(record: Record, callback, *args):
    """Run a rule callback; a crash on odd data becomes a rejection, logged with ids only."""
    try:
        return callback(*args)
    except Exception as exc:  # noqa: BLE001 - deliberately broad, see module docstring
        log.exception("sync rule %s failed on record %s", getattr(callback, "__name__", "?"), record.id)
        raise _Refused({RECORD: [f"This record could not be checked ({type(exc).__name__}); "
                                 "correct it and send it again."]}) from exc
