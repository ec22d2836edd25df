"""Several phones sync at once while another keeps pulling: no change is skipped or doubled.

A change sequence handed out by a transaction that commits after a later one would be
skipped by a device pulling in between; the counter row each batch locks first prevents it
on SQLite and on PostgreSQL alike. Real threads, real transactions, one app.
"""
import threading
import uuid

import sqlalchemy as sa

from tests.factories import make_town, make_user
from webapp.extensions import db
from webapp.models import Household, SyncRecord

WRITERS, BATCHES, PER_BATCH = 3, 6, 4


def _token(app, username):
    client = app.test_client()
    body = client.post("/api/login", json={"username": username, "password": "pw", "device_name": username}).get_json()
    return {"Authorization": f"Bearer {body['token']}"}


def test_a_device_pulling_during_concurrent_syncs_sees_every_change_once(app):
    with app.app_context():
        village = make_town("T01", villages=1, groups_per_village=1).children[0]
        group_id = village.children[0].id
        for i in range(WRITERS + 1):
            make_user(f"w{i}", "worker", [village])
    headers = [_token(app, f"w{i}") for i in range(WRITERS + 1)]
    created: list[str] = []
    errors: list[str] = []
    done = threading.Event()

    def writer(n):
        client = app.test_client()
        for b in range(BATCHES):
            records = []
            for k in range(PER_BATCH):
                hid = str(uuid.uuid4())
                created.append(hid)
                records.append({"id": str(uuid.uuid4()), "type": "household", "entity_id": hid, "base_version": 0,
                                "client_time": "2026-11-22T09:00:00+08:00",
                                "data": {"group_id": group_id, "number": f"{n}-{b}-{k}", "address": f"{n}号 {b}-{k}"}})
            response = client.post("/api/sync", json={"records": records}, headers=headers[n])
            if response.status_code != 200 or any(r["status"] != "applied" for r in response.get_json()["results"]):
                errors.append(f"writer {n}: {response.status_code} {response.get_data(as_text=True)[:200]}")

    seen: list[str] = []

    def puller():
        client, cursor = app.test_client(), None
        while True:
            finished = done.is_set()
            body = client.post("/api/sync", json={"cursor": cursor, "records": []}, headers=headers[WRITERS]).get_json()
            seen.extend(c["entity_id"] for c in body["changes"] if c["entity"] == "household")
            cursor = body["cursor"]
            if finished and not body["more"]:
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    pull = threading.Thread(target=puller)
    pull.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    pull.join(timeout=120)

    assert errors == []
    assert sorted(seen) == sorted(created)  # every change seen, none twice
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == len(created)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)) == len(created)
