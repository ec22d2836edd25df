"""What the merge engine needs from storage, and an in-memory store for tests.

The web app backs :class:`Store` with SQLAlchemy tables (one per dataclass below); the
property tests use :class:`InMemoryStore`. What must hold for any implementation:

* ``begin()`` / ``commit()`` / ``rollback()`` bracket one record's unit of work;
  ``rollback()`` undoes every write since ``begin()``, including ``next_seq()``-visible
  rows (a sequence number may be burnt, never reused).
* ``next_seq()`` is strictly increasing across the whole store; each put of an entity
  or event carries the seq of that change, and ``changed_since`` lists the *latest*
  state of each entity/event ordered by that seq.
* Getters return values the caller may not mutate; the engine always puts new objects.
* Optional: ``prefetch(records, event_keys)``, called by ``merge_batch`` once before the
  first unit, may load what the batch will read (see ``merge_batch``). Whatever a store
  caches must roll back with the unit that wrote it, like the rows themselves.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .hlc import Stamp

ConflictKey = tuple[str, str, str, "int | None"]  # (entity, entity_id, field, base_version)


@dataclass(frozen=True)
class RawRecord:
    """A record exactly as received, stored once under ``key`` with the answer it got."""

    key: str
    record: Any
    device_id: str
    user_id: str
    received_at: datetime
    status: str
    errors: dict[str, list[str]]
    version: int | None = None


@dataclass(frozen=True)
class EntityState:
    """The merged state of one entity: per-field value and the stamp that set it.

    ``version`` counts the distinct accepted records that touched the entity, so it is
    the same whatever order those records arrived in.
    """

    entity: str
    entity_id: str
    fields: dict[str, Any]
    stamps: dict[str, Stamp]
    version: int
    seq: int


@dataclass(frozen=True)
class Competitor:
    record_id: str
    device_id: str
    value: Any
    stamp: Stamp


@dataclass(frozen=True)
class Conflict:
    """Every accepted edit of one field of one entity made from one base version.

    A row exists as soon as one edit is seen (that is how the second one finds the
    first); it is a *conflict* only when two competitors come from different devices
    with different values. Competitors are a set keyed by record id, so the row is the
    same whatever the arrival order.
    """

    entity: str
    entity_id: str
    field: str
    base_version: int | None
    competitors: dict[str, Competitor] = field(default_factory=dict)

    @property
    def key(self) -> ConflictKey:
        return (self.entity, self.entity_id, self.field, self.base_version)

    @property
    def is_conflict(self) -> bool:
        """Some two competitors come from different devices with different values.

        In one pass instead of over all pairs (a row gathers every edit made from its base
        version): against the first competitor ``f``, either some ``x`` differs from it in
        both device and value, or every other device's value equals ``f``'s, and then a
        conflict needs another device at all and an edit from ``f``'s device with another value.
        """
        items = iter(self.competitors.values())
        first = next(items, None)
        if first is None:
            return False
        other_device = same_device_other_value = False
        for x in items:
            if x.device_id != first.device_id:
                if x.value != first.value:
                    return True
                other_device = True
            elif x.value != first.value:
                same_device_other_value = True
            if other_device and same_device_other_value:
                return True
        return False

    @property
    def winner(self) -> Competitor:
        return max(self.competitors.values(), key=lambda c: c.stamp)


@dataclass(frozen=True)
class Event:
    """An appended fact. ``counted`` is False for a later duplicate of a unique key."""

    record_id: str
    type: str
    entity_id: str
    data: dict[str, Any]
    stamp: Stamp
    device_id: str
    user_id: str
    unique_key: tuple | None
    counted: bool
    seq: int


class Store(Protocol):
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def next_seq(self) -> int: ...

    def get_raw(self, key: str) -> RawRecord | None: ...
    def put_raw(self, raw: RawRecord) -> None: ...

    def get_entity(self, entity: str, entity_id: str) -> EntityState | None: ...
    def put_entity(self, state: EntityState) -> None: ...

    def get_conflict(self, key: ConflictKey) -> Conflict | None: ...
    def put_conflict(self, conflict: Conflict) -> None: ...
    def conflicts(self) -> list[Conflict]:
        """Rows where ``is_conflict`` holds (not the single-edit rows)."""
        ...

    def put_event(self, event: Event) -> None:
        """Insert, or replace the event with the same ``record_id`` (a counted flip)."""
        ...

    def events_by_key(self, type: str, unique_key: tuple) -> list[Event]: ...

    def changed_since(self, after_seq: int, limit: int) -> list[EntityState | Event]:
        """Latest states with ``seq > after_seq``, ordered by seq, at most ``limit``."""
        ...


_MISSING = object()


class InMemoryStore:
    """A dict-backed :class:`Store` with an undo journal so rollback is real."""

    def __init__(self) -> None:
        self.raw: dict[str, RawRecord] = {}
        self.entities: dict[tuple[str, str], EntityState] = {}
        self.conflict_rows: dict[ConflictKey, Conflict] = {}
        self.events: dict[str, Event] = {}
        self.event_keys: dict[tuple[str, tuple], list[str]] = {}
        self.by_seq: dict[int, tuple[str, Any]] = {}
        self.seq = 0
        self._journal: list[tuple[dict, Any, Any]] | None = None

    # -- units of work ---------------------------------------------------------------
    def begin(self) -> None:
        if self._journal is not None:
            raise RuntimeError("unit already open")
        self._journal = []

    def commit(self) -> None:
        self._require_unit()
        self._journal = None

    def rollback(self) -> None:
        self._require_unit()
        for table, key, previous in reversed(self._journal):
            if previous is _MISSING:
                table.pop(key, None)
            else:
                table[key] = previous
        self._journal = None

    def _require_unit(self) -> None:
        if self._journal is None:
            raise RuntimeError("no unit open")

    def _write(self, table: dict, key: Any, value: Any) -> None:
        self._require_unit()
        self._journal.append((table, key, table.get(key, _MISSING)))
        table[key] = copy.deepcopy(value)

    def _delete(self, table: dict, key: Any) -> None:
        self._require_unit()
        self._journal.append((table, key, table.get(key, _MISSING)))
        table.pop(key, None)

    def next_seq(self) -> int:
        self.seq += 1  # burnt on rollback, never reused
        return self.seq

    # -- raw records -----------------------------------------------------------------
    def get_raw(self, key: str) -> RawRecord | None:
        return self.raw.get(key)

    def put_raw(self, raw: RawRecord) -> None:
        self._write(self.raw, raw.key, raw)

    # -- entities --------------------------------------------------------------------
    def get_entity(self, entity: str, entity_id: str) -> EntityState | None:
        return self.entities.get((entity, entity_id))

    def put_entity(self, state: EntityState) -> None:
        key = (state.entity, state.entity_id)
        old = self.entities.get(key)
        if old is not None:
            self._delete(self.by_seq, old.seq)
        self._write(self.entities, key, state)
        self._write(self.by_seq, state.seq, ("entity", key))

    # -- conflicts -------------------------------------------------------------------
    def get_conflict(self, key: ConflictKey) -> Conflict | None:
        return self.conflict_rows.get(key)

    def put_conflict(self, conflict: Conflict) -> None:
        self._write(self.conflict_rows, conflict.key, conflict)

    def conflicts(self) -> list[Conflict]:
        return [c for c in self.conflict_rows.values() if c.is_conflict]

    # -- events ----------------------------------------------------------------------
    def put_event(self, event: Event) -> None:
        old = self.events.get(event.record_id)
        if old is not None:
            self._delete(self.by_seq, old.seq)
        elif event.unique_key is not None:
            index = (event.type, event.unique_key)
            self._write(self.event_keys, index, self.event_keys.get(index, []) + [event.record_id])
        self._write(self.events, event.record_id, event)
        self._write(self.by_seq, event.seq, ("event", event.record_id))

    def events_by_key(self, type: str, unique_key: tuple) -> list[Event]:
        return [self.events[rid] for rid in self.event_keys.get((type, unique_key), [])]

    # -- pull ------------------------------------------------------------------------
    def changed_since(self, after_seq: int, limit: int) -> list[EntityState | Event]:
        live = sorted(s for s in self.by_seq if s > after_seq)
        out: list[EntityState | Event] = []
        for seq in live[:limit]:
            kind, key = self.by_seq[seq]
            out.append(self.entities[key] if kind == "entity" else self.events[key])
        return out
