"""Visits through POST /api/sync: change reports update the register once, through the merge."""
import uuid
from datetime import date

import sqlalchemy as sa

from tests.factories import make_household, make_person, make_town, make_user
from webapp.extensions import db
from webapp.models import AuditEntry, Person, SyncRecord
from webapp.visits.changes import new_person_id
from webapp.visits.models import Visit


def _setup(app):
    with app.app_context():
        town = make_town("T01", villages=2)
        village_a, village_b = town.children
        home = make_household(village_a.children[0], address="东风村1组 8号", number="8")
        head = make_person(home, name="张建国", sex="M", head=True, birth_date=date(1970, 1, 2))
        son = make_person(home, name="张小军", sex="M", relation="子", birth_date=date(1995, 4, 5))
        other_home = make_household(village_b.children[0])
        make_user("worker_a", "worker", [village_a])
        make_user("worker_b", "worker", [village_b])
        make_user("desk", "desk", [town])
        return {"home": home.id, "head": head.id, "son": son.id, "other_home": other_home.id}


def _token(client, username):
    body = client.post("/api/login", json={"username": username, "password": "pw", "device_name": username}).get_json()
    return {"Authorization": f"Bearer {body['token']}"}


def _visit(household_id, form_id, answers, version=1, when="2026-11-22T09:14:03+08:00"):
    return {"id": str(uuid.uuid4()), "type": "visit", "entity_id": str(uuid.uuid4()), "base_version": None,
            "client_time": when, "data": {"form_id": form_id, "form_version": str(version),
                                          "household_id": household_id, **answers}}


def _sync(client, headers, records):
    response = client.post("/api/sync", json={"device_id": None, "cursor": None, "records": records},
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_birth_and_a_move_out_change_the_register_once_even_when_the_batch_is_sent_twice(app, client):
    ids = _setup(app)
    headers = _token(client, "worker_a")
    birth = _visit(ids["home"], "change_report", {"kind": "birth", "name": "张小明", "sex": "M",
                                                   "birth_date": "2026-10-01", "relation": "孙子"})
    move = _visit(ids["home"], "change_report", {"kind": "moved_out", "person_id": ids["son"],
                                                  "event_date": "2026-11-01", "moved_to": "广州市天河区"})
    first = _sync(client, headers, [birth, move])
    assert [r["status"] for r in first["results"]] == ["applied", "applied"], first["results"]
    again = _sync(client, headers, [birth, move])
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    with app.app_context():
        babies = db.session.scalars(sa.select(Person).where(Person.name == "张小明")).all()
        assert [(p.id, p.household_id, p.birth_date, p.relation) for p in babies] == [
            (new_person_id(birth["entity_id"]), ids["home"], date(2026, 10, 1), "孙子")]
        son = db.session.get(Person, ids["son"])
        assert (son.status, son.version) == ("moved_out", 2)
        visits = db.session.scalars(sa.select(Visit).order_by(Visit.kind)).all()
        assert [(v.kind, v.person_id) for v in visits] == [("birth", babies[0].id), ("moved_out", ids["son"])]
        assert visits[1].answers["moved_to"] == "广州市天河区"
        audited = db.session.execute(sa.select(AuditEntry.action, AuditEntry.entity, AuditEntry.entity_id)
                                     .where(AuditEntry.entity.in_(("person", "visit")))).all()
        assert sorted(audited) == sorted([("create", "person", babies[0].id), ("update", "person", ids["son"]),
                                          ("create", "visit", birth["entity_id"]),
                                          ("create", "visit", move["entity_id"])])
        # The register changes are person records of their own, stored once like any other.
        derived = db.session.scalars(sa.select(SyncRecord).where(SyncRecord.key.not_in([birth["id"], move["id"]]))).all()
        assert sorted(r.record["type"] for r in derived) == ["person", "person"]


def test_a_fixed_and_resent_birth_report_creates_the_baby_once(app, client):
    """The same visit (entity id) sent again under a new record id does not make a second baby."""
    ids = _setup(app)
    headers = _token(client, "worker_a")
    birth = _visit(ids["home"], "change_report", {"kind": "birth", "name": "张小明", "sex": "M",
                                                   "birth_date": "2026-10-01"})
    _sync(client, headers, [birth])
    resent = {**birth, "id": str(uuid.uuid4())}
    _sync(client, headers, [resent])
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.name == "张小明")) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 1


def test_the_server_rejects_what_the_form_rejects_with_field_errors(app, client):
    ids = _setup(app)
    headers = _token(client, "worker_a")
    records = [
        _visit(ids["home"], "change_report", {"kind": "birth", "sex": "X", "birth_date": "2999-01-01"}),
        _visit(ids["home"], "household_visit", {"met": []}),
        _visit(ids["home"], "change_report", {"kind": "away_for_work", "person_id": ids["son"],
                                              "event_date": "2026-11-01", "away_place": "深圳",
                                              "away_contact": "12345"}),
        _visit(ids["home"], "household_visit", {"met": ["head"], "surprise": "x"}),
    ]
    results = _sync(client, headers, records)["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4
    assert set(results[0]["errors"]) == {"name", "sex", "birth_date"}
    assert set(results[1]["errors"]) == {"met"}
    assert set(results[2]["errors"]) == {"away_contact"}
    assert set(results[3]["errors"]) == {"surprise"}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0
        assert db.session.get(Person, ids["son"]).status == "resident"


def test_a_visit_made_with_an_old_form_version_is_rejected_and_names_the_version(app, client):
    ids = _setup(app)
    headers = _token(client, "worker_a")
    [result] = _sync(client, headers, [_visit(ids["home"], "household_visit", {"met": ["head"]}, version=0)])["results"]
    assert result["status"] == "rejected" and set(result["errors"]) == {"form_version"}


def test_visits_outside_the_workers_villages_and_by_desk_staff_are_refused(app, client):
    ids = _setup(app)
    [outside] = _sync(client, _token(client, "worker_a"),
                      [_visit(ids["other_home"], "household_visit", {"met": ["head"]})])["results"]
    [desk] = _sync(client, _token(client, "desk"), [_visit(ids["home"], "household_visit", {"met": ["head"]})])["results"]
    assert outside["status"] == desk["status"] == "rejected"
    assert set(outside["errors"]) == set(desk["errors"]) == {"scope"}


def test_away_for_work_and_return_update_status_place_and_contact(app, client):
    ids = _setup(app)
    headers = _token(client, "worker_a")
    away = _visit(ids["home"], "change_report", {"kind": "away_for_work", "person_id": ids["son"],
                                                  "event_date": "2026-10-01", "away_place": "深圳市宝安区",
                                                  "away_contact": "13912345678", "expected_return": "2027-02-01"},
                  when="2026-11-20T09:00:00+08:00")
    _sync(client, headers, [away])
    with app.app_context():
        son = db.session.get(Person, ids["son"])
        assert (son.status, son.away_place, son.away_contact) == ("away", "深圳市宝安区", "13912345678")
    back = _visit(ids["home"], "change_report", {"kind": "returned", "person_id": ids["son"],
                                                  "event_date": "2026-11-21"}, when="2026-11-21T09:00:00+08:00")
    _sync(client, headers, [back])
    with app.app_context():
        son = db.session.get(Person, ids["son"])
        assert (son.status, son.away_place, son.away_contact) == ("resident", "", "")
