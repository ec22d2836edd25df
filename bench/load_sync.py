"""Many phones syncing at once through gunicorn: throughput, latency, and nothing lost or doubled.

    .venv/bin/python bench/load_sync.py [--backend sqlite|postgres|both] [--quick]
        [--devices 100] [--records 500] [--batch 50] [--pause 1.0] [--workers 2] [--time-limit 1200]

For each backend: a fresh database (a SQLite file, or a throwaway PostgreSQL cluster from
tests/pgcluster.py) migrated with ``flask db upgrade``; a town of ``devices / 2`` villages
with two workers each (tests/factories.py); gunicorn on 127.0.0.1 as ``make run`` starts it.
Then every device logs in (``POST /api/login``), pushes ``--records`` new household and person
records in batches of ``--batch`` (a household and its four people per five records, as the
phones' outbox sends them), with a random pause of up to ``--pause`` seconds between batches,
takes the changes of each answer and pulls on while ``more`` is true. A failed request is
counted as an error and the same batch is sent again (as the outbox does), at most 5 times.

Afterwards every device pulls until it is up to date, and the script checks:

* lost: a record sent but not stored, or its household/person missing from the typed tables,
  or an entity of a device's villages that the device's pull does not hold at the server's version;
* doubled: more sync records or typed rows than were sent, a change seq used twice, or a
  device pulling the same entity version twice.

Prints requests/s, p50/p95/p99 latency (push and pull requests alike), errors, lost and
doubled; the exit status is 1 unless all three are 0 and the run finished in ``--time-limit``.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

BIN = ROOT / ".venv" / "bin"
CST = timezone(timedelta(hours=8))
NAMES = ["陈秀英", "王建国", "李红梅", "赵磊", "张桂兰", "刘志强", "杨海燕", "周明"]
MAX_ATTEMPTS = 5


# -- the server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(url: str, devices: int) -> dict[str, list[str]]:
    """Migrate, then make the town and its workers; returns {username: [group ids]}."""
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"}
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    from tests.factories import make_town, make_user
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    users: dict[str, list[str]] = {}
    with app.app_context():
        town = make_town("L01", villages=(devices + 1) // 2, groups_per_village=2)
        for n in range(devices):
            village = town.children[n // 2]
            make_user(f"d{n:03d}", "worker", [village], commit=False)
            users[f"d{n:03d}"] = [g.id for g in village.children]
        db.session.commit()
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return users


class Gunicorn:
    def __init__(self, url: str, workers: int, log_path: Path):
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"}
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--timeout", "120",
             "--backlog", "2048", "wsgi:app"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = request(self.port, "GET", "/api/me", None, None, timeout=5)
                if status == 401:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not start; see {log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def request(port: int, method: str, path: str, body: dict | None, token: str | None, timeout: float = 600):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data and response.status == 200 else data)
    finally:
        conn.close()


# -- the devices ---------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.rejected = 0


class Device:
    def __init__(self, username: str, groups: list[str], port: int, stats: Stats, seed: int):
        self.username, self.groups, self.port, self.stats = username, groups, port, stats
        self.rng = random.Random(seed)
        self.token: str | None = None
        self.cursor: str | None = None
        self.pulled: dict[tuple[str, str], int] = {}
        self.pulled_twice = 0
        self.sent: dict[str, dict] = {}  # record id -> record

    def call(self, path: str, body: dict, token: str | None) -> dict:
        """One request, sent again on any failure (as the outbox does); raises after MAX_ATTEMPTS."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            start = time.perf_counter()
            try:
                status, answer = request(self.port, "POST", path, body, token)
            except OSError as exc:
                status, answer = None, repr(exc)
            elapsed = time.perf_counter() - start
            with self.stats.lock:
                self.stats.latencies.append(elapsed)
                if status != 200:
                    self.stats.errors.append(f"{self.username} {path}: {status} {str(answer)[:200]}")
            if status == 200:
                return answer
            time.sleep(min(2 ** attempt, 10) * self.rng.random())
        raise RuntimeError(f"{self.username}: {path} failed {MAX_ATTEMPTS} times")

    def login(self) -> None:
        answer = self.call("/api/login", {"username": self.username, "password": "pw",
                                          "device_name": f"load {self.username}"}, None)
        self.token = answer["token"]

    def take(self, answer: dict) -> bool:
        for change in answer["changes"]:
            key = (change["entity"], change["entity_id"])
            if self.pulled.get(key) == change["version"]:
                self.pulled_twice += 1
            self.pulled[key] = change["version"]
        self.cursor = answer["cursor"]
        return answer["more"]

    def sync(self, records: list[dict]) -> None:
        answer = self.call("/api/sync", {"device_id": None, "cursor": self.cursor, "records": records}, self.token)
        bad = [r for r in answer["results"] if r["status"] not in ("applied", "duplicate")]
        if bad:
            with self.stats.lock:
                self.stats.rejected += len(bad)
                self.stats.errors.append(f"{self.username}: rejected {bad[0]}")
        more = self.take(answer)
        while more:
            more = self.take(self.call("/api/sync", {"cursor": self.cursor, "records": []}, self.token))

    def batch(self, b: int, size: int, clock: datetime) -> list[dict]:
        records, n = [], 0
        while len(records) < size:
            clock += timedelta(seconds=1)
            if n % 5 == 0 or not records:
                hid = str(uuid.uuid4())
                data = {"group_id": self.rng.choice(self.groups), "number": f"{self.username}-{b}-{n}",
                        "address": f"{self.rng.randint(1, 300)}号"}
                kind, entity_id = "household", hid
            else:
                data = {"household_id": hid, "name": self.rng.choice(NAMES), "sex": self.rng.choice("FM"),
                        "birth_date": f"19{self.rng.randint(40, 99)}-0{self.rng.randint(1, 9)}-1{self.rng.randint(0, 9)}",
                        "id_number": None, "phone": f"139{self.rng.randrange(10**8):08d}",
                        "relation": "户主" if n % 5 == 1 else "子女", "status": "resident", "away_place": "",
                        "away_contact": "", "enrolled": True}
                kind, entity_id = "person", str(uuid.uuid4())
            record = {"id": str(uuid.uuid4()), "type": kind, "entity_id": entity_id, "base_version": 0,
                      "client_time": clock.isoformat(), "data": data}
            self.sent[record["id"]] = record
            records.append(record)
            n += 1
        return records

    def run(self, records: int, size: int, pause: float, deadline: float) -> None:
        self.login()
        clock = datetime.now(CST) - timedelta(days=1)
        for b in range((records + size - 1) // size):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.username}: time limit reached after {b} batches")
            time.sleep(self.rng.uniform(0, pause))
            self.sync(self.batch(b, min(size, records - b * size), clock + timedelta(minutes=b)))

    def catch_up(self) -> None:
        self.sync([])


# -- checks --------------------------------------------------------------------------------------

def check(url: str, devices: list[Device]) -> tuple[int, int, list[str]]:
    """(lost, doubled, notes) from the database and the devices' pulls."""
    from webapp.models import Household, Person, SyncCounter, SyncEntity, SyncRecord

    engine = sa.create_engine(url)
    notes: list[str] = []
    lost = doubled = 0
    sent = {rid: r for d in devices for rid, r in d.sent.items()}
    households = {r["entity_id"] for r in sent.values() if r["type"] == "household"}
    people = {r["entity_id"] for r in sent.values() if r["type"] == "person"}
    with engine.connect() as conn:
        stored = set(conn.scalars(sa.select(SyncRecord.key)))
        missing = len(set(sent) - stored)
        extra = len(stored) - (len(sent) - missing)
        lost += missing
        doubled += max(extra, 0)
        if missing or extra:
            notes.append(f"sync records: {missing} missing, {extra} extra")
        for model, expected in ((Household, households), (Person, people)):
            ids = list(conn.scalars(sa.select(model.id)))
            counts = Counter(ids)
            gone = len(expected - set(ids))
            twice = sum(c - 1 for c in counts.values()) + len(set(ids) - expected)
            lost, doubled = lost + gone, doubled + twice
            if gone or twice:
                notes.append(f"{model.__tablename__}: {gone} missing, {twice} extra")
        entities = conn.execute(sa.select(SyncEntity.entity, SyncEntity.entity_id, SyncEntity.version,
                                          SyncEntity.seq, SyncEntity.village_id)).all()
        seqs = Counter(e.seq for e in entities)
        reused = sum(c - 1 for c in seqs.values())
        counter = conn.scalar(sa.select(SyncCounter.value))
        if reused or (entities and counter < max(seqs)):
            doubled += reused
            notes.append(f"change seqs: {reused} used twice, counter {counter} < max {max(seqs)}")
        by_village: dict[str, dict[tuple[str, str], int]] = {}
        for e in entities:
            by_village.setdefault(e.village_id, {})[(e.entity, e.entity_id)] = e.version
        from webapp.models import Area

        group_village = dict(conn.execute(sa.select(Area.id, Area.parent_id).where(Area.kind == "group")).all())
    engine.dispose()
    for d in devices:
        server = by_village.get(group_village[d.groups[0]], {})
        missed = sum(1 for key, version in server.items() if d.pulled.get(key) != version)
        strange = len(set(d.pulled) - set(server))
        if missed or strange or d.pulled_twice:
            notes.append(f"{d.username}: pull missed {missed}, {strange} not in its villages, "
                         f"{d.pulled_twice} pulled twice")
        lost += missed + strange
        doubled += d.pulled_twice
    return lost, doubled, notes


# -- a run ---------------------------------------------------------------------------------------

def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def run(backend: str, args) -> bool:
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-load-"))
    cluster = None
    if backend == "postgres":
        from tests.pgcluster import PgCluster

        cluster = PgCluster("doorstep_load").start()
        url = cluster.url
    else:
        url = f"sqlite:///{tmp / 'load.sqlite'}"
    server = None
    try:
        users = prepare_database(url, args.devices)
        server = Gunicorn(url, args.workers, tmp / "gunicorn.log")
        stats = Stats()
        devices = [Device(name, groups, server.port, stats, seed=n) for n, (name, groups) in enumerate(users.items())]
        print(f"== {backend}: {args.devices} devices x {args.records} records in batches of {args.batch}, "
              f"pauses up to {args.pause} s, gunicorn -w {args.workers}", flush=True)
        start = time.monotonic()
        deadline = start + args.time_limit
        failures: list[str] = []
        with ThreadPoolExecutor(max_workers=len(devices)) as pool:
            futures = [pool.submit(d.run, args.records, args.batch, args.pause, deadline) for d in devices]
            for f in futures:
                if f.exception() is not None:
                    failures.append(repr(f.exception()))
        elapsed = time.monotonic() - start
        requests = len(stats.latencies)
        for d in devices:
            d.catch_up()
        lost, doubled, notes = check(url, devices)
        sent = sum(len(d.sent) for d in devices)
        lat = sorted(stats.latencies)
        print(f"records sent      {sent}")
        print(f"wall time         {elapsed:.1f} s ({sent / elapsed:.0f} records/s)")
        print(f"requests          {requests} ({requests / elapsed:.1f} requests/s)")
        print(f"latency p50/p95/p99  {percentile(lat, 50) * 1000:.0f} / {percentile(lat, 95) * 1000:.0f} / "
              f"{percentile(lat, 99) * 1000:.0f} ms (max {lat[-1] * 1000:.0f} ms)")
        print(f"errors            {len(stats.errors)} (rejected records {stats.rejected})")
        print(f"lost              {lost}")
        print(f"doubled           {doubled}")
        for line in (stats.errors[:5] + failures[:5] + notes[:10]):
            print("  ", line)
        return not (stats.errors or failures or lost or doubled)
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="10 devices x 100 records: a smoke run")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--pause", type=float, default=1.0, help="longest random pause between batches (s)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--time-limit", type=float, default=1200, help="seconds the devices get to send all")
    parser.add_argument("--keep", action="store_true", help="keep the database and gunicorn's log")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.records = 10, 100
    ok = True
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        ok = run(backend, args) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
