"""The merge engine's properties on the SQL store (webapp/sync_store.py), not only in memory.

The engine is deterministic, so for the same records in the same order the SQL store
must end exactly where ``InMemoryStore`` ends (whose behaviour tests/test_sync_core.py
proves against an oracle): same entity fields, stamps and versions, same counted
sign-ins, same conflict rows, same raw records and answers, same pull order. A second,
different arrival order (with other batching and retries) must end in the same state.
A store failure injected in the middle of a unit must leave the tables as the in-memory
journal's rollback leaves its dicts, and the device's retry must complete the batch.

No projections: the generic rules of test_sync_core.py (person/household entities,
sign-in and visit events, bad envelopes). Every example starts from empty sync tables.
``HYPOTHESIS_PROFILE=long`` raises the examples from 200 to 2,000.
"""
from __future__ import annotations

import copy
import json
from collections import defaultdict

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sync import DUPLICATE, REJECTED, InMemoryStore, change_of, raw_key, stamp_from_str
from tests.test_sync_core import (
    DEVICES,
    PEOPLE,
    PROFILE,
    client_times,
    deliveries,
    envelope,
    merge,
    operations,
    record,
    sign_in,
)
from webapp.extensions import db
from webapp.models import SyncConflict, SyncCounter, SyncEntity, SyncEvent, SyncRecord
from webapp.sync_store import NO_BASE, SqlStore

SYNC_TABLES = (SyncRecord, SyncEntity, SyncConflict, SyncEvent, SyncCounter)
SETTINGS = settings(PROFILE, suppress_health_check=[*PROFILE.suppress_health_check,
                                                     HealthCheck.function_scoped_fixture])
FAILING_METHODS = ("put_raw", "put_entity", "put_conflict", "put_event", "next_seq")


@st.composite
def small_worlds(draw):
    """test_sync_core's worlds, smaller (every record costs SQL round trips), and with
    rival edits: another device's edit of the same fields from the same base version."""
    n_devices = draw(st.integers(2, 3))
    n_entities = draw(st.integers(1, 2))
    ops = {device: draw(st.lists(operations(n_entities), min_size=1, max_size=5)) for device in DEVICES[:n_devices]}
    edits = [(device, op) for device, device_ops in ops.items() for op in device_ops if op[0] == "edit"]
    for _ in range(draw(st.integers(0, 2)) if edits else 0):
        source, (kind, type, entity_id, data, base, _at) = draw(st.sampled_from(edits))
        rival = draw(st.sampled_from([d for d in ops if d != source]))
        values = {name: draw(st.sampled_from([v for v in "abc" if v != value])) for name, value in data.items()}
        ops[rival].insert(draw(st.integers(0, len(ops[rival]))),
                          (kind, type, entity_id, values, base, draw(client_times())))
    outboxes, n = {}, 1
    for device, device_ops in ops.items():
        outboxes[device] = [envelope(op, n + i) for i, op in enumerate(device_ops)]
        n += len(device_ops)
    return outboxes


class StoreFailure(ConnectionError):
    """The database went away in the middle of a unit."""


class FailurePlan:
    """Fail once, on the ``at``-th call of ``method`` (after its write), across stores."""

    def __init__(self, method=None, at=0):
        self.method, self.at, self.calls, self.failed = method, at, 0, False

    def after(self, name):
        if name == self.method and not self.failed:
            self.calls += 1
            if self.calls == self.at:
                self.failed = True
                raise StoreFailure(f"{name} call {self.calls}")


def failing(store_class):
    class Failing(store_class):
        def __init__(self, *args, plan: FailurePlan, **kwargs):
            super().__init__(*args, **kwargs)
            self.plan = plan

    for name in FAILING_METHODS:
        def method(self, *args, _name=name, **kwargs):
            out = getattr(store_class, _name)(self, *args, **kwargs)
            self.plan.after(_name)
            return out

        setattr(Failing, name, method)
    return Failing


FailingSqlStore, FailingMemoryStore = failing(SqlStore), failing(InMemoryStore)

# Where the web app's SqlStore makes a batch one transaction (records are savepoints, the
# caller commits with ``finish()``), a store failure loses the whole batch; otherwise each
# committed record stays. The in-memory reference is made to behave the same way.
BATCH_TRANSACTION = hasattr(SqlStore, "finish")
MEMORY_TABLES = ("raw", "entities", "conflict_rows", "events", "event_keys", "by_seq")


def snapshot(store: InMemoryStore) -> dict:
    return copy.deepcopy({name: getattr(store, name) for name in MEMORY_TABLES})


def restore(store: InMemoryStore, saved: dict) -> None:
    for name, value in saved.items():
        setattr(store, name, value)


def send_to_memory(store, batch, device):
    saved = snapshot(store) if BATCH_TRANSACTION else None
    try:
        return merge(store, batch, device)
    except StoreFailure:
        if saved is not None:
            restore(store, saved)
        raise


