"""`flask backup PATH` and `flask restore PATH`: a round trip while phones keep syncing.

The backup must be one consistent snapshot: a sync batch is one transaction, so the restored
database holds each batch whole or not at all, every batch answered before the backup began,
each record once, and a sync counter that agrees with the change seqs."""
from __future__ import annotations

import threading
import time
import uuid

import sqlalchemy as sa

from tests.factories import make_town, make_user
from webapp.extensions import db
from webapp.models import AuditEntry, Household, Person, SyncCounter, SyncEntity, SyncRecord, User

BATCH = 20


def _phone(app):
    with app.app_context():
        village = make_town("T01", villages=1, groups_per_village=1).children[0]
        make_user("wang", "worker", [village])
        group_id = village.children[0].id
    client = app.test_client()
    body = client.post("/api/login", json={"username": "wang", "password": "pw", "device_name": "p"}).get_json()
    return client, {"Authorization": f"Bearer {body['token']}"}, group_id


def _batch(group_id: str) -> list[dict]:
    records = []
    for n in range(BATCH):
        if n % 4 == 0:
            hid = str(uuid.uuid4())
            kind, entity, data = "household", hid, {"group_id": group_id, "number": hid[:8], "address": f"{n}号"}
        else:
            kind, entity, data = "person", str(uuid.uuid4()), {
                "household_id": hid, "name": "王秀英", "sex": "F", "birth_date": "1970-01-02", "id_number": None,
                "phone": None, "relation": "户主" if n % 4 == 1 else "子女", "status": "resident",
                "away_place": "", "away_contact": "", "enrolled": False}
        records.append({"id": str(uuid.uuid4()), "type": kind, "entity_id": entity, "base_version": 0,
                        "client_time": "2026-11-22T09:00:00+08:00", "data": data})
    return records


class SyncingPhone(threading.Thread):
    """Sends batch after batch until stopped; keeps each batch with the time it was answered."""

    def __init__(self, client, headers, group_id):
        super().__init__(daemon=True)
        self.client, self.headers, self.group_id = client, headers, group_id
        self.stop = threading.Event()
        self.answered: list[tuple[float, list[dict]]] = []
        self.sent: list[list[dict]] = []
        self.failures: list[str] = []

    def run(self):
        while not self.stop.is_set():
            records = _batch(self.group_id)
            self.sent.append(records)
            response = self.client.post("/api/sync", json={"records": records}, headers=self.headers)
            if response.status_code != 200:
                self.failures.append(response.get_data(as_text=True)[:300])
                continue
            assert {r["status"] for r in response.get_json()["results"]} == {"applied"}
            self.answered.append((time.monotonic(), records))

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answered) < n:
            assert time.monotonic() < deadline and not self.failures, self.failures
            time.sleep(0.02)


def test_a_backup_taken_while_a_phone_syncs_restores_every_batch_whole_and_once(
        app, runner, make_app, fresh_database_url, tmp_path):
    client, headers, group_id = _phone(app)
    phone = SyncingPhone(client, headers, group_id)
    phone.start()
    try:
        phone.wait_for(3)
        started = time.monotonic()
        result = runner.invoke(args=["backup", str(tmp_path / "doorstep.backup")])
        assert result.exit_code == 0, result.output
        assert "Backed up" in result.output
        phone.wait_for(len(phone.answered) + 2)  # writes went on during and after the backup
    finally:
        phone.stop.set()
        phone.join(60)
    assert phone.failures == []
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "backup"))
        assert entry.entity == "database" and entry.after["file"].endswith("doorstep.backup")

    restored = make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url)
    result = restored.test_cli_runner().invoke(args=["restore", str(tmp_path / "doorstep.backup")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Restored ")

    with restored.app_context():
        s = db.session
        keys = set(s.scalars(sa.select(SyncRecord.key)))
        whole = [b for b in phone.sent if {r["id"] for r in b} <= keys]
        partial = [b for b in phone.sent if {r["id"] for r in b} & keys and not {r["id"] for r in b} <= keys]
        assert partial == []  # a batch is in the backup whole or not at all
        assert len(keys) == BATCH * len(whole)
        answered_before = [b for at, b in phone.answered if at < started]
        assert all(b in whole for b in answered_before) and len(answered_before) >= 3
        records = [r for b in whole for r in b]
        assert sorted(s.scalars(sa.select(Household.id))) == sorted(
            r["entity_id"] for r in records if r["type"] == "household")
        assert sorted(s.scalars(sa.select(Person.id))) == sorted(
            r["entity_id"] for r in records if r["type"] == "person")
        seqs = list(s.scalars(sa.select(SyncEntity.seq)))
        assert len(seqs) == len(records) == len(set(seqs))
        assert s.scalar(sa.select(SyncCounter.value)) == max(seqs)  # the counter matches the rows
        restore_entry = s.scalar(sa.select(AuditEntry).where(AuditEntry.action == "restore"))
        assert restore_entry.after["replaced_data"] is False
        assert restore_entry.after["counts"]["sync_record"] == len(records)
    # The restored database serves the same phone: its records are known, a new batch goes in.
    again = restored.test_client().post("/api/sync", json={"records": whole[0]}, headers=headers)
    assert {r["status"] for r in again.get_json()["results"]} == {"duplicate"}


def test_restore_refuses_a_database_holding_data_unless_told_yes_and_then_replaces_it(
        app, runner, tmp_path):
    with app.app_context():
        make_town("T01", villages=1)
        make_user("before", "admin")
    path = tmp_path / "kept.backup"
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    with app.app_context():
        make_user("after", "admin")

    refused = runner.invoke(args=["restore", str(path)])
    assert refused.exit_code != 0 and "--yes" in refused.output and "nothing was restored" in refused.output
    with app.app_context():
        assert sorted(db.session.scalars(sa.select(User.username))) == ["after", "before"]

    done = runner.invoke(args=["restore", str(path), "--yes"])
    assert done.exit_code == 0, done.output
    assert "previous data was replaced" in done.output
    with app.app_context():
        assert list(db.session.scalars(sa.select(User.username))) == ["before"]
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "restore"))
        assert entry.after["replaced_data"] is True and entry.after["sha256"]


def test_backup_never_overwrites_a_file_and_restore_refuses_what_is_not_a_backup(app, runner, tmp_path):
    with app.app_context():
        make_user("keep", "admin")
    existing = tmp_path / "existing"
    existing.write_bytes(b"precious")
    again = runner.invoke(args=["backup", str(existing)])
    assert again.exit_code != 0 and "already exists" in again.output
    assert existing.read_bytes() == b"precious"
    wrong = runner.invoke(args=["restore", str(existing), "--yes"])
    assert wrong.exit_code != 0 and "not a" in wrong.output
    missing = runner.invoke(args=["restore", str(tmp_path / "nope"), "--yes"])
    assert missing.exit_code != 0 and "does not exist" in missing.output
    with app.app_context():
        assert list(db.session.scalars(sa.select(User.username))) == ["keep"]
