"""Time the sign-in desk's search: on the server over a 50,000-person day, and on the desk device
over a 2,000-person cached roster (static/js/desk-search.js run in Debian's Chromium).

    .venv/bin/python bench/desk_search.py [--people 50000] [--roster 2000] [--queries 400] [--database-url URL | --postgres]

Builds the demo town with ``--people`` residents in a throwaway SQLite file (or the given empty
database) and one check-up day covering every village, so the server searches all of them. The
queries are what desk staff type: pinyin initials (whole and the first two letters), the first
syllable and a bit of full pinyin, the last 4 and 6 ID digits, the last 4 and 8 phone digits and its first 7,
the name in characters, the surname and one more character, a slip code. Server: one call of
``webapp.desk.queries.search`` per query. Client: every keystroke of every query (each prefix),
one ``DeskSearch.search`` call each. Goals (issue 4): server p95 < 50 ms, client < 30 ms.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.checkups.service import create_day  # noqa: E402
from webapp.demo import build_demo  # noqa: E402
from webapp.desk import queries  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Area, User  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def percentiles(samples_ms: list[float]) -> str:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return f"p50 {cuts[49]:6.2f} ms   p95 {cuts[94]:6.2f} ms   max {max(samples_ms):6.2f} ms   (n={len(samples_ms)})"


def kinds_for(people: list[dict], count: int, seed: int = 11) -> list[tuple[str, str]]:
    """(kind, query) pairs: what desk staff type, for people picked at random."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < count:
        p = rng.choice(people)
        kinds = [("initials", p["i"]), ("initials", p["i"][:2]), ("pinyin", p["p"][:len(p["p"]) // 2 + 1]),
                 ("hanzi", p["n"]), ("hanzi", p["n"][:2])]
        if p["idt"]:
            kinds += [("id tail", p["idt"][-4:]), ("id tail", p["idt"])]
        if p["ph"]:
            kinds += [("phone", p["ph"][-4:]), ("phone", p["ph"][-8:]), ("phone", p["ph"][:7])]
        if p["code"]:
            kinds.append(("slip code", p["code"]))
        out.append(rng.choice([k for k in kinds if k[1]]))
    return out


def queries_for(people: list[dict], count: int, seed: int = 11) -> list[str]:
    return [q for _, q in kinds_for(people, count, seed)]


def server_bench(app, day_id: str, user_id: str, qs: list[tuple[str, str]]) -> dict[str, list[float]]:
    """Wall and CPU milliseconds per query, overall and per kind. CPU time (this process; SQLite
    runs in it) leaves out time spent waiting for a core on a shared machine."""
    from webapp.checkups.models import CheckupDay

    samples: dict[str, list[float]] = {"wall": [], "cpu": []}
    with app.test_request_context():
        user = db.session.get(User, user_id)
        day = db.session.get(CheckupDay, day_id)
        queries.search(day, user, "zhm")  # warm caches (scope, statement compilation)
        for kind, q in qs:
            start, cpu = time.perf_counter(), time.process_time()
            queries.search(day, user, q)
            wall_ms = (time.perf_counter() - start) * 1000
            samples["wall"].append(wall_ms)
            samples["cpu"].append((time.process_time() - cpu) * 1000)
            samples.setdefault(kind, []).append(wall_ms)
    return samples


CLIENT_RUN = """([people, qs]) => {
  const times = [];
  for (const q of qs) {
    for (let k = 1; k <= q.length; k++) {
      const t0 = performance.now();
      DeskSearch.search(people, q.slice(0, k));
      times.push(performance.now() - t0);
    }
  }
  return times;
}"""


def client_bench(roster: list[dict], qs: list[str]) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content("<html><body></body></html>")
            page.add_script_tag(content=(ROOT / "static/js/desk-search.js").read_text(encoding="utf-8"))
            page.evaluate("([people, qs]) => { for (const q of qs.slice(0, 20)) DeskSearch.search(people, q); }",
                          [roster, qs])  # let the JIT warm up, as a desk does over its first people
            return page.evaluate(CLIENT_RUN, [roster, qs])
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=50000)
    parser.add_argument("--roster", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--database-url")
    parser.add_argument("--postgres", action="store_true",
                        help="run on a throwaway PostgreSQL cluster (tests/pgcluster.py), as a county deployment would")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    if args.postgres:
        from tests.pgcluster import PgCluster

        cluster = PgCluster("doorstep_bench").start()
        import atexit

        atexit.register(cluster.stop)
        args.database_url = cluster.url
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context():
        db.create_all()
        start = time.perf_counter()
        build_demo(db.session, people=args.people)
        town = db.session.scalar(sa.select(Area).where(Area.kind == "town").order_by(Area.code))
        boss = db.session.scalar(sa.select(User).where(User.role == "supervisor").order_by(User.username))
        desk = db.session.scalar(sa.select(User).where(User.role == "desk").order_by(User.username))
        day = create_day(town=town, day_date=date(2026, 12, 1), start=dtime(8, 0), end=dtime(12, 0),
                         station="镇卫生院", services=["blood_pressure"], bring="",
                         areas=[a for a in town.children if a.is_village], user=boss)
        db.session.commit()
        day_id, desk_id = day.id, desk.id
        if db.engine.dialect.name == "postgresql":
            # Steady state, as autovacuum keeps a live database (statistics, visibility map),
            # not the minutes right after a bulk load.
            with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        print(f"set-up: {args.people} people, one day over every village "
              f"({len(day.invitations)} invited) in {time.perf_counter() - start:.1f} s")
    with app.test_request_context():
        from webapp.checkups.models import CheckupDay

        everyone = queries.roster_payload(db.session.get(CheckupDay, day_id), db.session.get(User, desk_id))
    print(f"server search space: {len(everyone)} people (invited + other residents of the day's villages)")
    server = server_bench(app, day_id, desk_id, kinds_for(everyone, args.queries))
    print("server  (webapp/desk/queries.search), wall: " + percentiles(server.pop("wall")))
    print("server  (webapp/desk/queries.search), CPU:  " + percentiles(server.pop("cpu")))
    for kind, samples in sorted(server.items()):
        if len(samples) > 1:
            print(f"  {kind:<10} wall " + percentiles(samples))
    roster = everyone[:args.roster]
    client_qs = queries_for(roster, args.queries, seed=12)
    size = len(json.dumps({"people": roster}, ensure_ascii=False).encode())
    print(f"client roster: {len(roster)} people, {size / 1024:.0f} KiB as JSON")
    print("client  (desk-search.js per keystroke): " + percentiles(client_bench(roster, client_qs)))


if __name__ == "__main__":
    main()
