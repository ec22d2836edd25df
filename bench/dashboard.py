"""Time the attendance views at county scale on PostgreSQL.

    .venv/bin/python bench/dashboard.py [--people 300000] [--invitations 60000] [--signins 50000]
                                        [--visits 1000000] [--repeat 7] [--database-url URL]

Without ``--database-url`` a throwaway PostgreSQL cluster is started (tests/pgcluster.py).
Bulk-builds one county of 14 towns (11 villages, 27 groups each), ``--people`` residents in
households of 3, ``--visits`` visits, two check-up days per town (one last quarter, one today)
with ``--invitations`` invitations between them and ``--signins`` counted sign-ins (a few
make-ups and certificates on the past days). Then, through the real pages as a town's
supervisor and as the county's, prints the time to render:

* the town view: today's live page (full page, and the 10 s htmx poll's fragment);
* the county view (every town, this quarter) and one town's history.

Goal (issue 5): under 300 ms each. Prints median and best of ``--repeat`` runs, and the
query plan of the counting query when ``--explain`` is given.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402

TOWNS, VILLAGES, GROUPS = 14, 11, 27


def _copy(table: str, columns: list[str], rows) -> int:
    """COPY rows into a table (PostgreSQL); 10–20× faster than INSERTs for a million rows."""
    raw = db.session.connection().connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def build(people: int, invitations: int, signins: int, visits: int, today: date, seed: int = 3) -> dict:
    rng = random.Random(seed)
    now = datetime(2026, 1, 1)
    ids = lambda: str(uuid.uuid4())  # noqa: E731
    county = ids()
    areas = [(county, "C01", "county", "示范县", None)]
    towns, villages, groups = [], [], []
    for t in range(TOWNS):
        town = ids()
        towns.append(town)
        areas.append((town, f"T{t:02d}", "town", f"{t}镇", county))
        for v in range(VILLAGES):
            village = ids()
            villages.append((village, town))
            areas.append((village, f"T{t:02d}-V{v:02d}", "village", f"{t}镇{v}村", town))
            for g in range(GROUPS):
                group = ids()
                groups.append((group, village, town))
                areas.append((group, f"T{t:02d}-V{v:02d}-G{g:02d}", "group", f"{g}组", village))
    _copy("area", ["id", "code", "kind", "name", "parent_id"], areas)

    households, persons = [], []
    for n in range(people // 3):
        group, village, town = groups[n % len(groups)]
        households.append((ids(), group, village, town, str(n), f"{n}号", 1, now, now))
    _copy("household", ["id", "group_id", "village_id", "town_id", "number", "address", "version", "created_at",
                        "updated_at"], households)

    def person_rows():
        for n in range(people):
            hid, group, village, town = households[n // 3 % len(households)][:4]
            pid = ids()
            persons.append((pid, hid, group, village, town))
            yield (pid, hid, group, village, town, f"人{n}", f"ren{n}", "r", "F" if n % 2 else "M",
                   date(1960 + n % 40, 1 + n % 12, 1 + n % 28), f"139{n:08d}", "", "resident", "", "", n % 5 == 0, 1,
                   now, now)
    _copy("person", ["id", "household_id", "group_id", "village_id", "town_id", "name", "name_pinyin",
                     "name_initials", "sex", "birth_date", "phone", "relation", "status", "away_place",
                     "away_contact", "enrolled", "version", "created_at", "updated_at"], person_rows())

    def visit_rows():
        for _n in range(visits):
            pid, hid, _g, village, _t = persons[rng.randrange(len(persons))]
            on = today - timedelta(days=rng.randrange(365))
            yield (ids(), ids(), "home_visit", 1, hid, pid, village, "", "routine", json.dumps({"seen": True}),
                   datetime.combine(on, datetime.min.time()), on, now)
    _copy("visit", ["id", "record_id", "form_id", "form_version", "household_id", "person_id", "village_id",
                    "device_id", "kind", "answers", "visited_at", "visited_on", "created_at"], visit_rows())

    users = [(ids(), "county", "supervisor", county), (ids(), "boss", "supervisor", towns[0])]
    hashed = "pbkdf2:sha256:600000$x$" + "0" * 64
    _copy("user", ["id", "username", "display_name", "password_hash", "role", "email", "active", "created_at"],
          [(u, name, name, hashed, role, "", True, now) for u, name, role, _a in users])
    _copy("user_area", ["user_id", "area_id"], [(u, a) for u, _n, _r, a in users])

    # Two days per town: last quarter (make-ups and certificates settled) and today (signing in).
    by_town: dict[str, list] = {t: [] for t in towns}
    for p in persons:
        by_town[p[4]].append(p)
    days, day_rows, area_rows = {}, [], []
    for town in towns:
        for when in (today - timedelta(days=91), today):
            day = ids()
            days[(town, when)] = day
            day_rows.append((day, town, when, "08:00", "12:00", "卫生院", "[]", "", "scheduled", now, now,
                             when + timedelta(days=30)))
            area_rows += [(day, v) for v, t in villages if t == town]
    _copy("checkup_day", ["id", "town_id", "date", "start_time", "end_time", "station", "services", "bring",
                          "status", "created_at", "updated_at", "makeup_until"], day_rows)
    _copy("checkup_day_area", ["day_id", "area_id"], area_rows)

    per_day = invitations // (2 * TOWNS)
    invs, atts = [], []
    signin_share = signins / invitations
    for (town, when), day in days.items():
        for k, (pid, _h, group, village, _t) in enumerate(rng.sample(by_town[town], per_day)):
            kind = "certificate" if k % 12 == 0 else "checkup"
            invs.append((ids(), day, pid, village, group, kind, uuid.uuid4().hex, f"{k:06d}", True, False, now, ""))
            roll = rng.random()
            if roll < signin_share:
                minute = int(rng.triangular(0, 240, 45))
                at = datetime.combine(when, datetime.min.time()) + timedelta(hours=0, minutes=minute)
                atts.append((ids(), day, pid, pid, village, group, False, "", "", "", uuid.uuid4().hex, at, when,
                             0, "", "1号台", "", "", "", None, ""))
            elif when < today and roll < signin_share + 0.05:
                later = when + timedelta(days=rng.randrange(1, 40))
                atts.append((ids(), day, pid, pid, village, group, False, "", "", "", uuid.uuid4().hex,
                             datetime.combine(later, datetime.min.time()), later, 0, "", "1号台", "", "", "", None, ""))
            elif kind == "certificate" and when < today:
                atts.append((ids(), day, pid, pid, village, group, False, "", "", "", None, None, None,
                             0, "", "", "away", "", "", when + timedelta(days=10), "外地"))
    _copy("invitation", ["id", "day_id", "person_id", "village_id", "group_id", "kind", "token", "code", "active",
                         "after_notice", "added_at", "removed_reason"], invs)
    _copy("attendance", ["id", "day_id", "person_key", "person_id", "village_id", "group_id", "walk_in",
                         "walk_in_name", "walk_in_reason", "walk_in_phone", "signin_record_id", "signed_in_at",
                         "signed_in_on", "duplicates", "signed_device", "signed_desk", "absence_reason", "absence_note",
                         "absence_stamp", "certificate_on", "certificate_place", "updated_at"],
          [a + (now,) for a in atts])
    db.session.commit()
    # Steady state, as autovacuum keeps a live database: statistics and the visibility map
    # (index-only scans) are up to date. Right after a bulk load without it, counts are ~2-4× slower.
    with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return {"users": {name: u for u, name, _r, _a in users}, "today_day": days[(towns[0], today)], "town": towns[0],
            "counts": {"people": people, "invitations": len(invs), "signins": sum(1 for a in atts if a[10]),
                       "visits": visits}}


SQL_MS: list[float] = []


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _sql_start(conn, cursor, statement, parameters, context, executemany):
    context._bench_start = time.perf_counter()


@sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _sql_end(conn, cursor, statement, parameters, context, executemany):
    SQL_MS.append((time.perf_counter() - context._bench_start) * 1000)


def timed(client, url, repeat, headers=None) -> tuple[float, float, float, int, int]:
    """(median ms, best ms, median ms spent in SQL, statements per request, status)."""
    times, sql, status, statements = [], [], 0, 0
    for _ in range(repeat):
        SQL_MS.clear()
        start = time.perf_counter()
        response = client.get(url, headers=headers or {})
        times.append((time.perf_counter() - start) * 1000)
        sql.append(sum(SQL_MS))
        status, statements = response.status_code, len(SQL_MS)
    return statistics.median(times), min(times), statistics.median(sql), statements, status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=300_000)
    parser.add_argument("--invitations", type=int, default=60_000)
    parser.add_argument("--signins", type=int, default=50_000)
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        run(args, args.database_url)
        return
    from tests.pgcluster import PgCluster

    with PgCluster("doorstep_bench") as pg:
        run(args, pg.url)


def run(args, url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("bench/dashboard.py measures PostgreSQL; give a postgresql:// --database-url")
        db.create_all()
        from webapp.merging import local_today

        with app.test_request_context():
            today = local_today()
        start = time.perf_counter()
        built = build(args.people, args.invitations, args.signins, args.visits, today)
        print(f"built {built['counts']} in {time.perf_counter() - start:.0f} s")
    town_client, county_client = app.test_client(), app.test_client()
    for client, name in ((town_client, "boss"), (county_client, "county")):
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = built["users"][name], True
    day_url = f"/attendance/days/{built['today_day']}"
    rows = [
        ("town view (live page)", town_client, day_url, None),
        ("town view (10 s poll fragment)", town_client, day_url, {"HX-Request": "true", "HX-Target": "live"}),
        ("county view (14 towns, quarter)", county_client, "/attendance/county", None),
        ("town history (2 days, ranking)", town_client, f"/attendance/towns/{built['town']}/history", None),
    ]
    load = os.getloadavg()[0]
    print(f"{'view':<34} {'median':>8} {'best':>8} {'sql':>8} {'stmts':>6}  (ms, {args.repeat} runs; goal < 300;"
          f" load average {load:.1f} on {os.cpu_count()} CPUs)")
    for label, client, url, headers in rows:
        client.get(url, headers=headers or {})  # warm: templates compiled, pool connected
        median, best, sql, statements, status = timed(client, url, args.repeat, headers)
        assert status == 200, (label, status)
        print(f"{label:<34} {median:8.1f} {best:8.1f} {sql:8.1f} {statements:6d}")
    if args.explain:
        from webapp.attendance import queries

        with app.app_context():
            days = list(db.session.scalars(sa.text("SELECT id FROM checkup_day")))
            with db.engine.connect() as conn:
                stmt = queries.counts_statement(days, None)
                compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
                for line in conn.execute(sa.text(f"EXPLAIN ANALYZE {compiled}")):
                    print("  ", line[0])


if __name__ == "__main__":
    main()
