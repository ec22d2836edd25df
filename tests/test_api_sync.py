"""POST /api/sync through HTTP: the contract of DESIGN.md §4 on the real tables."""
import gzip
import json
import uuid

import sqlalchemy as sa

from tests.factories import make_family, make_town, make_user
from webapp.extensions import db
from webapp.models import AuditEntry, Household, Person, SyncConflict, SyncRecord


def _setup(app):
    with app.app_context():
        town = make_town("T01", villages=2)
        village_a, village_b = town.children
        make_user("worker_a", "worker", [village_a])
        make_user("worker_a2", "worker", [village_a])
        make_user("worker_b", "worker", [village_b])
        make_user("desk", "desk", [town])
        family_b = make_family(village_b.children[0], size=2)
        return {"group_a": village_a.children[0].id, "group_b": village_b.children[0].id,
                "person_b": family_b.head_id, "village_a": village_a.id}


def _token(client, username):
    body = client.post("/api/login", json={"username": username, "password": "pw", "device_name": username}).get_json()
    return {"Authorization": f"Bearer {body['token']}"}


def _rec(type_, entity_id, data, base=0, when="2026-11-22T09:14:03+08:00"):
    return {"id": str(uuid.uuid4()), "type": type_, "entity_id": entity_id, "base_version": base,
            "client_time": when, "data": data}


def _new_family(group_id):
    hid, pid = str(uuid.uuid4()), str(uuid.uuid4())
    return hid, pid, [
        _rec("household", hid, {"group_id": group_id, "number": "7", "address": "东风村1组 7号"}),
        _rec("person", pid, {"household_id": hid, "name": "陈秀英", "sex": "F", "birth_date": "1988-03-02",
                             "id_number": None, "phone": "13912345678", "relation": "户主", "status": "resident",
                             "away_place": "", "away_contact": "", "enrolled": True}),
    ]


def _sync(client, headers, records, cursor=None):
    response = client.post("/api/sync", json={"device_id": None, "cursor": cursor, "records": records},
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_records_made_offline_create_the_household_and_person_once(app, client):
    ids = _setup(app)
    headers = _token(client, "worker_a")
    hid, pid, records = _new_family(ids["group_a"])
    first = _sync(client, headers, records)
    assert [r["status"] for r in first["results"]] == ["applied", "applied"]
    again = _sync(client, headers, records)  # the answer was lost; the phone sends the batch again
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    with app.app_context():
        person = db.session.get(Person, pid)
        assert person.village_id == ids["village_a"] and person.name_initials == "cxy"
        assert db.session.get(Household, hid).head_id == pid
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.name == "陈秀英")) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.entity_id == pid, AuditEntry.action == "create")) == 1


def test_bad_and_out_of_scope_records_are_rejected_kept_and_do_not_stop_the_rest(app, client):
    ids = _setup(app)
    headers = _token(client, "worker_a")
    hid, pid, records = _new_family(ids["group_a"])
    bad_phone = _rec("person", str(uuid.uuid4()), {**records[1]["data"], "phone": "12012345678", "name": "王五"})
    elsewhere = _rec("person", ids["person_b"], {"phone": "13700000000"}, base=1)
    answer = _sync(client, headers, [records[0], bad_phone, elsewhere, records[1]])
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["applied", "rejected", "rejected", "applied"]
    assert "phone" in answer["results"][1]["errors"]
    assert "scope" in answer["results"][2]["errors"]
    with app.app_context():
        assert db.session.get(Person, ids["person_b"]).phone != "13700000000"
        stored = {r.status for r in db.session.scalars(sa.select(SyncRecord))}
        assert stored == {"applied", "rejected"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)) == 4


def test_desk_staff_cannot_change_the_register_through_sync(app, client):
    ids = _setup(app)
    answer = _sync(client, _token(client, "desk"), [_rec("person", ids["person_b"], {"phone": "13700000000"}, 1)])
    assert answer["results"][0]["status"] == "rejected"


def test_two_phones_editing_one_field_from_the_same_version_is_a_recorded_conflict(app, client):
    ids = _setup(app)
    a1, a2 = _token(client, "worker_a"), _token(client, "worker_a2")
    hid, pid, records = _new_family(ids["group_a"])
    _sync(client, a1, records)
    early = _rec("person", pid, {"phone": "13800000001"}, base=1, when="2026-11-22T10:00:00+08:00")
    late = _rec("person", pid, {"phone": "13800000002"}, base=1, when="2026-11-22T10:05:00+08:00")
    _sync(client, a2, [late])
    answer = _sync(client, a1, [early])  # arrives last but was made first: it loses, and is kept
    assert answer["results"][0]["status"] == "merged"
    with app.app_context():
        assert db.session.get(Person, pid).phone == "13800000002"
        conflict = db.session.scalar(sa.select(SyncConflict).where(SyncConflict.is_conflict.is_(True)))
        assert conflict.field == "phone" and conflict.village_id == ids["village_a"]
        assert sorted(c["value"] for c in conflict.competitors.values()) == ["13800000001", "13800000002"]


def test_pull_gives_changes_in_scope_only_and_pages_by_cursor(app, client):
    ids = _setup(app)
    a1 = _token(client, "worker_a")
    for _ in range(3):
        _sync(client, a1, _new_family(ids["group_a"])[2])
    other = _sync(client, _token(client, "worker_b"), [])
    assert other["changes"] == []
    seen, cursor = [], None
    while True:
        response = client.post("/api/sync", json={"cursor": cursor, "records": []}, headers=_token(client, "worker_a2"))
        body = response.get_json()
        seen += body["changes"]
        cursor = body["cursor"]
        if not body["more"]:
            break
    assert sorted(c["entity"] for c in seen) == ["household"] * 3 + ["person"] * 3


def test_limits_and_bad_bodies_get_clear_errors(app, client):
    _setup(app)
    headers = _token(client, "worker_a")
    too_many = client.post("/api/sync", json={"records": [{}] * 501}, headers=headers)
    assert too_many.status_code == 413 and "500" in too_many.get_json()["error"]
    assert client.post("/api/sync", data=b"{not json", headers=headers,
                       content_type="application/json").status_code == 400
    assert client.post("/api/sync", json={"cursor": "made-up", "records": []}, headers=headers).status_code == 400
    deep = "[" * 100000 + "]" * 100000
    assert client.post("/api/sync", data=deep, headers=headers, content_type="application/json").status_code == 400
    assert client.post("/api/sync", json={"records": []}).status_code == 401


def test_gzip_compressed_bodies_are_accepted(app, client):
    ids = _setup(app)
    headers = {**_token(client, "worker_a"), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    body = gzip.compress(json.dumps({"records": _new_family(ids["group_a"])[2]}).encode())
    response = client.post("/api/sync", data=body, headers=headers)
    assert [r["status"] for r in response.get_json()["results"]] == ["applied", "applied"]


def test_records_of_another_user_are_refused_whole(app, client):
    ids = _setup(app)
    headers = _token(client, "worker_a")
    response = client.post("/api/sync", json={"user_id": "someone-else", "records": _new_family(ids["group_a"])[2]},
                           headers=headers)
    assert response.status_code == 409
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)) == 0
