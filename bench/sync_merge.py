"""Merge throughput against raw SQL upserts of the same rows.

    .venv/bin/python bench/sync_merge.py [--batches 5] [--backend sqlite|postgres|both]

Each batch holds 1,000 mixed records from one worker's phone: new households and people,
updates of existing people, events (visits; sign-ins with a unique key), and 20 % of the
batch repeated (a retry after a lost answer). The merge path is the real one (SqlStore +
the register's rules and projections + audit). The raw path upserts the same final rows
with plain SQL (INSERT … ON CONFLICT DO UPDATE) in one transaction per batch. Prints
records/s for both and the ratio; the goal is a ratio of at least 0.5.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from sync import EventRule, merge_batch  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.demo import build_demo  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.merging import store_and_rules  # noqa: E402
from webapp.models import Household, Person, User  # noqa: E402

BATCH = 1000
CST = timezone(timedelta(hours=8))
PHONES = ["139" + f"{n:08d}" for n in range(10_000_000, 10_100_000, 997)]


def make_batch(rng: random.Random, people: list[tuple[str, str]], groups: list[str], start: datetime) -> list[dict]:
    """people: (person_id, household_id) in the worker's village; groups: their group ids."""
    fresh = []
    clock = start
    n_unique = int(BATCH * 0.8)
    while len(fresh) < n_unique:
        clock += timedelta(seconds=1)
        kind = rng.random()
        when = clock.isoformat()
        if kind < 0.15:  # a new household with its head
            hid, pid = str(uuid.uuid4()), str(uuid.uuid4())
            fresh.append({"id": str(uuid.uuid4()), "type": "household", "entity_id": hid, "base_version": 0,
                          "client_time": when, "data": {"group_id": rng.choice(groups), "number": "9",
                                                        "address": f"新户 {rng.randint(1, 999)}号"}})
            fresh.append({"id": str(uuid.uuid4()), "type": "person", "entity_id": pid, "base_version": 0,
                          "client_time": when, "data": {
                              "household_id": hid, "name": rng.choice(["陈秀英", "王建国", "李红梅", "赵磊"]),
                              "sex": rng.choice("FM"), "birth_date": "1985-04-0%d" % rng.randint(1, 9),
                              "id_number": None, "phone": rng.choice(PHONES), "relation": "户主",
                              "status": "resident", "away_place": "", "away_contact": "", "enrolled": True}})
        elif kind < 0.6:  # an update of an existing person
            pid, _hid = rng.choice(people)
            data = rng.choice([{"phone": rng.choice(PHONES)}, {"status": "away", "away_place": "浙江省宁波市"},
                               {"status": "resident"}, {"enrolled": rng.random() < 0.5}])
            fresh.append({"id": str(uuid.uuid4()), "type": "person", "entity_id": pid, "base_version": 1,
                          "client_time": when, "data": data})
        else:  # an event
            pid, _hid = rng.choice(people)
            kind = "bench_signin" if rng.random() < 0.5 else "bench_visit"
            data = ({"person_id": pid, "day": "2026-12-01"} if kind == "bench_signin"
                    else {"person_id": pid, "note": "ok"})
            fresh.append({"id": str(uuid.uuid4()), "type": kind, "entity_id": str(uuid.uuid4()), "base_version": None,
                          "client_time": when, "data": data})
    fresh = fresh[:n_unique]
    return fresh + rng.sample(fresh, BATCH - n_unique)


def bench_rules(base_rules: dict) -> dict:
    """The register's rules plus two event types standing in for visits and sign-ins (own
    names: the real visit type has a form-checking projection these plain events would fail)."""
    return {**base_rules,
            "bench_visit": EventRule(),
            "bench_signin": EventRule(unique_key=lambda d: (d.get("person_id"), d.get("day")))}


def run_merge(app, user, batches) -> float:
    with app.test_request_context():
        start = time.perf_counter()
        for batch in batches:
            store, rules = store_and_rules(user, "bench-device")
            db.session.commit()
            merge_batch(store, batch, device_id="bench-device", user_id=user.id,
                        now=datetime.now(timezone.utc), rules=bench_rules(rules))
            store.finish()
        return time.perf_counter() - start


