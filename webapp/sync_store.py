"""The merge engine's Store (sync/store.py) on SQLAlchemy tables.

What must hold beyond the protocol:

* A batch is one database transaction and each record a SAVEPOINT in it (``begin`` /
  ``commit`` / ``rollback`` of the protocol), so a record is atomic and the batch costs
  one durable commit, made by the caller (``finish()``) before the answer is sent.
* The first ``begin()`` of a batch updates the single ``sync_counter`` row before
  anything else. On PostgreSQL that row lock, and on SQLite the write lock, is held until
  the batch commits, so batches run one at a time and change sequence numbers become
  visible in order: a device pulling by cursor can never skip a change committed late.
  (With pysqlite's default transaction handling this UPDATE is also what opens the
  transaction, so the per-record SAVEPOINTs nest inside it.)
* Typed rows (Person, Household) are a projection of the merged state: each entity type
  may give a ``Projection`` that loads a row that never went through sync (demo data,
  imports) and writes the merged fields back into its table, in the same unit.
* Events (visits, sign-ins, deliveries) may have an event projection per type:
  ``project(event) -> village_id`` writes or updates the event's typed row (it is called
  again when an event's ``counted`` flag changes) and says which village may pull it.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sync import Competitor, Conflict, EntityState, Event, RawRecord, stamp_from_str, stamp_to_str

from .models import SyncConflict, SyncCounter, SyncEntity, SyncEvent, SyncRecord

NO_BASE = -1


@dataclass(frozen=True)
class Projection:
    """How one entity type maps onto its typed table.

    ``load(entity_id) -> (fields, version) | None`` reads a row that has no sync state yet;
    ``write(state, before_fields) -> village_id`` projects merged fields onto the row;
    ``village_of(fields) -> village_id | None`` tells which village a state belongs to.
    """

    load: Callable[[str], tuple[dict, int] | None]
    write: Callable[[EntityState, dict | None], str | None]


class SqlStore:
    def __init__(self, session: Session, projections: dict[str, Projection] | None = None,
                 event_projections: dict[str, Callable[[Event], str | None]] | None = None,
                 visible_villages: frozenset[str] | None = None):
        self.session = session
        self.projections = projections or {}
        self.event_projections = event_projections or {}
        self.visible_villages = visible_villages
        self._locked = False
        self._unit = None

    # -- units of work ---------------------------------------------------------------------
    def begin(self) -> None:
        if not self._locked:
            lock = sa.update(SyncCounter).where(SyncCounter.id == 1).values(value=SyncCounter.value)
            if not self.session.execute(lock).rowcount:
                # The migration makes the row; an emptied database gets it here. Two first
                # batches may race: ON CONFLICT lets the second wait for the first, then lock.
                insert = (pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert)
                self.session.execute(insert(SyncCounter).values(id=1, value=0).on_conflict_do_nothing())
                self.session.execute(lock)
            self._locked = True
        self._unit = self.session.begin_nested()

    def commit(self) -> None:
        self._unit.commit()  # flushes this record's writes, then releases its savepoint

    def rollback(self) -> None:
        if self._unit is not None and self._unit.is_active:
            self._unit.rollback()

    def finish(self) -> None:
        """Commit the batch: every record's unit at once, durably, and release the lock."""
        self.session.commit()
        self._locked = False

    def next_seq(self) -> int:
        return self.session.execute(
            sa.update(SyncCounter).where(SyncCounter.id == 1)
            .values(value=SyncCounter.value + 1).returning(SyncCounter.value)
        ).scalar_one()

    # -- raw records -----------------------------------------------------------------------
    def get_raw(self, key: str) -> RawRecord | None:
        row = self.session.get(SyncRecord, key)
        if row is None:
            return None
        return RawRecord(key=row.key, record=row.record, device_id=row.device_id, user_id=row.user_id,
                         received_at=row.received_at, status=row.status, errors=row.errors or {},
                         version=row.version)

    def put_raw(self, raw: RawRecord) -> None:
        self.session.add(SyncRecord(
            key=raw.key, record=raw.record, device_id=raw.device_id, user_id=raw.user_id,
            received_at=raw.received_at.replace(tzinfo=None), status=raw.status, errors=raw.errors,
            version=raw.version))

    # -- entities --------------------------------------------------------------------------
    def get_entity(self, entity: str, entity_id: str) -> EntityState | None:
        row = self.session.get(SyncEntity, (entity, entity_id))
        if row is not None:
            return EntityState(entity, entity_id, dict(row.fields),
                               {k: stamp_from_str(v) for k, v in row.stamps.items()}, row.version, row.seq)
        projection = self.projections.get(entity)
        loaded = projection.load(entity_id) if projection else None
        if loaded is None:
            return None
        fields, version = loaded
        return EntityState(entity, entity_id, fields, {}, version, 0)

    def put_entity(self, state: EntityState) -> None:
        row = self.session.get(SyncEntity, (state.entity, state.entity_id))
        before = None
        if row is None:
            existing = self.get_entity(state.entity, state.entity_id)
            before = existing.fields if existing else None
            row = SyncEntity(entity=state.entity, entity_id=state.entity_id)
            self.session.add(row)
        else:
            before = dict(row.fields)
        row.fields = dict(state.fields)
        row.stamps = {k: stamp_to_str(v) for k, v in state.stamps.items()}
        row.version, row.seq = state.version, state.seq
        projection = self.projections.get(state.entity)
        if projection is not None:
            row.village_id = projection.write(state, before)
        self.session.flush()

    # -- conflicts -------------------------------------------------------------------------
    def _conflict_row(self, key) -> SyncConflict | None:
        """Rows of earlier records are flushed by their unit's commit; this record never asks
        twice for one key, so the lookup need not flush what this unit wrote so far."""
        entity, entity_id, field, base = key
        with self.session.no_autoflush:
            return self.session.scalar(sa.select(SyncConflict).where(
            SyncConflict.entity == entity, SyncConflict.entity_id == entity_id, SyncConflict.field == field,
                SyncConflict.base_version == (NO_BASE if base is None else base)))

    @staticmethod
    def _to_conflict(row: SyncConflict) -> Conflict:
        competitors = {rid: Competitor(rid, c["device_id"], c["value"], stamp_from_str(c["stamp"]))
                       for rid, c in row.competitors.items()}
        base = None if row.base_version == NO_BASE else row.base_version
        return Conflict(row.entity, row.entity_id, row.field, base, competitors)

    def get_conflict(self, key) -> Conflict | None:
        row = self._conflict_row(key)
        return None if row is None else self._to_conflict(row)

    def put_conflict(self, conflict: Conflict) -> None:
        row = self._conflict_row(conflict.key)
        if row is None:
            row = SyncConflict(entity=conflict.entity, entity_id=conflict.entity_id, field=conflict.field,
                               base_version=NO_BASE if conflict.base_version is None else conflict.base_version)
            self.session.add(row)
        row.competitors = {rid: {"device_id": c.device_id, "value": c.value, "stamp": stamp_to_str(c.stamp)}
                           for rid, c in conflict.competitors.items()}
        row.is_conflict = conflict.is_conflict
        entity_row = self.session.get(SyncEntity, (conflict.entity, conflict.entity_id))
        row.village_id = entity_row.village_id if entity_row is not None else None

    def conflicts(self) -> list[Conflict]:
        rows = self.session.scalars(sa.select(SyncConflict).where(SyncConflict.is_conflict.is_(True)))
        return [self._to_conflict(row) for row in rows]

    # -- events ----------------------------------------------------------------------------
    @staticmethod
    def _to_event(row: SyncEvent) -> Event:
        key = None if row.unique_key is None else tuple(json.loads(row.unique_key))
        return Event(record_id=row.record_id, type=row.type, entity_id=row.entity_id, data=dict(row.data),
                     stamp=stamp_from_str(row.stamp), device_id=row.device_id, user_id=row.user_id,
                     unique_key=key, counted=row.counted, seq=row.seq)

    def put_event(self, event: Event) -> None:
        row = self.session.get(SyncEvent, event.record_id)
        if row is None:
            row = SyncEvent(record_id=event.record_id)
            self.session.add(row)
        row.type, row.entity_id, row.data = event.type, event.entity_id, dict(event.data)
        row.stamp, row.device_id, row.user_id = stamp_to_str(event.stamp), event.device_id, event.user_id
        row.unique_key = None if event.unique_key is None else json.dumps(list(event.unique_key))
        row.counted, row.seq = event.counted, event.seq
        project = self.event_projections.get(event.type)
        row.village_id = project(event) if project is not None else None

    def events_by_key(self, type: str, unique_key: tuple) -> list[Event]:
        rows = self.session.scalars(sa.select(SyncEvent).where(
            SyncEvent.type == type, SyncEvent.unique_key == json.dumps(list(unique_key))))
        return [self._to_event(row) for row in rows]

    # -- pull ------------------------------------------------------------------------------
    def changed_since(self, after_seq: int, limit: int) -> list[EntityState | Event]:
        """Latest states after ``after_seq``, already limited to the visible villages."""
        entities = sa.select(SyncEntity).where(SyncEntity.seq > after_seq)
        events = sa.select(SyncEvent).where(SyncEvent.seq > after_seq)
        if self.visible_villages is not None:
            entities = entities.where(SyncEntity.village_id.in_(self.visible_villages))
            events = events.where(SyncEvent.village_id.in_(self.visible_villages))
        items: list[Any] = [
            EntityState(r.entity, r.entity_id, dict(r.fields), {k: stamp_from_str(v) for k, v in r.stamps.items()},
                        r.version, r.seq)
            for r in self.session.scalars(entities.order_by(SyncEntity.seq).limit(limit))
        ]
        items += [self._to_event(r) for r in self.session.scalars(events.order_by(SyncEvent.seq).limit(limit))]
        items.sort(key=lambda item: item.seq)
        return items[:limit]
