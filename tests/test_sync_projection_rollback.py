"""A failing unit leaves no trace in the register either, not only in the sync tables.

The register's projection writes Person/Household rows and audit entries without a
SAVEPOINT (webapp.sync_store.OrmJournal), so these tests make a unit fail *after* its
projection wrote (in ``put_conflict``, which follows ``put_entity``) and check that the
kept units commit as they are and the failed one left no row, field or audit entry,
and that the device's retry then completes the batch.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from sync import merge_batch
from tests.factories import make_family, make_town, make_user
from tests.test_desk_search import _keys_in_table, _keys_wanted
from webapp.extensions import db
from webapp.merging import store_and_rules
from webapp.models import AuditEntry, Household, Person, SyncEntity, SyncRecord


class StoreFailure(ConnectionError):
    """The database went away in the middle of a unit."""


def _rec(type_, entity_id, data, base=0):
    return {"id": str(uuid.uuid4()), "type": type_, "entity_id": entity_id, "base_version": base,
            "client_time": "2026-11-22T09:14:03+08:00", "data": data}


def _batch(group_id, person_id):
    hid, pid = str(uuid.uuid4()), str(uuid.uuid4())
    return {
        "household": _rec("household", hid, {"group_id": group_id, "number": "7", "address": "东风村1组 7号"}),
        "head": _rec("person", pid, {
            "household_id": hid, "name": "陈秀英", "sex": "F", "birth_date": "1988-03-02", "id_number": None,
            "phone": "13912345678", "relation": "户主", "status": "resident", "away_place": "",
            "away_contact": "", "enrolled": True}),
        "edit": _rec("person", person_id, {"phone": "13987654321", "name": "王改名"}, base=1),
    }


def _merge(user, records, fail_in=None):
    store, rules = store_and_rules(user, None)
    db.session.commit()
    if fail_in is not None:
        put_conflict = store.put_conflict

        def failing_put_conflict(conflict):
            put_conflict(conflict)
            if fail_in in conflict.competitors:
                raise StoreFailure(fail_in)

        store.put_conflict = failing_put_conflict
    try:
        return store, merge_batch(store, records, device_id="phone-1", user_id=user.id,
                                  now=datetime.now(timezone.utc), rules=rules)
    except BaseException:
        if fail_in is None:
            db.session.rollback()
        raise


@pytest.mark.parametrize("failing", ["head", "edit"])
def test_a_unit_failing_after_its_projection_leaves_no_register_row_and_its_retry_completes(app, failing):
    with app.app_context():
        town = make_town("T01", villages=1)
        group = town.children[0].children[0]
        user = make_user("worker", "worker", [town.children[0]])
        family = make_family(group, size=2)
        person = family.members[0]
        person_id, old_phone, old_name, old_pinyin = person.id, person.phone, person.name, person.name_pinyin
        batch = _batch(group.id, person_id)
        records = [batch["household"], batch["head"], batch["edit"]]
        audits_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))

        with pytest.raises(StoreFailure):
            _merge(user, records, fail_in=batch[failing]["id"].lower())
        # The store undid the failing unit only: the caller may commit what the others kept.
        db.session.commit()

        kept = {"household"} | ({"head"} if failing == "edit" else set())
        stored = set(db.session.scalars(sa.select(SyncRecord.key)))
        assert stored == {batch[name]["id"].lower() for name in kept}
        household = db.session.get(Household, batch["household"]["entity_id"])
        assert household is not None
        head = db.session.get(Person, batch["head"]["entity_id"])
        edited = db.session.get(Person, person_id)
        assert (edited.phone, edited.name, edited.name_pinyin) == (old_phone, old_name, old_pinyin)
        assert db.session.get(SyncEntity, ("person", person_id)) is None
        assert _keys_in_table() == _keys_wanted()  # the desk's search keys were undone with the unit
        audited = db.session.execute(sa.select(AuditEntry.action, AuditEntry.entity, AuditEntry.entity_id)
                                     .order_by(AuditEntry.id).offset(audits_before)).all()
        if failing == "head":
            assert head is None and household.head_id is None
            assert audited == [("create", "household", household.id)]
        else:
            assert head is not None and household.head_id == head.id
            assert audited == [("create", "household", household.id), ("update", "household", household.id),
                               ("create", "person", head.id)]

        # The device sends the batch again: what was kept is a duplicate, the rest applies.
        store, results = _merge(user, records)
        store.finish()
        expected = {name: ("duplicate" if name in kept else "applied") for name in batch}
        assert [r["status"] for r in results] == [expected["household"], expected["head"], expected["edit"]]
        db.session.expire_all()
        household = db.session.get(Household, batch["household"]["entity_id"])
        assert household.head_id == batch["head"]["entity_id"]
        edited = db.session.get(Person, person_id)
        assert (edited.phone, edited.name) == ("13987654321", "王改名") and edited.name_pinyin != old_pinyin
        actions = db.session.execute(sa.select(AuditEntry.action, AuditEntry.entity, AuditEntry.entity_id)
                                     .order_by(AuditEntry.id).offset(audits_before)).all()
        assert actions.count(("create", "person", household.head_id)) == 1
        assert actions.count(("update", "person", person_id)) == 1
        assert _keys_in_table() == _keys_wanted()