def send_to_sql(session, batch, device, plan=None):
    """What webapp.merging does: a store per request, commit the batch or roll it back."""
    store = SqlStore(session) if plan is None else FailingSqlStore(session, plan=plan)
    try:
        results = merge(store, batch, device)
        (getattr(store, "finish", None) or session.commit)()
        return results
    except BaseException:
        session.rollback()
        raise


# -- the state, read the same way from both stores -----------------------------------------

def _stamps(stamps):
    return {k: stamp_from_str(v) if isinstance(v, str) else v for k, v in stamps.items()}


def memory_state(store: InMemoryStore) -> dict:
    return {
        "entities": {k: (e.fields, e.stamps, e.version) for k, e in store.entities.items()},
        "conflict_rows": {c.key: {rid: (x.device_id, x.value, x.stamp) for rid, x in c.competitors.items()}
                          for c in store.conflict_rows.values()},
        "conflicts": {c.key for c in store.conflicts()},
        "counted": {e.record_id for e in store.events.values() if e.type == "signin" and e.counted},
        "events": {e.record_id: (e.type, e.entity_id, e.data, e.stamp, e.device_id, e.user_id, e.unique_key,
                                 e.counted) for e in store.events.values()},
        "raw": {k: (r.record, r.device_id, r.user_id, r.status, r.errors, r.version) for k, r in store.raw.items()},
    }


def sql_state(session) -> dict:
    def rows(model):
        return list(session.scalars(sa.select(model)))

    def base(value):
        return None if value == NO_BASE else value

    conflict_rows = rows(SyncConflict)
    events = rows(SyncEvent)
    return {
        "entities": {(r.entity, r.entity_id): (r.fields, _stamps(r.stamps), r.version) for r in rows(SyncEntity)},
        "conflict_rows": {(r.entity, r.entity_id, r.field, base(r.base_version)): {
            rid: (c["device_id"], c["value"], stamp_from_str(c["stamp"])) for rid, c in r.competitors.items()}
            for r in conflict_rows},
        "conflicts": {(r.entity, r.entity_id, r.field, base(r.base_version)) for r in conflict_rows if r.is_conflict},
        "counted": {e.record_id for e in events if e.type == "signin" and e.counted},
        "events": {e.record_id: (e.type, e.entity_id, e.data, stamp_from_str(e.stamp), e.device_id, e.user_id,
                                 None if e.unique_key is None else tuple(json.loads(e.unique_key)), e.counted)
                   for e in events},
        "raw": {r.key: (r.record, r.device_id, r.user_id, r.status, r.errors or {}, r.version)
                for r in rows(SyncRecord)},
    }


def order_free(state: dict) -> dict:
    """What must not depend on arrival order: answers (applied/merged/duplicate) may."""
    return {
        **{k: v for k, v in state.items() if k not in ("raw",)},
        "raw": {k: (record, device, user, errors if status == REJECTED else None, status == REJECTED)
                for k, (record, device, user, status, errors, _version) in state["raw"].items()},
    }


def pull_order(store) -> list[dict]:
    """Every latest change in seq order, without the seq numbers themselves."""
    return [{k: v for k, v in change_of(item).items() if k != "seq"} for item in store.changed_since(0, 10**6)]


def empty_sync_tables(session) -> None:
    session.rollback()
    for model in SYNC_TABLES:
        session.execute(sa.delete(model))
    session.commit()


def record_answers(answers, batch, results):
    for rec, result in zip(batch, results, strict=True):
        answers[raw_key(rec)].append(result)


# -- the property ---------------------------------------------------------------------------

