"""The merge engine's Store (sync/store.py) on SQLAlchemy tables.

What must hold beyond the protocol:

* A batch is one database transaction, and the batch costs one durable commit, made by
  the caller (``finish()``) before the answer is sent.
* The first statement of a batch (``prefetch`` or the first ``begin()``) updates the single
  ``sync_counter`` row and reads its value. On PostgreSQL that row lock, and on SQLite the
  write lock, is held until the batch commits, so batches run one at a time and change
  sequence numbers become visible in order: a device pulling by cursor can never skip a
  change committed late. Holding the lock, the batch hands out seqs in memory and stores
  the last one before it commits (``finish``); a unit rolled back burns its seqs.
  (With pysqlite's default transaction handling this UPDATE is also what opens the
  transaction, so everything the batch reads is read under the lock.)
* The sync tables (raw records, merged entities, conflict rows, events) are read once per
  batch (``prefetch``: a few IN queries) or on a miss, and written by the units into
  memory with an undo journal: ``rollback()`` undoes exactly the failing unit's writes,
  ``commit()`` keeps them, and the kept rows go to the database in bulk when the batch
  finishes (or when a unit is rolled back, so the session shows what was kept). Nothing
  else reads the sync tables during a batch; pulls use a store of their own.
* Typed rows (Person, Household) are a projection of the merged state: each entity type
  may give a ``Projection`` that loads a row that never went through sync (demo data,
  imports) and writes the merged fields back into its table, in the same unit. Those are
  ORM writes, undone with the unit: through the projection's ``OrmJournal`` (the typed
  rows of the batch are then flushed together), or else by a SAVEPOINT opened when the
  unit first projects.
* Events (visits, sign-ins, deliveries) may have an event projection per type:
  ``project(event, store) -> village_id`` writes or updates the event's typed row (it is
  called again when an event's ``counted`` flag changes) and says which village may pull
  it. It may merge a record derived from the event into the same open unit with
  ``sync.merge_in_unit(store, …)`` (never a second store: seqs and kept rows live here).
* ``prefetchers`` (given by the record types, see webapp.merging) are called with the
  batch's records after the lock is taken, so rules can load their typed rows at once.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sync import Competitor, Conflict, EntityState, Event, RawRecord, raw_key, stamp_from_str, stamp_to_str
from sync.store import ConflictKey

from .models import SyncConflict, SyncCounter, SyncEntity, SyncEvent, SyncRecord

log = logging.getLogger(__name__)

NO_BASE = -1
CHUNK = 500  # ids per IN list: far below SQLite's and PostgreSQL's parameter limits
_MISSING = object()
_INSERTED = object()  # an OrmJournal log entry for a held insert


def _chunks(values: Iterable) -> Iterable[list]:
    values = list(values)
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


class OrmJournal:
    """Undo for the ORM writes a projection makes in one unit, without a SAVEPOINT.

    A SAVEPOINT per unit costs a flush per unit (SQLAlchemy flushes to open and to release
    one); with a journal the typed rows of the whole batch are flushed together. The
    projection calls ``touch(row)`` before it changes a row the session already has and
    ``added(row)`` after it adds a new one; the store calls ``keep()`` when the unit
    commits and ``undo()`` when it rolls back: new rows leave the session (or are deleted
    again if an autoflush wrote them), changed rows get back the values they had.
    ``insert(table, values)`` holds a row nobody reads during the batch (an audit entry)
    for the store's bulk write (``write``), undone with its unit like the rest.
    """

    def __init__(self, session: Session):
        self.session = session
        self._log: list[tuple[object, dict | None]] = []
        self._inserts: list[tuple[sa.Table, dict]] = []
        self._deleted: set[int] = set()  # ids of rows undo deleted (still "persistent" until a flush)

    def touch(self, row: object, relationships: tuple[str, ...] = ()) -> None:
        """Before changing ``row``: its columns (and the named relationships) are noted."""
        state = sa.inspect(row)
        if state.transient:
            return  # not in the session yet: ``added`` follows
        names = [*state.mapper.column_attrs.keys(), *relationships]
        loaded = state.dict
        self._log.append((row, {name: loaded.get(name, _MISSING) for name in names}))

    def added(self, row: object) -> None:
        self._log.append((row, None))

    def insert(self, table: sa.Table, values: dict) -> None:
        self._inserts.append((table, values))
        self._log.append((_INSERTED, None))

    def write(self, conn) -> None:
        """Insert the held rows of the committed units, one statement per table."""
        inserts, self._inserts = self._inserts, []
        by_table: dict[sa.Table, list[dict]] = {}
        for table, values in inserts:
            by_table.setdefault(table, []).append(values)
        for table, rows in by_table.items():
            conn.execute(sa.insert(table), rows)

    @property
    def holds_rows(self) -> bool:
        return bool(self._inserts)

    def alive(self, row: object) -> bool:
        """Whether ``row`` is in the session and not undone (a cache may hold an undone row)."""
        state = sa.inspect(row)
        return state.pending or (state.persistent and id(row) not in self._deleted)

    def keep(self) -> None:
        self._log = []

    def undo(self) -> None:
        log, self._log = self._log, []
        for row, values in reversed(log):
            if row is _INSERTED:
                self._inserts.pop()
                continue
            state = sa.inspect(row)
            if values is None:
                if state.pending:
                    self.session.expunge(row)
                elif state.persistent:
                    self.session.delete(row)  # an autoflush already wrote it
                    self._deleted.add(id(row))
                continue
            unset = [name for name, value in values.items() if value is _MISSING and name in state.dict]
            for name, value in values.items():
                if value is not _MISSING:
                    setattr(row, name, value)
            if unset and state.persistent:
                self.session.expire(row, unset)  # it had no change there: the database has it
            elif unset:
                for name in unset:  # a new row that had no value there yet
                    del state.dict[name]


@dataclass(frozen=True)
class Projection:
    """How one entity type maps onto its typed table.

    ``load(entity_id) -> (fields, version) | None`` reads a row that has no sync state yet;
    ``write(state, before_fields) -> village_id`` projects merged fields onto the row.
    With a ``journal`` the projection records what it changes (see :class:`OrmJournal`)
    and its unit needs no SAVEPOINT; without one, the unit runs in a SAVEPOINT.
    """

    load: Callable[[str], tuple[dict, int] | None]
    write: Callable[[EntityState, dict | None], str | None]
    journal: OrmJournal | None = None


class SqlStore:
    def __init__(self, session: Session, projections: dict[str, Projection] | None = None,
                 event_projections: dict[str, Callable[[Event, "SqlStore"], str | None]] | None = None,
                 visible_villages: frozenset[str] | None = None,
                 prefetchers: Iterable[Callable[[list], None]] = ()):
        self.session = session
        self.projections = projections or {}
        self.event_projections = event_projections or {}
        self.visible_villages = visible_villages
        self.prefetchers = tuple(prefetchers)
        self._row_journals = list({id(p.journal): p.journal for p in self.projections.values()
                                   if p.journal is not None}.values())
        self._locked = False
        self._reset()

    def _reset(self) -> None:
        """Forget what the batch read and wrote (after its commit others may write)."""
        self._unit = None  # the SAVEPOINT of a unit that projects without a journal, once opened
        self._journals: list[OrmJournal] = []  # journals the open unit wrote through
        self._journal: list[tuple[dict, Any, Any]] | None = None
        self._seq = self._stored_seq = 0
        # Caches of the sync tables: rows read (None: known absent) and rows written.
        self._raw: dict[str, RawRecord | None] = {}
        self._entities: dict[tuple[str, str], tuple[EntityState, str | None] | None] = {}
        self._conflicts: dict[ConflictKey, tuple[Conflict, str | None] | None] = {}
        self._conflicts_loaded: set[tuple[str, str]] = set()  # entities whose rows are all in _conflicts
        self._event_keys: dict[tuple[str, str], list[Event]] = {}
        self._events: dict[str, tuple[Event, str | None]] = {}
        # Keys written by committed (or the open) units and not yet in the database.
        self._pending: dict[str, dict] = {"raw": {}, "entity": {}, "conflict": {}, "event": {}}
        self._stamp_texts: dict[Any, str] = {}

    # -- the batch lock ---------------------------------------------------------------------
    def _lock(self) -> None:
        if self._locked:
            return
        table = SyncCounter.__table__
        bump = sa.update(table).where(table.c.id == 1).values(value=table.c.value).returning(table.c.value)
        conn = self.session.connection()
        value = conn.execute(bump).scalar_one_or_none()
        if value is None:
            # The migration makes the row; an emptied database gets it here. Two first
            # batches may race: ON CONFLICT lets the second wait for the first, then lock.
            conn.execute(self._insert(table).values(id=1, value=0).on_conflict_do_nothing())
            value = conn.execute(bump).scalar_one()
        self._seq = self._stored_seq = value
        self._locked = True

    def _insert(self, table):
        return (pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)

    # -- units of work ---------------------------------------------------------------------
    def begin(self) -> None:
        if self._journal is not None:
            raise RuntimeError("unit already open")
        self._lock()
        self._journal = []
        self._unit = None
        self._journals = []

    def commit(self) -> None:
        if self._unit is not None:
            self._unit.commit()  # flushes this unit's typed rows, then releases its savepoint
            self._unit = None
        for journal in self._journals:
            journal.keep()
        self._journals = []
        self._journal = None

    def rollback(self) -> None:
        for table, key, previous in reversed(self._journal or []):
            if previous is _MISSING:
                table.pop(key, None)
            else:
                table[key] = previous
        self._journal = None
        journals, self._journals = self._journals, []
        for journal in reversed(journals):
            journal.undo()
        unit, self._unit = self._unit, None
        if unit is not None and unit.is_active:
            unit.rollback()
        # What the committed units kept goes to the database now, so the session shows
        # the batch as it stands (the caller may still commit it, or roll it all back).
        try:
            self._write_pending()
        except Exception:  # noqa: BLE001 - the unit's own failure is what propagates
            # The transaction is broken (the failure came from the database): the caller
            # must roll the batch back; a finish() would try these rows again and fail.
            log.warning("sync batch: kept rows could not be written after a unit failed", exc_info=True)

    def finish(self) -> None:
        """Commit the batch: every record's unit at once, durably, and release the lock."""
        self._write_pending()
        self.session.commit()
        self._locked = False
        self._reset()

    def next_seq(self) -> int:
        self._seq += 1  # stored by _write_pending; burnt, never reused, if the unit rolls back
        return self._seq

    def _write(self, table: dict, key: Any, value: Any) -> None:
        if self._journal is None:
            raise RuntimeError("no unit open")
        self._journal.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _mark(self, kind: str, key: Any) -> None:
        self._write(self._pending[kind], key, True)

    def _open_savepoint(self) -> None:
        """Typed rows are ORM writes: the unit that makes them needs a SAVEPOINT to undo them."""
        if self._journal is None:
            raise RuntimeError("no unit open")
        if self._unit is None:
            self._unit = self.session.begin_nested()

    # -- the batch at once -----------------------------------------------------------------
    def prefetch(self, records: list, event_keys: Iterable[tuple[str, tuple]] = ()) -> None:
        """Take the lock, then load the sync rows the batch will read in a few IN queries."""
        if not records:
            return
        self._lock()
        conn = self.session.connection()
        keys = {raw_key(r) for r in records} - self._raw.keys()
        pairs = set()
        for r in records:
            if isinstance(r, dict) and isinstance(r.get("type"), str) and isinstance(r.get("entity_id"), str):
                pairs.add((r["type"], r["entity_id"].lower()))
        self._load_raw(conn, keys)
        entity_ids = {entity_id for _type, entity_id in pairs}
        table = SyncEntity.__table__
        for chunk in _chunks(entity_ids):
            for row in conn.execute(sa.select(table).where(table.c.entity_id.in_(chunk))):
                self._entities[(row.entity, row.entity_id)] = (self._to_entity(row), row.village_id)
        # Conflict rows are written in the unit that writes the entity's row: none without one.
        entity_ids = {entity_id for (_type, entity_id), row in self._entities.items()
                      if row is not None and entity_id in entity_ids}
        table = SyncConflict.__table__
        for chunk in _chunks(entity_ids):
            for row in conn.execute(sa.select(table).where(table.c.entity_id.in_(chunk))):
                conflict = self._to_conflict(row)
                self._conflicts[conflict.key] = (conflict, row.village_id)
        for pair in pairs:
            self._entities.setdefault(pair, None)
            self._conflicts_loaded.add(pair)
        by_type: dict[str, set[str]] = {}
        for type, key in event_keys:
            by_type.setdefault(type, set()).add(json.dumps(list(key)))
        table = SyncEvent.__table__
        for type, jsons in by_type.items():
            for chunk in _chunks(jsons - {j for t, j in self._event_keys if t == type}):
                for j in chunk:
                    self._event_keys[(type, j)] = []
                for row in conn.execute(sa.select(table).where(table.c.type == type, table.c.unique_key.in_(chunk))):
                    self._event_keys[(type, row.unique_key)].append(self._to_event(row))
        for prefetch in self.prefetchers:
            prefetch(records)

    def _load_raw(self, conn, keys: Iterable[str]) -> None:
        table = SyncRecord.__table__
        for chunk in _chunks(keys):
            for row in conn.execute(sa.select(table).where(table.c.key.in_(chunk))):
                self._raw[row.key] = RawRecord(
                    key=row.key, record=row.record, device_id=row.device_id, user_id=row.user_id,
                    received_at=row.received_at, status=row.status, errors=row.errors or {}, version=row.version)
            for key in chunk:
                self._raw.setdefault(key, None)

    def _write_pending(self) -> None:
        """Send the kept rows in bulk (outside any unit) and store the last seq handed out."""
        if self._journal is not None:
            raise RuntimeError("a unit is open")
        pending = self._pending
        journals = [journal for journal in self._row_journals if journal.holds_rows]
        if not any(pending.values()) and self._seq == self._stored_seq and not journals:
            return
        conn = self.session.connection()
        for journal in journals:
            journal.write(conn)
        if pending["raw"]:
            rows = [self._raw[key] for key in pending["raw"]]
            conn.execute(sa.insert(SyncRecord.__table__), [
                {"key": r.key, "record": r.record, "device_id": r.device_id, "user_id": r.user_id,
                 "received_at": r.received_at.replace(tzinfo=None), "status": r.status, "errors": r.errors,
                 "version": r.version} for r in rows])
        if pending["entity"]:
            rows = [self._entities[key] for key in pending["entity"]]
            self._upsert(conn, SyncEntity.__table__, ["entity", "entity_id"], [
                {"entity": s.entity, "entity_id": s.entity_id, "fields": dict(s.fields),
                 "stamps": {k: self._stamp_text(v) for k, v in s.stamps.items()}, "version": s.version, "seq": s.seq,
                 "village_id": village_id} for s, village_id in rows])
        if pending["conflict"]:
            rows = [self._conflicts[key] for key in pending["conflict"]]
            self._upsert(conn, SyncConflict.__table__, ["entity", "entity_id", "field", "base_version"], [
                {"entity": c.entity, "entity_id": c.entity_id, "field": c.field,
                 "base_version": NO_BASE if c.base_version is None else c.base_version,
                 "competitors": {rid: {"device_id": x.device_id, "value": x.value, "stamp": self._stamp_text(x.stamp)}
                                 for rid, x in c.competitors.items()},
                 "is_conflict": c.is_conflict, "village_id": village_id} for c, village_id in rows])
        if pending["event"]:
            rows = [self._events[key] for key in pending["event"]]
            self._upsert(conn, SyncEvent.__table__, ["record_id"], [
                {"record_id": e.record_id, "type": e.type, "entity_id": e.entity_id, "data": dict(e.data),
                 "stamp": self._stamp_text(e.stamp), "device_id": e.device_id, "user_id": e.user_id,
                 "unique_key": None if e.unique_key is None else json.dumps(list(e.unique_key)),
                 "counted": e.counted, "seq": e.seq, "village_id": village_id} for e, village_id in rows])
        if self._seq != self._stored_seq:
            table = SyncCounter.__table__
            conn.execute(sa.update(table).where(table.c.id == 1).values(value=self._seq))
            self._stored_seq = self._seq
        for kind in pending:
            pending[kind] = {}

    def _stamp_text(self, stamp) -> str:
        """stamp_to_str, once per stamp: a conflict row is written out with all its competitors."""
        text = self._stamp_texts.get(stamp)
        if text is None:
            text = self._stamp_texts[stamp] = stamp_to_str(stamp)
        return text

    def _upsert(self, conn, table, keys: list[str], rows: list[dict]) -> None:
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={name: stmt.excluded[name] for name in rows[0] if name not in keys})
        conn.execute(stmt, rows)

    # -- raw records -----------------------------------------------------------------------
    def get_raw(self, key: str) -> RawRecord | None:
        if key not in self._raw:
            self._load_raw(self.session.connection(), [key])
        return self._raw[key]

    def put_raw(self, raw: RawRecord) -> None:
        self._write(self._raw, raw.key, raw)
        self._mark("raw", raw.key)

    # -- entities --------------------------------------------------------------------------
    @staticmethod
    def _to_entity(row) -> EntityState:
        return EntityState(row.entity, row.entity_id, dict(row.fields),
                           {k: stamp_from_str(v) for k, v in row.stamps.items()}, row.version, row.seq)

    def _entity_row(self, entity: str, entity_id: str) -> tuple[EntityState, str | None] | None:
        key = (entity, entity_id)
        if key not in self._entities:
            table = SyncEntity.__table__
            row = self.session.connection().execute(
                sa.select(table).where(table.c.entity == entity, table.c.entity_id == entity_id)).one_or_none()
            self._entities[key] = None if row is None else (self._to_entity(row), row.village_id)
        return self._entities[key]

    def get_entity(self, entity: str, entity_id: str) -> EntityState | None:
        row = self._entity_row(entity, entity_id)
        if row is not None:
            return row[0]
        projection = self.projections.get(entity)
        loaded = projection.load(entity_id) if projection else None
        if loaded is None:
            return None
        fields, version = loaded
        return EntityState(entity, entity_id, fields, {}, version, 0)

    def put_entity(self, state: EntityState) -> None:
        key = (state.entity, state.entity_id)
        row = self._entity_row(*key)
        if row is not None:
            before, village_id = dict(row[0].fields), row[1]
        else:
            existing = self.get_entity(*key)
            before, village_id = (existing.fields if existing else None), None
        projection = self.projections.get(state.entity)
        if projection is not None:
            if projection.journal is None:
                self._open_savepoint()
            elif projection.journal not in self._journals:
                self._journals.append(projection.journal)
            village_id = projection.write(state, before)
        self._write(self._entities, key, (state, village_id))
        self._mark("entity", key)

    # -- conflicts -------------------------------------------------------------------------
    @staticmethod
    def _to_conflict(row) -> Conflict:
        competitors = {rid: Competitor(rid, c["device_id"], c["value"], stamp_from_str(c["stamp"]))
                       for rid, c in row.competitors.items()}
        base = None if row.base_version == NO_BASE else row.base_version
        return Conflict(row.entity, row.entity_id, row.field, base, competitors)

    def get_conflict(self, key) -> Conflict | None:
        entity, entity_id, field, base = key
        if key not in self._conflicts and (entity, entity_id) not in self._conflicts_loaded:
            table = SyncConflict.__table__
            row = self.session.connection().execute(sa.select(table).where(
                table.c.entity == entity, table.c.entity_id == entity_id, table.c.field == field,
                table.c.base_version == (NO_BASE if base is None else base))).one_or_none()
            self._conflicts[key] = None if row is None else (self._to_conflict(row), row.village_id)
        found = self._conflicts.get(key)
        return None if found is None else found[0]

    def put_conflict(self, conflict: Conflict) -> None:
        entity_row = self._entity_row(conflict.entity, conflict.entity_id)
        self._write(self._conflicts, conflict.key, (conflict, entity_row[1] if entity_row is not None else None))
        self._mark("conflict", conflict.key)

    def conflicts(self) -> list[Conflict]:
        if self._journal is None:
            self._write_pending()
        table = SyncConflict.__table__
        rows = self.session.connection().execute(sa.select(table).where(table.c.is_conflict.is_(True)))
        return [self._to_conflict(row) for row in rows]

    # -- events ----------------------------------------------------------------------------
    @staticmethod
    def _to_event(row) -> Event:
        key = None if row.unique_key is None else tuple(json.loads(row.unique_key))
        return Event(record_id=row.record_id, type=row.type, entity_id=row.entity_id, data=dict(row.data),
                     stamp=stamp_from_str(row.stamp), device_id=row.device_id, user_id=row.user_id,
                     unique_key=key, counted=row.counted, seq=row.seq)

    def _key_list(self, type: str, unique_key: tuple) -> tuple[tuple[str, str], list[Event]]:
        index = (type, json.dumps(list(unique_key)))
        if index not in self._event_keys:
            table = SyncEvent.__table__
            rows = self.session.connection().execute(
                sa.select(table).where(table.c.type == type, table.c.unique_key == index[1]))
            self._event_keys[index] = [self._to_event(row) for row in rows]
        return index, self._event_keys[index]

    def put_event(self, event: Event) -> None:
        project = self.event_projections.get(event.type)
        village_id = None
        if project is not None:
            self._open_savepoint()
            village_id = project(event, self)
        if event.unique_key is not None:
            index, events = self._key_list(event.type, event.unique_key)
            replaced = [event if e.record_id == event.record_id else e for e in events]
            if not any(e.record_id == event.record_id for e in events):
                replaced.append(event)
            self._write(self._event_keys, index, replaced)
        self._write(self._events, event.record_id, (event, village_id))
        self._mark("event", event.record_id)

    def events_by_key(self, type: str, unique_key: tuple) -> list[Event]:
        return list(self._key_list(type, unique_key)[1])

    # -- pull ------------------------------------------------------------------------------
    def changed_since(self, after_seq: int, limit: int) -> list[EntityState | Event]:
        """Latest states after ``after_seq``, already limited to the visible villages."""
        if self._journal is None:
            self._write_pending()
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
