"""Faults during a sync, through gunicorn on the test database: whatever breaks, once the phone
has sent its batch again every record is stored exactly once (sync tables and typed tables).

- a gunicorn worker SIGKILLed while it holds the batch's write lock;
- SQLite locked by another writer: the sync waits, or after the busy timeout gets a clear 503;
- a PostgreSQL connection terminated mid-batch (``pg_terminate_backend``): a clear 503;
- a phone that times out and sends the same batch again at once;
- an answer lost after the server committed: the resend answers ``duplicate`` for each record.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import make_town, make_user
from webapp.extensions import db
from webapp.models import AuditEntry, Household, Person, SyncCounter, SyncEntity, SyncRecord

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


# -- gunicorn on the test database ------------------------------------------------------------------

class Gunicorn:
    """``gunicorn -w 1`` serving the test database; the one worker can be found and killed."""

    def __init__(self, database_url: str, log_path: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test"}
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{self.port}",
             "--timeout", "60", "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text(errors="replace")
            try:
                if post(self.port, "/api/me", None, {}, method="GET", timeout=5)[0] == 401:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn did not answer: " + self.log_path.read_text(errors="replace")[-2000:])

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def gunicorn(_schema, tmp_path_factory):
    server = Gunicorn(_schema, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    yield server
    server.stop()


def post(port: int, path: str, body, headers: dict, *, method: str = "POST", timeout: float = 60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw), dict(response.getheaders())
        except ValueError:
            return response.status, raw.decode(errors="replace"), dict(response.getheaders())
    finally:
        conn.close()


# -- the phone's side -------------------------------------------------------------------------------

@pytest.fixture
def worker(app, gunicorn):
    """A worker of one village logged in on a phone: (bearer headers, group id)."""
    with app.app_context():
        village = make_town("T01", villages=1, groups_per_village=1).children[0]
        make_user("wang", "worker", [village])
        group_id = village.children[0].id
    status, body, _ = post(gunicorn.port, "/api/login", {"username": "wang", "password": "pw",
                                                          "device_name": "wang's phone"}, {})
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}, group_id


def batch(group_id: str, size: int) -> list[dict]:
    """New households, each followed by four people: what an outbox sends after a day's round."""
    records = []
    for n in range(size):
        if n % 5 == 0:
            hid = str(uuid.uuid4())
            kind, entity, data = "household", hid, {"group_id": group_id, "number": f"F{n}-{hid[:6]}",
                                                    "address": f"{n}号"}
        else:
            kind, entity, data = "person", str(uuid.uuid4()), {
                "household_id": hid, "name": "陈秀英", "sex": "F", "birth_date": "1988-03-02", "id_number": None,
                "phone": "13912345678", "relation": "户主" if n % 5 == 1 else "子女", "status": "resident",
                "away_place": "", "away_contact": "", "enrolled": True}
        records.append({"id": str(uuid.uuid4()), "type": kind, "entity_id": entity, "base_version": 0,
                        "client_time": "2026-11-22T09:14:03+08:00", "data": data})
    return records


def sync(port: int, headers: dict, records: list[dict], timeout: float = 60):
    return post(port, "/api/sync", {"device_id": None, "cursor": None, "records": records}, headers,
                timeout=timeout)


def resend_until_answered(port: int, headers: dict, records: list[dict], attempts: int = 10) -> dict:
    """What the outbox does: send the same batch again after each failure, with a pause."""
    for _ in range(attempts):
        try:
            status, body, _headers = sync(port, headers, records)
        except OSError:
            status, body = None, None
        if status == 200:
            return body
        time.sleep(1)
    raise AssertionError(f"the batch was never answered: {status} {body}")


