"""Sync state for register rows that never went through the merge (the demo town, imports,
databases made before sync existed).

A phone pulls ``changes`` from ``sync_entity`` only (webapp/sync_store.py). A Household or
Person row written straight into its table has no entry there, so a fresh device starting
from ``cursor=None`` would never receive it. ``backfill_sync_state`` gives every such row
its entry: the row's fields as they are, its version, no field stamps (exactly what the
merge assumes for a row it loads through the projection), and a new change number.

What must hold:

* Idempotent: a row that already has sync state is never touched; running twice adds nothing.
* No change is skipped by a device pulling meanwhile: each chunk first takes the
  ``sync_counter`` row lock (as every merge batch does), then its change numbers, and
  commits before the lock is released, so numbers become visible in order.
* Households get their numbers before people, so a device paging through a first pull
  meets a household before (or in the same page as) its members.
* Bulk: one SELECT and one executemany INSERT per chunk, never a query per row.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..models import Household, Person, SyncCounter, SyncEntity
from .sync_rules import HOUSEHOLD_FIELDS, PERSON_FIELDS, _plain

CHUNK = 5000
KINDS = (("household", Household, HOUSEHOLD_FIELDS), ("person", Person, PERSON_FIELDS))


def _lock_counter(session: Session) -> None:
    """Hold the sync counter row until the transaction ends (made if an emptied database lacks it)."""
    lock = sa.update(SyncCounter).where(SyncCounter.id == 1).values(value=SyncCounter.value)
    if not session.execute(lock).rowcount:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(SyncCounter).values(id=1, value=0).on_conflict_do_nothing())
        session.execute(lock)


def _take_seqs(session: Session, count: int) -> int:
    """Reserve ``count`` change numbers; returns the first."""
    last = session.execute(
        sa.update(SyncCounter).where(SyncCounter.id == 1)
        .values(value=SyncCounter.value + count).returning(SyncCounter.value)
    ).scalar_one()
    return last - count + 1


def _missing(session: Session, entity: str, model, names: tuple[str, ...], limit: int):
    columns = [model.__table__.c[name] for name in ("id", "version", "village_id", *names)]
    return session.execute(
        sa.select(*columns)
        .outerjoin(SyncEntity, sa.and_(SyncEntity.entity == entity, SyncEntity.entity_id == model.id))
        .where(SyncEntity.entity_id.is_(None))
        .order_by(model.id)
        .limit(limit)
    ).mappings().all()


def backfill_chunk(session: Session, entity: str, model, names: tuple[str, ...], limit: int = CHUNK) -> int:
    """Give up to ``limit`` rows of one type their sync state, in the caller's transaction."""
    _lock_counter(session)
    rows = _missing(session, entity, model, names, limit)
    if not rows:
        return 0
    first = _take_seqs(session, len(rows))
    session.execute(sa.insert(SyncEntity.__table__), [
        {"entity": entity, "entity_id": row["id"], "fields": {name: _plain(row[name]) for name in names},
         "stamps": {}, "version": row["version"], "seq": first + i, "village_id": row["village_id"]}
        for i, row in enumerate(rows)
    ])
    return len(rows)


def backfill_sync_state(session: Session, *, commit: bool = True, chunk: int = CHUNK) -> dict[str, int]:
    """Sync state for every Household and Person lacking it; returns how many of each were added.

    With ``commit`` each chunk is its own transaction (a county-sized register does not hold
    the counter lock for minutes); without, everything stays in the caller's transaction."""
    if commit:
        session.commit()  # end any read transaction: the first statement of a chunk takes the lock
    added = {}
    for entity, model, names in KINDS:
        added[entity] = 0
        while True:
            count = backfill_chunk(session, entity, model, names, chunk)
            if commit:
                session.commit()
            added[entity] += count
            if count < chunk:
                break
    return added
