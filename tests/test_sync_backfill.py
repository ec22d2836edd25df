"""A fresh phone's first pull holds every household and person of its villages, including
rows that never went through sync: the demo town, and rows written before sync existed
(`flask sync backfill`). Told through POST /api/sync, on SQLite and PostgreSQL."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.factories import make_family, make_town, make_user
from webapp.api import sync_service
from webapp.demo import DEMO_PASSWORD, build_demo
from webapp.extensions import db
from webapp.models import Area, Household, Person, SyncCounter, SyncEntity
from webapp.register.sync_rules import household_fields, person_fields


def _token(client, username, password="pw"):
    response = client.post("/api/login", json={"username": username, "password": password,
                                               "device_name": f"{username}-{uuid.uuid4()}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _pull(client, headers, cursor=None):
    """Every page from ``cursor`` until ``more`` is false: (changes, final cursor, pages)."""
    changes, pages = [], 0
    while True:
        response = client.post("/api/sync", json={"cursor": cursor, "records": []}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        changes += body["changes"]
        cursor, pages = body["cursor"], pages + 1
        if not body["more"]:
            return changes, cursor, pages
        assert pages < 1000, "the pull never ends"


def _register_of(village_ids):
    """What the server's tables hold for these villages, in the wire form of a change."""
    households = db.session.scalars(sa.select(Household).where(Household.village_id.in_(village_ids))).all()
    people = db.session.scalars(sa.select(Person).where(Person.village_id.in_(village_ids))).all()
    return ({("household", h.id): (h.version, household_fields(h)) for h in households}
            | {("person", p.id): (p.version, person_fields(p)) for p in people})


def _as_pulled(changes):
    pulled = {}
    for change in changes:
        pulled[(change["entity"], change["entity_id"])] = (change["version"], change["data"])
    return pulled


def test_a_fresh_phone_pulls_its_whole_demo_village_page_by_page(app, client, monkeypatch):
    with app.app_context():
        build_demo(db.session, seed=3, people=700)
        village = db.session.scalars(sa.select(Area).where(Area.kind == "village").order_by(Area.code)).first()
        expected = _register_of([village.id])
    assert len(expected) > 60
    monkeypatch.setattr(sync_service, "PULL_PAGE", 25)

    changes, cursor, pages = _pull(client, _token(client, "cunganbu1", DEMO_PASSWORD))

    assert pages >= 3  # paged, not one long answer
    assert len(changes) == len(expected)  # each row once
    assert _as_pulled(changes) == expected  # every row of the village, with its version and data, nothing else
    seen_households = set()
    for change in changes:  # a household arrives before its people
        if change["entity"] == "household":
            seen_households.add(change["entity_id"])
        else:
            assert change["data"]["household_id"] in seen_households
    # Nothing new: the next pull from the cursor is empty.
    again, _cursor, _pages = _pull(client, _token(client, "cunganbu1", DEMO_PASSWORD), cursor)
    assert again == []


def test_rows_made_before_sync_are_pullable_after_backfill_and_backfill_runs_once(app, client, runner):
    with app.app_context():
        town = make_town("T01", villages=2)
        village_a, village_b = town.children
        families_a = [make_family(village_a.children[0], size=3) for _ in range(4)]
        make_family(village_b.children[0], size=2)
        make_user("worker_a", "worker", [village_a])
        old_phone_head = families_a[0].head_id
        expected = _register_of([village_a.id])
    assert len(expected) == 16
    headers = _token(client, "worker_a")
    before, old_cursor, _pages = _pull(client, headers)
    assert before == []  # the gap: these rows are in the tables but never reach a phone

    result = runner.invoke(args=["sync", "backfill"])
    assert result.exit_code == 0, result.output
    assert "5 household(s), 14 person(s)" in result.output  # both villages: 4 + 1 households, 12 + 2 people

    fresh, cursor, _pages = _pull(client, _token(client, "worker_a"))
    assert _as_pulled(fresh) == expected and len(fresh) == 16
    # A phone that had pulled before the backfill gets the rows from its old cursor.
    caught_up, _cursor, _pages = _pull(client, headers, old_cursor)
    assert _as_pulled(caught_up) == expected

    with app.app_context():
        counter = db.session.get(SyncCounter, 1).value
        entities = db.session.scalar(sa.select(sa.func.count()).select_from(SyncEntity))
    again = runner.invoke(args=["sync", "backfill"])
    assert again.exit_code == 0 and "0 household(s), 0 person(s)" in again.output
    with app.app_context():
        assert db.session.get(SyncCounter, 1).value == counter
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncEntity)) == entities
    assert _pull(client, headers, cursor)[0] == []

    # A backfilled person merges like any other: the edit builds on version 1 and is pulled once.
    edit = {"id": str(uuid.uuid4()), "type": "person", "entity_id": old_phone_head, "base_version": 1,
            "client_time": "2026-11-22T09:14:03+08:00", "data": {"phone": "13912345678"}}
    answer = client.post("/api/sync", json={"cursor": cursor, "records": [edit]}, headers=headers).get_json()
    assert [(r["status"], r["version"]) for r in answer["results"]] == [("applied", 2)]
    assert [(c["entity_id"], c["version"], c["data"]["phone"]) for c in answer["changes"]] == [
        (old_phone_head, 2, "13912345678")]
    with app.app_context():
        head = db.session.get(Person, old_phone_head)
        assert (head.phone, head.version) == ("13912345678", 2)
        assert _register_of([village_a.id])[("person", old_phone_head)][1]["name"] == head.name