def assert_each_record_once(app, records: list[dict]) -> None:
    """0 lost, 0 doubled: every record stored once, every household and person once, one
    audited creation each, and change seqs unique and below the counter."""
    households = {r["entity_id"] for r in records if r["type"] == "household"}
    people = {r["entity_id"] for r in records if r["type"] == "person"}
    with app.app_context():
        s = db.session
        stored = s.execute(sa.select(SyncRecord.key, SyncRecord.status)).all()
        assert sorted(k for k, _ in stored) == sorted(r["id"] for r in records)
        assert {status for _, status in stored} == {"applied"}
        assert sorted(s.scalars(sa.select(Household.id))) == sorted(households)
        assert sorted(s.scalars(sa.select(Person.id))) == sorted(people)
        seqs = list(s.scalars(sa.select(SyncEntity.seq)))
        assert len(seqs) == len(records) and len(set(seqs)) == len(seqs)
        assert s.scalar(sa.select(SyncCounter.value)) >= max(seqs)
        created = s.scalars(sa.select(AuditEntry.entity_id).where(AuditEntry.action == "create")).all()
        assert sorted(created) == sorted(households | people)


def nothing_stored(app, records: list[dict]) -> bool:
    with app.app_context():
        ids = [r["id"] for r in records]
        return db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord)
                                 .where(SyncRecord.key.in_(ids))) == 0


def stored_count(app) -> int:
    with app.app_context():
        try:
            return db.session.scalar(sa.select(sa.func.count()).select_from(SyncRecord))
        finally:
            db.session.remove()


# -- watching the batch's write lock from outside -----------------------------------------------------

def sqlite_path(database_url: str) -> str:
    return sa.engine.make_url(database_url).database


def sqlite_writer_busy(path: str) -> bool:
    """True while another connection holds SQLite's write lock (we cannot take it at once)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return True
    finally:
        conn.close()


def pg_batch_holder(app) -> int | None:
    """The server pid of the transaction holding the sync counter's lock (a batch being merged)."""
    with app.app_context():
        try:
            return db.session.execute(sa.text(
                "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'sync_counter' AND l.mode = 'RowExclusiveLock' AND l.granted "
                "AND l.pid <> pg_backend_pid()")).scalar()
        finally:
            db.session.remove()


def wait_until_mid_batch(app, database_url: str, timeout: float = 60) -> int | None:
    """Block until a batch holds the write lock; returns the PostgreSQL backend pid (None on SQLite).

    On SQLite the lock must be seen held for 100 ms running, far longer than the short write that
    stamps the device's last-seen time before the merge starts."""
    deadline = time.monotonic() + timeout
    postgres = sa.engine.make_url(database_url).get_backend_name() == "postgresql"
    held_since = None
    while time.monotonic() < deadline:
        if postgres:
            pid = pg_batch_holder(app)
            if pid:
                return pid
        elif sqlite_writer_busy(sqlite_path(database_url)):
            held_since = held_since or time.monotonic()
            if time.monotonic() - held_since >= 0.1:
                return None
        else:
            held_since = None
        time.sleep(0.01)
    raise AssertionError("no batch took the write lock")


class Sender(threading.Thread):
    """Send one batch in the background; keeps the answer or the connection error."""

    def __init__(self, port, headers, records, timeout=60):
        super().__init__(daemon=True)
        self.args, self.timeout = (port, headers, records), timeout
        self.answer = self.error = None

    def run(self):
        try:
            self.answer = sync(*self.args, timeout=self.timeout)
        except OSError as exc:  # the connection reset, closed or timed out
            self.error = exc


# -- the faults -----------------------------------------------------------------------------------------

def test_a_worker_killed_in_the_middle_of_a_batch_loses_and_doubles_nothing_once_the_phone_resends(
        app, gunicorn, worker, _schema):
    headers, group_id = worker
    records = batch(group_id, 500)
    [pid] = gunicorn.worker_pids()
    sender = Sender(gunicorn.port, headers, records)
    sender.start()
    wait_until_mid_batch(app, _schema)
    os.kill(pid, signal.SIGKILL)
    sender.join(30)
    assert sender.answer is None and sender.error is not None  # the phone never got an answer
    assert nothing_stored(app, records)  # the batch's transaction died with the worker
    gunicorn.wait_ready()  # gunicorn has started a new worker
    assert gunicorn.worker_pids() != [pid]
    answer = resend_until_answered(gunicorn.port, headers, records)
    assert {r["status"] for r in answer["results"]} == {"applied"}
    assert_each_record_once(app, records)