def final_rows(batches):
    """What the raw path writes: the last value of each entity's fields, and each event once."""
    households, people, events = {}, {}, {}
    for batch in batches:
        for r in batch:
            target = {"household": households, "person": people}.get(r["type"])
            if target is not None:
                target.setdefault(r["entity_id"], {}).update(r["data"])
            else:
                events[r["id"]] = r
    return households, people, events


def run_raw(app, batches) -> float:
    """Plain upserts of the same rows, one transaction per batch (no clocks, no audit, no checks)."""
    with app.app_context():
        dialect = db.engine.dialect.name
        insert = sa.dialects.postgresql.insert if dialect == "postgresql" else sa.dialects.sqlite.insert
        start = time.perf_counter()
        for batch in batches:
            households, people, events = final_rows([batch])
            with db.engine.begin() as conn:
                for hid, data in households.items():
                    group = conn.execute(sa.text("select parent_id from area where id=:g"), {"g": data["group_id"]}).one()
                    town = conn.execute(sa.text("select parent_id from area where id=:v"), {"v": group[0]}).one()
                    stmt = insert(Household.__table__).values(
                        id="raw-" + hid[4:], group_id=data["group_id"], village_id=group[0], town_id=town[0],
                        number=data["number"], address=data["address"], version=1,
                        created_at=datetime.utcnow(), updated_at=datetime.utcnow())
                    conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"address": stmt.excluded.address}))
                for pid, data in people.items():
                    cols = {k: v for k, v in data.items() if k in Person.__table__.c and k != "household_id"}
                    if "birth_date" in cols:
                        cols["birth_date"] = datetime.fromisoformat(cols["birth_date"]).date()
                    if cols:
                        conn.execute(sa.update(Person.__table__).where(Person.__table__.c.id == pid).values(**cols))
                for rid, r in events.items():
                    stmt = insert(sa.table("sync_event", sa.column("record_id"), sa.column("type"),
                                           sa.column("entity_id"), sa.column("data", sa.JSON), sa.column("stamp"),
                                           sa.column("device_id"), sa.column("user_id"), sa.column("counted"),
                                           sa.column("seq"))).values(
                        record_id="raw-" + rid[4:], type=r["type"], entity_id=r["entity_id"], data=r["data"],
                        stamp="", device_id="raw", user_id="raw", counted=True, seq=0)
                    conn.execute(stmt.on_conflict_do_nothing())
        return time.perf_counter() - start


def one_backend(url: str, n_batches: int) -> tuple[float, float]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "bench"})
    rng = random.Random(7)
    with app.app_context():
        db.drop_all()
        db.create_all()
        build_demo(db.session, seed=1, people=3000)
        user = db.session.scalar(sa.select(User).where(User.username == "cunganbu1"))
        village = user.areas[0]
        people = db.session.execute(sa.select(Person.id, Person.household_id)
                                    .where(Person.village_id == village.id)).all()
        groups = [g.id for g in village.children]
        start = datetime(2026, 11, 22, 9, 0, tzinfo=CST)
        batches = [make_batch(rng, people, groups, start + timedelta(hours=i)) for i in range(n_batches)]
        user_id = user.id
    with app.app_context():
        user = db.session.get(User, user_id)
        merge_s = run_merge(app, user, batches)
    raw_s = run_raw(app, batches)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    records = n_batches * BATCH
    return records / merge_s, records / raw_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    results = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = one_backend(f"sqlite:///{tmp}/bench.sqlite", args.batches)
    if args.backend in ("postgres", "both"):
        from tests.pgcluster import PgCluster

        with PgCluster() as pg:
            results["postgres"] = one_backend(pg.url, args.batches)
    print(f"{'backend':<10} {'merge rec/s':>12} {'raw rec/s':>12} {'ratio':>7}")
    for name, (merge_rate, raw_rate) in results.items():
        print(f"{name:<10} {merge_rate:>12.0f} {raw_rate:>12.0f} {merge_rate / raw_rate:>7.2f}")


if __name__ == "__main__":
    main()
