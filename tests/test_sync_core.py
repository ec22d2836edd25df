"""The sync merge engine alone: no Flask, an in-memory store, DESIGN.md §4's properties.

The property tests build a small world (2-4 devices, 1-4 entities, sign-ins of the same
people at several desks, bad envelopes), deliver it in random batches, in any order,
with lost responses and retries, and compare the server's state with an oracle computed
from the records alone, without the engine: if the state equals a function of the *set*
of records, it cannot depend on the order they came in.

``HYPOTHESIS_PROFILE=long`` raises the examples from 200 to 2,000 per property.
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sync import (
    APPLIED,
    DUPLICATE,
    MERGED,
    REJECTED,
    EntityRule,
    EventRule,
    InMemoryStore,
    Stamp,
    change_of,
    changes_since,
    decode_cursor,
    encode_cursor,
    merge_batch,
    parse_record,
    raw_key,
    stamp_for,
    stamp_from_str,
    stamp_to_str,
)

ROOT = Path(__file__).resolve().parents[1]
_LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
settings.register_profile(
    "sync-core",
    max_examples=2000 if _LONG else 200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("sync-core")

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=CST)
DEVICES = [str(uuid.UUID(int=0xDE000 + i)) for i in range(4)]
USERS = {device: f"user-{i}" for i, device in enumerate(DEVICES)}
PEOPLE = [str(uuid.UUID(int=0xA000 + i)) for i in range(3)]
HOUSEHOLD = str(uuid.UUID(int=0xB000))
DAYS = ["day-1", "day-2"]
FORBIDDEN = (USERS[DEVICES[0]], PEOPLE[2])  # device 0's user works elsewhere
PERSON_FIELDS = ("name", "phone", "status")


# -- the rules the web app would give -----------------------------------------------------

def reject_bad_values(values, entity_id, context):
    return {name: ["Not allowed."] for name, value in values.items() if value == "BAD"}


def outside_area(user_id, entity_id, data, existing):
    return "Not in your villages." if (user_id, entity_id) == FORBIDDEN else None


RULES = {
    "person": EntityRule(fields=PERSON_FIELDS, validate=reject_bad_values, allowed=outside_area),
    "household": EntityRule(fields=("address",), validate=reject_bad_values),
    "signin": EventRule(unique_key=lambda data: (data["person_id"], data["checkup_day_id"])),
    "visit": EventRule(validate=reject_bad_values),
}


def merge(store, records, device=DEVICES[0], now=NOW):
    return merge_batch(store, records, device_id=device, user_id=USERS[device], now=now, rules=RULES)


def record(type, entity_id, data, *, at=NOW, base_version=0, id=None):
    return {"id": id or str(uuid.uuid4()), "type": type, "entity_id": entity_id, "base_version": base_version,
            "client_time": at.isoformat(), "data": data}


def sign_in(person, day="day-1", at=NOW):
    return record("signin", str(uuid.uuid4()), {"person_id": person, "checkup_day_id": day},
                  at=at, base_version=None)


def counted_sign_ins(store):
    return {e.record_id for e in store.events.values() if e.type == "signin" and e.counted}


# -- generating a world ---------------------------------------------------------------------

OFFSETS = [0, -1, 1, -60, 60, -3600, 299, 301, 3600, 86_400 * 30]  # 301 s and up: a phone ahead
ZONES = [CST, timezone.utc, timezone(timedelta(hours=-5))]
VALUES = ["a", "b", "c", "BAD"]
BAD_ENVELOPES = ["naive_time", "year_1999", "id_not_uuid", "unknown_type", "data_not_object",
                 "not_an_object", "negative_base"]


@st.composite
def client_times(draw):
    moment = NOW + timedelta(seconds=draw(st.sampled_from(OFFSETS)), microseconds=draw(st.sampled_from([0, 400])))
    return moment.astimezone(draw(st.sampled_from(ZONES)))


@st.composite
def operations(draw, n_entities):
    kind = draw(st.sampled_from(["edit", "edit", "edit", "signin", "signin", "visit", "bad"]))
    at = draw(client_times())
    if kind == "edit":
        type, entity_id = draw(st.sampled_from(
            [("person", p) for p in PEOPLE[:n_entities]] + [("household", HOUSEHOLD)]))
        fields = PERSON_FIELDS if type == "person" else ("address",)
        names = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=len(fields), unique=True))
        data = {name: draw(st.sampled_from(VALUES)) for name in names}
        base = draw(st.sampled_from([0, 0, 0, 1, 2, None]))  # mostly the same base: conflicts
        return ("edit", type, entity_id, data, base, at)
    if kind == "signin":
        data = {"person_id": draw(st.sampled_from(PEOPLE[:2])), "checkup_day_id": draw(st.sampled_from(DAYS))}
        return ("event", "signin", None, data, None, at)
    if kind == "visit":
        return ("event", "visit", None, {"note": draw(st.sampled_from(["ok", "BAD"]))}, None, at)
    return ("bad", draw(st.sampled_from(BAD_ENVELOPES)), None, None, None, at)


def envelope(op, n):
    """The wire record for an operation; ``n`` makes ids (and bad bodies) unique."""
    kind, type, entity_id, data, base, at = op
    rid = str(uuid.UUID(int=n))
    if kind != "bad":
        return record(type, entity_id or str(uuid.UUID(int=(1 << 64) + n)), data, at=at,
                      base_version=base, id=rid)
    good = record("visit", str(uuid.UUID(int=(1 << 64) + n)), {"note": "ok"}, at=at, id=rid)
    broken = {
        "naive_time": {"client_time": at.replace(tzinfo=None).isoformat()},
        "year_1999": {"client_time": at.replace(year=1999).isoformat()},
        "id_not_uuid": {"id": f"not-a-uuid-{n}"},
        "unknown_type": {"type": "fines"},
        "data_not_object": {"data": ["x"]},
        "negative_base": {"base_version": -1},
    }
    return ["junk", n] if type == "not_an_object" else {**good, **broken[type]}


@st.composite
def worlds(draw):
    n_devices = draw(st.integers(2, 4))
    n_entities = draw(st.integers(1, 3))
    outboxes, n = {}, 1
    for device in DEVICES[:n_devices]:
        ops = draw(st.lists(operations(n_entities), min_size=2, max_size=10))
        outboxes[device] = [envelope(op, n + i) for i, op in enumerate(ops)]
        n += len(ops)
    return outboxes


@st.composite
def deliveries(draw, outboxes):
    """Batches cut at random, some sent twice (a lost answer), some with a record twice,
    all in an arbitrary arrival order across devices."""
    plan = []
    for device, outbox in outboxes.items():
        batch = []
        for rec in outbox:
            batch.append(rec)
            if draw(st.integers(0, 9)) == 0:
                batch.append(rec)  # the same record twice in one batch
            if draw(st.booleans()):
                plan.append((device, batch))
                batch = []
        if batch:
            plan.append((device, batch))
    plan += [item for item in plan if draw(st.integers(0, 3)) == 0]  # retried after a lost answer
    return draw(st.permutations(plan))


# -- the oracle: what the state must be, from the set of records alone ----------------------

def oracle(outboxes):
    accepted = []  # (device, record, stamp)
    rejected = set()
    for device, outbox in outboxes.items():
        for raw in outbox:
            rec, errors = parse_record(raw, RULES.keys())
            if errors or any(v == "BAD" for v in rec.data.values()) or (
                    (USERS[device], rec.entity_id) == FORBIDDEN and rec.type == "person"):
                rejected.add(raw_key(raw))
                continue
            accepted.append((device, rec, stamp_for(rec.client_time, NOW, device_id=device, record_id=rec.id)))
    entities, stamps, versions = defaultdict(dict), defaultdict(dict), defaultdict(int)
    edits = defaultdict(dict)  # conflict key -> {record_id: (device, value, stamp)}
    first_sign_in = {}
    for device, rec, stamp in accepted:
        if rec.type in ("person", "household"):
            key = (rec.type, rec.entity_id)
            versions[key] += 1
            for name, value in rec.data.items():
                if name not in stamps[key] or stamp > stamps[key][name]:
                    entities[key][name], stamps[key][name] = value, stamp
                edits[(rec.type, rec.entity_id, name, rec.base_version)][rec.id] = (device, value, stamp)
        elif rec.type == "signin":
            key = (rec.data["person_id"], rec.data["checkup_day_id"])
            if key not in first_sign_in or stamp < first_sign_in[key][0]:
                first_sign_in[key] = (stamp, rec.id)
    conflicts = {key: comp for key, comp in edits.items()
                 if any(a[0] != b[0] and a[1] != b[1] for a, b in combinations(comp.values(), 2))}
    return {
        "entities": {k: (dict(entities[k]), dict(stamps[k]), versions[k]) for k in versions},
        "counted": {rid for _, rid in first_sign_in.values()},
        "conflicts": conflicts,
        "rejected": rejected,
        "events": {rec.id for _, rec, _ in accepted if rec.type in ("signin", "visit")},
    }


def state_of(store):
    return {
        "entities": {k: (e.fields, e.stamps, e.version) for k, e in store.entities.items()},
        "counted": counted_sign_ins(store),
        "conflicts": {c.key: {rid: (x.device_id, x.value, x.stamp) for rid, x in c.competitors.items()}
                      for c in store.conflicts()},
        "rejected": {k for k, raw in store.raw.items() if raw.status == REJECTED},
        "events": set(store.events),
    }


# -- properties -----------------------------------------------------------------------------

@PROFILE
@given(st.data())
def test_any_order_and_batching_ends_in_the_state_the_records_alone_determine(data):
    outboxes = data.draw(worlds())
    plan = data.draw(deliveries(outboxes))
    store, answers = InMemoryStore(), defaultdict(list)
    for device, batch in plan:
        for rec, result in zip(batch, merge(store, batch, device), strict=True):
            answers[raw_key(rec)].append(result)

    expected = oracle(outboxes)
    event(f"conflicts: {min(len(expected['conflicts']), 2)}")
    event(f"sign-ins not counted: {min(len(store.events) - len(expected['counted']), 2)}")
    event(f"rejected: {min(len(expected['rejected']), 2)}")
    event(f"deliveries: {min(len(plan) // 5 * 5, 10)}+")
    # (a) entity fields/stamps/versions, counted sign-ins, conflicts: a function of the set.
    assert state_of(store) == expected
    # ... and the same as one batch in the order the records were made.
    reference = InMemoryStore()
    for device, outbox in outboxes.items():
        merge(reference, outbox, device)
    assert state_of(reference) == state_of(store)

    # (b) every record stored exactly once, as received; answered once, then duplicate.
    sent = {raw_key(r): r for outbox in outboxes.values() for r in outbox}
    assert set(store.raw) == set(sent)
    for key, raw in store.raw.items():
        assert raw.record == sent[key]
        firsts = [a for a in answers[key] if "first_status" not in a]
        assert len(firsts) == 1
        assert all(a["status"] == DUPLICATE for a in answers[key] if "first_status" in a)
        # (e) + (f): rejected ones say why; accepted ones went through whatever preceded them.
        if key in expected["rejected"]:
            assert firsts[0]["status"] == REJECTED and firsts[0]["errors"]
        else:
            assert firsts[0]["status"] in (APPLIED, MERGED, DUPLICATE) and not firsts[0]["errors"]


@PROFILE
@given(st.data())
def test_a_device_pulling_between_syncs_catches_up_to_the_latest_visible_state(data):
    outboxes = data.draw(worlds())
    plan = data.draw(deliveries(outboxes))
    limit = data.draw(st.integers(1, 5))
    store, seen, cursor = InMemoryStore(), {}, None

    def visible(change):
        return change["entity"] != "household"  # this device's user has no households in scope

    def pull_until_done():
        nonlocal cursor
        more = True
        while more:
            changes, cursor, more = changes_since(store, cursor, visible, limit)
            assert len(changes) <= limit
            for change in changes:
                assert visible(change)
                seen[(change["entity"], change["entity_id"], change.get("record_id"))] = change

    for device, batch in plan:
        merge(store, batch, device)
        if data.draw(st.booleans()):
            pull_until_done()
    pull_until_done()

    latest = {}
    for item in store.changed_since(0, 10**6):
        change = change_of(item)
        if visible(change):
            latest[(change["entity"], change["entity_id"], change.get("record_id"))] = change
    assert seen == latest


@PROFILE
@given(client=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31),
                           timezones=st.sampled_from(ZONES)),
       server=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                           timezones=st.sampled_from(ZONES)),
       skew=st.integers(0, 3600))
def test_a_future_client_clock_is_clamped_to_the_server_clock(client, server, skew):
    stamp = stamp_for(client, server, device_id="d", record_id="r", max_skew=timedelta(seconds=skew))
    latest = server + timedelta(seconds=skew)
    assert stamp.physical_ms <= (latest - EPOCH) // timedelta(milliseconds=1)
    assert stamp.physical_ms == (min(client, latest) - EPOCH) // timedelta(milliseconds=1)
    assert stamp.counter == 0 and stamp[2:] == ("d", "r")


ids = st.text(alphabet="0123456789abcdef-", min_size=1, max_size=12)
stamps = st.builds(Stamp, st.integers(0, 10**13 - 1), st.integers(0, 9999), ids, ids)


@PROFILE
@given(a=stamps, b=stamps)
def test_a_stamp_string_sorts_like_the_stamp_and_reads_back(a, b):
    assert stamp_from_str(stamp_to_str(a)) == a
    assert (a < b) == (stamp_to_str(a) < stamp_to_str(b))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
envelope_like = st.fixed_dictionaries({}, optional={
    "id": st.one_of(json_values, st.uuids().map(str)),
    "type": st.one_of(json_values, st.sampled_from(list(RULES))),
    "entity_id": st.one_of(json_values, st.uuids().map(str)),
    "base_version": json_values,
    "client_time": st.one_of(json_values, st.datetimes(timezones=st.sampled_from(ZONES + [None])).map(
        lambda d: d.isoformat())),
    "data": json_values,
})


@PROFILE
@given(raw=st.one_of(json_values, envelope_like))
def test_any_bad_envelope_is_rejected_with_reasons_and_still_stored(raw):
    store = InMemoryStore()
    [result] = merge(store, [raw])
    rec, errors = parse_record(raw, RULES.keys())
    assert (rec is None) == bool(errors)
    if errors:
        assert result["status"] == REJECTED and result["errors"] == errors
    assert store.raw[raw_key(raw)].record == raw
    assert merge(store, [raw])[0]["status"] == DUPLICATE


# -- behaviour, by example ----------------------------------------------------------------------

def test_sign_in_at_two_desks_counts_the_earliest():
    store = InMemoryStore()
    later = sign_in(PEOPLE[0], at=NOW)
    earlier = sign_in(PEOPLE[0], at=NOW - timedelta(minutes=2))
    assert merge(store, [later], DEVICES[1])[0]["status"] == APPLIED
    # The other desk's queue was offline: its earlier sign-in arrives second and takes the count.
    assert merge(store, [earlier], DEVICES[2])[0]["status"] == APPLIED
    assert counted_sign_ins(store) == {earlier["id"]}
    assert len(store.events) == 2  # the later one is kept, not counted
    third = sign_in(PEOPLE[0], at=NOW + timedelta(minutes=1))
    assert merge(store, [third], DEVICES[3])[0]["status"] == DUPLICATE
    assert counted_sign_ins(store) == {earlier["id"]}


def test_same_batch_twice_is_duplicate():
    store = InMemoryStore()
    batch = [record("person", PEOPLE[0], {"name": "a"}), sign_in(PEOPLE[0])]
    first = merge(store, batch)
    before = state_of(store), dict(store.raw)
    again = merge(store, batch)
    assert [r["status"] for r in first] == [APPLIED, APPLIED]
    assert [r["status"] for r in again] == [DUPLICATE, DUPLICATE]
    assert [r["first_status"] for r in again] == [APPLIED, APPLIED]
    assert again[0]["version"] == first[0]["version"] == 1
    assert (state_of(store), dict(store.raw)) == before


def test_the_same_record_twice_in_one_batch_is_stored_once():
    store = InMemoryStore()
    rec = record("person", PEOPLE[0], {"name": "a"})
    assert [r["status"] for r in merge(store, [rec, rec])] == [APPLIED, DUPLICATE]
    assert store.entities[("person", PEOPLE[0])].version == 1 and len(store.raw) == 1


def test_a_phone_clock_in_the_future_does_not_win_forever():
    store = InMemoryStore()
    ahead = record("person", PEOPLE[0], {"phone": "from the future"}, at=NOW + timedelta(days=30))
    merge(store, [ahead], DEVICES[1])
    honest = record("person", PEOPLE[0], {"phone": "correct"}, at=NOW + timedelta(minutes=6), base_version=1)
    merge(store, [honest], DEVICES[2], now=NOW + timedelta(minutes=6))
    assert store.entities[("person", PEOPLE[0])].fields["phone"] == "correct"


def test_edits_from_two_devices_on_the_same_base_are_a_conflict_with_both_values_kept():
    store = InMemoryStore()
    mine = record("person", PEOPLE[0], {"name": "Li Na", "phone": "1"}, base_version=3)
    theirs = record("person", PEOPLE[0], {"name": "Li Nan"}, base_version=3, at=NOW + timedelta(seconds=5))
    assert merge(store, [mine], DEVICES[1])[0]["status"] == APPLIED
    assert merge(store, [theirs], DEVICES[2])[0] == {"id": theirs["id"], "status": MERGED, "errors": {},
                                                      "version": 2}
    [conflict] = store.conflicts()
    assert conflict.key == ("person", PEOPLE[0], "name", 3)
    assert {c.value for c in conflict.competitors.values()} == {"Li Na", "Li Nan"}
    assert conflict.winner.record_id == theirs["id"]
    assert store.entities[("person", PEOPLE[0])].fields == {"name": "Li Nan", "phone": "1"}


def test_one_device_editing_a_field_twice_is_not_a_conflict():
    store = InMemoryStore()
    merge(store, [record("person", PEOPLE[0], {"name": "a"}),
                  record("person", PEOPLE[0], {"name": "b"}, at=NOW + timedelta(seconds=1))])
    assert store.conflicts() == []


def test_an_older_edit_arriving_late_loses_its_field_and_says_merged():
    store = InMemoryStore()
    merge(store, [record("person", PEOPLE[0], {"name": "new"}, at=NOW)], DEVICES[1])
    old = record("person", PEOPLE[0], {"name": "old", "phone": "9"}, at=NOW - timedelta(hours=1), base_version=1)
    assert merge(store, [old], DEVICES[1])[0]["status"] == MERGED
    assert store.entities[("person", PEOPLE[0])].fields == {"name": "new", "phone": "9"}
    assert store.raw[old["id"]].record == old  # the losing value is still kept as received


def test_a_rejected_record_does_not_stop_the_rest_of_the_batch():
    store = InMemoryStore()
    batch = [record("person", PEOPLE[0], {"name": "a"}),
             record("person", PEOPLE[0], {"name": "BAD", "phone": "2"}),
             record("person", PEOPLE[0], {"shoe_size": 42}),
             record("visit", str(uuid.uuid4()), {"note": "ok"})]
    results = merge(store, batch)
    assert [r["status"] for r in results] == [APPLIED, REJECTED, REJECTED, APPLIED]
    assert results[1]["errors"] == {"name": ["Not allowed."]}
    assert results[2]["errors"] == {"shoe_size": ["Unknown field."]}
    assert store.entities[("person", PEOPLE[0])].fields == {"name": "a"}  # "phone": "2" not half-applied
    assert {k for k, r in store.raw.items() if r.status == REJECTED} == {batch[1]["id"], batch[2]["id"]}


def test_a_bad_envelope_is_rejected_but_stored_as_received():
    store = InMemoryStore()
    naive = record("person", PEOPLE[0], {"name": "a"}) | {"client_time": "2026-11-22T09:14:03"}
    [result] = merge(store, [naive])
    assert result["status"] == REJECTED and "client_time" in result["errors"]
    assert store.raw[naive["id"]].record == naive and store.entities == {}


def test_writing_outside_ones_area_is_rejected_with_a_reason():
    store = InMemoryStore()
    [result] = merge(store, [record("person", PEOPLE[2], {"name": "x"})], DEVICES[0])
    assert result["status"] == REJECTED and result["errors"] == {"scope": ["Not in your villages."]}
    assert store.entities == {}


def test_a_rule_that_crashes_on_odd_data_rejects_that_record_only():
    store = InMemoryStore()
    odd = record("signin", str(uuid.uuid4()), {"person_id": PEOPLE[0]}, base_version=None)  # no day
    fine = sign_in(PEOPLE[1])
    results = merge(store, [odd, fine])
    assert results[0]["status"] == REJECTED and "_record" in results[0]["errors"]
    assert results[1]["status"] == APPLIED


class FailingStore(InMemoryStore):
    """Fails on the conflict write, after the entity write of the same unit."""

    failing = True

    def put_conflict(self, conflict):
        super().put_conflict(conflict)
        if self.failing:
            raise ConnectionError("database went away")


def test_a_store_failure_rolls_the_unit_back_and_a_retry_completes_it():
    store = FailingStore()
    first, edit = sign_in(PEOPLE[0]), record("person", PEOPLE[0], {"name": "a"})
    with pytest.raises(ConnectionError):
        merge(store, [first, edit])
    assert edit["id"] not in store.raw and store.entities == {} and store.conflict_rows == {}
    assert first["id"] in store.raw
    store.failing = False
    assert [r["status"] for r in merge(store, [first, edit])] == [DUPLICATE, APPLIED]


def test_pull_pages_through_a_month_of_changes():
    store = InMemoryStore()
    for i in range(25):
        merge(store, [record("person", PEOPLE[i % 3], {"phone": str(i)}, at=NOW + timedelta(seconds=i))], DEVICES[1])
        merge(store, [sign_in(PEOPLE[i % 2], day=f"day-{i}")], DEVICES[1])
    pages, cursor, more = [], None, True
    while more:
        changes, cursor, more = changes_since(store, decode_cursor(encode_cursor(cursor or 0)), lambda c: True, 7)
        pages.append(changes)
    assert all(len(p) <= 7 for p in pages) and len(pages) == 4
    people = {c["entity_id"]: c for p in pages for c in p if c["entity"] == "person"}
    assert {p: c["data"]["phone"] for p, c in people.items()} == {PEOPLE[0]: "24", PEOPLE[1]: "22", PEOPLE[2]: "23"}
    assert sum(c["entity"] == "signin" for p in pages for c in p) == 25
    assert changes_since(store, cursor, lambda c: True, 7) == ([], cursor, False)
    with pytest.raises(ValueError):
        decode_cursor("c1.²")


def test_envelope_checks_name_every_bad_field():
    rec, errors = parse_record({"id": "x", "type": "fines", "entity_id": PEOPLE[0], "base_version": True,
                                "client_time": "1999-01-01T00:00:00+08:00", "data": None}, RULES.keys())
    assert rec is None and set(errors) == {"id", "type", "base_version", "client_time", "data"}
    rec, errors = parse_record(record("person", PEOPLE[0].upper(), {}, base_version=None), RULES.keys())
    assert errors is None and rec.entity_id == PEOPLE[0] and rec.base_version is None


def test_rollback_really_undoes_a_unit():
    store = InMemoryStore()
    merge(store, [record("person", PEOPLE[0], {"name": "a"}), sign_in(PEOPLE[0])])
    before = copy.deepcopy((state_of(store), store.raw, store.by_seq, store.event_keys))
    store.begin()
    merge_unit = record("person", PEOPLE[0], {"name": "b"}, base_version=1)
    from sync.merge import _decide  # the unit's writes without its commit
    _decide(store, merge_unit, merge_unit["id"], DEVICES[1], USERS[DEVICES[1]], NOW, RULES, timedelta(minutes=5))
    store.put_event(store.events_by_key("signin", (PEOPLE[0], "day-1"))[0])
    store.rollback()
    assert (state_of(store), store.raw, store.by_seq, store.event_keys) == before


def test_sync_does_not_import_flask():
    code = "import sys, sync, sync.merge, sync.pull; print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'webapp', 'sqlalchemy')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