@pytest.mark.skipif(os.environ.get("DOORSTEP_TEST_DB", "sqlite") == "postgres", reason="SQLite's write lock")
def test_a_sync_behind_another_sqlite_writer_waits_for_it_then_goes_through(app, gunicorn, worker, _schema):
    headers, group_id = worker
    records = batch(group_id, 50)
    other = sqlite3.connect(sqlite_path(_schema), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a long import holding the write lock
    sender = Sender(gunicorn.port, headers, records)
    sender.start()
    time.sleep(2)
    assert sender.is_alive() and nothing_stored(app, records)  # waiting, not failed
    other.execute("ROLLBACK")
    other.close()
    sender.join(30)
    status, body, _ = sender.answer
    assert status == 200 and {r["status"] for r in body["results"]} == {"applied"}
    assert_each_record_once(app, records)


@pytest.mark.skipif(os.environ.get("DOORSTEP_TEST_DB", "sqlite") == "postgres", reason="SQLite's write lock")
def test_a_sync_behind_a_sqlite_writer_that_never_lets_go_gets_a_clear_error_then_succeeds_on_retry(
        app, gunicorn, worker, _schema):
    headers, group_id = worker
    records = batch(group_id, 50)
    other = sqlite3.connect(sqlite_path(_schema), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        status, body, response_headers = sync(gunicorn.port, headers, records)  # 10 s busy timeout
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert status == 503 and body["error"] == "database_unavailable"
    assert "Send again" in body["message"] or "再发送" in body["message"]
    assert response_headers["Retry-After"] == "5"
    assert nothing_stored(app, records)
    answer = resend_until_answered(gunicorn.port, headers, records)
    assert {r["status"] for r in answer["results"]} == {"applied"}
    assert_each_record_once(app, records)


@pytest.mark.postgres_only
def test_a_database_connection_dropped_mid_batch_answers_503_and_the_resend_is_stored_once(
        app, gunicorn, worker, _schema):
    headers, group_id = worker
    records = batch(group_id, 500)
    sender = Sender(gunicorn.port, headers, records)
    sender.start()
    backend = wait_until_mid_batch(app, _schema)
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        db.session.remove()
    sender.join(30)
    status, body, _ = sender.answer
    assert status == 503 and body["error"] == "database_unavailable"
    assert nothing_stored(app, records)
    answer = resend_until_answered(gunicorn.port, headers, records)
    assert {r["status"] for r in answer["results"]} == {"applied"}
    assert_each_record_once(app, records)


def test_a_phone_that_times_out_and_sends_the_same_batch_again_stores_it_once(app, gunicorn, worker):
    headers, group_id = worker
    records = batch(group_id, 500)
    with pytest.raises(TimeoutError):
        sync(gunicorn.port, headers, records, timeout=0.05)  # gives up while the server still merges
    status, body, _ = sync(gunicorn.port, headers, records)  # at once: the first may not have finished
    assert status == 200
    assert {r["status"] for r in body["results"]} <= {"applied", "duplicate"}
    assert_each_record_once(app, records)


def test_an_answer_lost_after_the_server_committed_is_answered_duplicate_on_resend(app, gunicorn, worker):
    headers, group_id = worker
    records = batch(group_id, 100)
    payload = json.dumps({"device_id": None, "cursor": None, "records": records}).encode()
    conn = socket.create_connection(("127.0.0.1", gunicorn.port), timeout=30)
    conn.sendall(b"POST /api/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + f"Authorization: {headers['Authorization']}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                 + payload)
    deadline = time.monotonic() + 60
    while stored_count(app) < len(records):  # the server has committed the batch...
        assert time.monotonic() < deadline, "the batch was never committed"
        time.sleep(0.05)
    conn.close()  # ...and the phone never reads the answer (signal lost on the way back)
    status, body, _ = sync(gunicorn.port, headers, records)
    assert status == 200 and [r["status"] for r in body["results"]] == ["duplicate"] * len(records)
    assert_each_record_once(app, records)