@SETTINGS
@given(data=st.data())
def test_the_sql_store_ends_where_the_in_memory_store_ends_in_any_order(app, data):
    outboxes = data.draw(small_worlds(), label="outboxes")
    first_plan = data.draw(deliveries(outboxes), label="first arrival order")
    second_plan = data.draw(deliveries(outboxes), label="second arrival order")
    fail_method = data.draw(st.sampled_from(FAILING_METHODS), label="failing method")
    fail_at = data.draw(st.integers(1, 12), label="failing call")
    sent = {raw_key(r): r for outbox in outboxes.values() for r in outbox}

    with app.app_context():
        session = db.session
        empty_sync_tables(session)

        # Run 1: the same batches in the same order into both stores, each failing once at
        # the same write; the device sends a failed batch again.
        memory_plan, sql_plan = FailurePlan(fail_method, fail_at), FailurePlan(fail_method, fail_at)
        memory = FailingMemoryStore(plan=memory_plan)
        memory_answers, sql_answers = defaultdict(list), defaultdict(list)
        for device, batch in first_plan:
            while True:
                saved = snapshot(memory)
                try:
                    results = merge(memory, batch, device)
                    break
                except StoreFailure:
                    unit_undone = memory_state(memory)  # the journal undid the failing unit only
                    if BATCH_TRANSACTION:
                        restore(memory, saved)
                    with pytest.raises(StoreFailure):
                        merge(FailingSqlStore(session, plan=sql_plan), batch, device)
                    # The store's own rollback undid exactly the failing unit ...
                    assert sql_state(session) == unit_undone
                    # ... and the caller's (webapp.merging) leaves what the device may retry.
                    session.rollback()
                    assert not session.new and not session.dirty
                    assert sql_state(session) == memory_state(memory)
            record_answers(memory_answers, batch, results)
            record_answers(sql_answers, batch, send_to_sql(session, batch, device, sql_plan))
        event(f"store failure injected: {memory_plan.failed}")
        assert sql_plan.failed == memory_plan.failed and sql_plan.calls == memory_plan.calls
        first = sql_state(session)
        assert first == memory_state(memory)
        assert sql_answers == memory_answers
        assert pull_order(SqlStore(session)) == pull_order(memory)
        event(f"conflicts: {min(len(first['conflicts']), 2)}")
        event(f"rejected: {min(sum(r[3] == REJECTED for r in first['raw'].values()), 2)}")

        # Every record stored once, as received; answered once, then only ``duplicate``.
        assert set(first["raw"]) == set(sent)
        assert all(raw[0] == sent[key] for key, raw in first["raw"].items())
        for key, results in sql_answers.items():
            # Once; none at all only if it was committed in a batch whose answer was lost.
            firsts = sum("first_status" not in r for r in results)
            assert firsts == 1 or (memory_plan.failed and not BATCH_TRANSACTION and firsts == 0)
            assert all(r["status"] == DUPLICATE and r["first_status"] == first["raw"][key][3]
                       for r in results if "first_status" in r)

        # Run 2: another order and batching, from empty tables, no failure.
        empty_sync_tables(session)
        second_memory = InMemoryStore()
        for device, batch in second_plan:
            assert send_to_sql(session, batch, device) == send_to_memory(second_memory, batch, device)
        second = sql_state(session)
        assert second == memory_state(second_memory)
        assert order_free(second) == order_free(first)
        empty_sync_tables(session)


# -- rollback, by example ---------------------------------------------------------------------

# Which call fails in the batch [sign-in, two-field edit]: the sign-in's unit (nothing of
# the batch stays) or the edit's unit (the sign-in stays, the edit leaves no row).
FAIL_AT = {"put_raw": (1, "sign-in"), "put_event": (1, "sign-in"), "put_entity": (1, "edit"),
           "put_conflict": (2, "edit"), "next_seq": (2, "edit")}


@pytest.mark.parametrize("method", sorted(FAIL_AT))
def test_a_failing_unit_leaves_no_row_behind_and_its_retry_completes(app, method):
    at, unit = FAIL_AT[method]
    with app.app_context():
        session = db.session
        empty_sync_tables(session)
        created = record("person", PEOPLE[0], {"name": "a"})
        send_to_sql(session, [created], DEVICES[1])
        before = sql_state(session)
        signed, edit = sign_in(PEOPLE[0]), record("person", PEOPLE[0], {"name": "b", "phone": "c"}, base_version=1)
        plan = FailurePlan(method, at)
        with pytest.raises(StoreFailure):  # the store alone: its rollback undoes the failing unit
            merge(FailingSqlStore(session, plan=plan), [signed, edit], DEVICES[2])
        in_unit = sql_state(session)
        kept = {signed["id"]} if unit == "edit" else set()  # the sign-in's unit, if it completed
        assert set(in_unit["raw"]) == {created["id"]} | kept and set(in_unit["events"]) == kept
        assert in_unit["entities"] == before["entities"] and in_unit["conflict_rows"] == before["conflict_rows"]
        session.rollback()
        plan = FailurePlan(method, at)
        with pytest.raises(StoreFailure):  # the way the web app calls it
            send_to_sql(session, [signed, edit], DEVICES[2], plan)
        assert plan.failed and not session.new and not session.dirty
        after = sql_state(session)
        if unit == "sign-in" or BATCH_TRANSACTION:
            assert after == before
        else:  # the sign-in's unit committed; the edit's unit left nothing
            assert set(after["raw"]) == {created["id"], signed["id"]} and set(after["events"]) == {signed["id"]}
            assert {**after, "raw": None, "events": None, "counted": None} == \
                {**before, "raw": None, "events": None, "counted": None}
        statuses = [r["status"] for r in send_to_sql(session, [signed, edit], DEVICES[2], plan)]
        assert statuses == (["duplicate", "applied"] if set(after["raw"]) > set(before["raw"])
                            else ["applied", "applied"])
        final = sql_state(session)
        assert final["entities"][("person", PEOPLE[0])][0] == {"name": "b", "phone": "c"}
        assert set(final["raw"]) == {created["id"], signed["id"], edit["id"]}
        empty_sync_tables(session)
