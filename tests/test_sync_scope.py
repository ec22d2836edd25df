"""Every record type the merge knows, sent by a worker, a desk and a supervisor of another town:
``rejected`` with a reason, nothing applied. The same records from the village's own worker are
applied, so the refusals are about scope, not about a bad record.

The types come from ``app.extensions["doorstep_sync_types"]``: a type added later fails this test
until BUILDERS knows how to make a good record of it.
"""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa

from tests.checkup_helpers import schedule
from tests.factories import make_family, make_town, make_user
from webapp.extensions import db
from webapp.merging import local_today, store_and_rules
from webapp.models import AuditEntry, SyncEntity, SyncEvent, User
from webapp.notices.service import due_at, send_due_lists

WHEN = "2026-11-22T09:14:03+08:00"
OUTSIDERS = ("worker_2", "desk_2", "super_2")


def _record(type_, data, entity_id=None, base=0):
    return {"id": str(uuid.uuid4()), "type": type_, "entity_id": entity_id or str(uuid.uuid4()),
            "base_version": base, "client_time": WHEN, "data": data}


def _new_person(ids):
    return {"household_id": ids["home"], "name": "陈秀英", "sex": "F", "birth_date": "1988-03-02",
            "id_number": None, "phone": "13912345678", "relation": "子女", "status": "resident",
            "away_place": "", "away_contact": "", "enrolled": True}


# type → records a worker of village A may send: new rows and changes to rows that exist.
BUILDERS = {
    "household": lambda ids: [
        _record("household", {"group_id": ids["group"], "number": "9", "address": "东风村1组 9号"}),
        _record("household", {"address": "东风村1组 8号之一"}, entity_id=ids["home"], base=1),
    ],
    "person": lambda ids: [
        _record("person", _new_person(ids)),
        _record("person", {"phone": "13700000000"}, entity_id=ids["head"], base=1),
    ],
    "visit": lambda ids: [
        _record("visit", {"form_id": "household_visit", "form_version": "1", "household_id": ids["home"],
                          "met": ["head"]}, base=None),
    ],
    "notice_delivery": lambda ids: [
        _record("notice_delivery", {"invitation_id": ids["invitation"], "how": "person",
                                    "delivered_on": "2026-11-20"}, base=None),
    ],
    # The desk's records are about today's check-up day, made now.
    "signin": lambda ids: [
        _now(_record("signin", {"day_id": ids["today_day"], "person_id": ids["today_person"], "desk": "1号台"},
                     base=None)),
    ],
    "signin_undo": lambda ids: [
        _now(_record("signin_undo", {"day_id": ids["today_day"], "person_id": ids["today_person"],
                                     "signin_id": str(uuid.uuid4())}, base=None)),
    ],
    "absence": lambda ids: [
        _now(_record("absence", {"day_id": ids["today_day"], "person_id": ids["today_person"], "reason": "ill"},
                     base=None)),
    ],
}
# Who sends good records of a type (the village's own worker unless said here).
GOOD_SENDERS = {"signin": "desk_1", "signin_undo": "desk_1"}


def _now(record):
    return {**record, "client_time": datetime.now(UTC).isoformat()}


def _world(app):
    with app.app_context():
        town = make_town("T01", villages=2)
        village_a = town.children[0]
        other = make_town("T02", villages=1)
        home = make_family(village_a.children[0], size=2, enrolled=True)
        make_user("worker_a", "worker", [village_a])
        boss = make_user("super_1", "supervisor", [town])
        make_user("worker_2", "worker", [other.children[0]])
        make_user("desk_2", "desk", [other])
        make_user("super_2", "supervisor", [other])
        make_user("desk_1", "desk", [town])
        day = schedule(town, date(2026, 12, 1), areas=[village_a], user=boss)
        send_due_lists(due_at(day.date))
        today = schedule(town, local_today(), areas=[village_a], user=boss)
        with app.test_request_context():
            _store, rules = store_and_rules(db.session.get(User, boss.id), "x")
        db.session.rollback()
        return set(rules), {"home": home.id, "head": home.head_id, "group": village_a.children[0].id,
                            "invitation": day.invitations[0].id, "today_day": today.id,
                            "today_person": today.invitations[0].person_id}


def _token(client, username):
    body = client.post("/api/login", json={"username": username, "password": "pw", "device_name": username})
    return {"Authorization": f"Bearer {body.get_json()['token']}"}


def _sync(client, headers, records):
    response = client.post("/api/sync", json={"records": records}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"]


def _footprint(app):
    """The register as the merge sees it, and the audit trail of changes (not of logins and syncs)."""
    with app.app_context():
        entities = db.session.execute(sa.select(SyncEntity.entity, SyncEntity.entity_id, SyncEntity.version)).all()
        events = db.session.execute(sa.select(SyncEvent.type, SyncEvent.entity_id)).all()
        changes = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                    .where(AuditEntry.action.notin_(("login", "sync"))))
        return sorted(entities), sorted(events), changes


def test_every_record_type_from_another_town_is_rejected_with_a_reason_and_changes_nothing(app, client):
    types, ids = _world(app)
    assert types >= {"person", "household", "visit", "notice_delivery"}
    unknown = types - set(BUILDERS)
    assert not unknown, f"teach tests/test_sync_scope.py BUILDERS to make a good {sorted(unknown)} record"
    before = _footprint(app)
    leaks = []
    for username in OUTSIDERS:
        headers = _token(client, username)
        for type_ in sorted(types):
            for record, result in zip(records := BUILDERS[type_](ids), _sync(client, headers, records), strict=True):
                if result["status"] != "rejected" or not result["errors"]:
                    leaks.append(f"{username} {type_} {record['data']} → {result}")
    assert leaks == []
    assert _footprint(app) == before
    # The village's own worker (or the town's desk) sends the same kinds of records: they are good ones.
    for type_ in sorted(types):
        results = _sync(client, _token(client, GOOD_SENDERS.get(type_, "worker_a")), BUILDERS[type_](ids))
        assert {r["status"] for r in results} <= {"applied", "merged"}, (type_, results)
    assert _footprint(app) != before
