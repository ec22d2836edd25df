"""Sync throughput through nginx with one and with two app servers.

    .venv/bin/python bench/scaleout.py [--devices 8] [--seconds 20] [--households 10] [--workers 2]

A throwaway PostgreSQL cluster (tests/pgcluster.py), a town of --devices villages with one
worker each, gunicorn servers and nginx from docs/deploy/ (tests/loopback.py). Each worker's
phone (a thread here) sends syncs of --households new households with their heads (2 records
each) through nginx, back to back, for --seconds. Printed per set-up: records and syncs per
second acknowledged, and the median and 95th percentile time of one sync.

Everything (database, app servers, nginx and the phones) shares this machine's cores, so a
second app server only helps when the first one leaves CPU idle; on a many-core server the
same comparison is the one to make before adding machines (docs/DEPLOY.md).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench")

from tests.loopback import AppServer, Device, Nginx, free_port, household_records, stop_together  # noqa: E402
from tests.pgcluster import PgCluster  # noqa: E402


def seed(url: str, devices: int) -> dict[str, str]:
    """Schema and a town with one village (one group) per device; returns username -> group id."""
    from tests.factories import make_town, make_user
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.create_all()
        town = make_town("T01", villages=devices, groups_per_village=1)
        groups = {}
        for n, village in enumerate(town.children):
            make_user(f"w{n}", "worker", [village])
            groups[f"w{n}"] = village.children[0].id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return groups


def run(port: int, groups: dict[str, str], seconds: float, households: int, label: str) -> dict:
    phones = {name: Device(port, name).login() for name in groups}
    stop = threading.Event()
    took: list[float] = []
    records = [0]
    lock = threading.Lock()

    def phone(name: str) -> None:
        n = 0
        while not stop.is_set():
            batch = household_records(groups[name], f"{label}-{name}-{n}", households, "2026-11-23T18:00:00+08:00")
            began = time.monotonic()
            phones[name].sync(batch)
            with lock:
                took.append(time.monotonic() - began)
                records[0] += len(batch)
            n += 1

    threads = [threading.Thread(target=phone, args=(name,)) for name in groups]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    took.sort()
    return {"records/s": records[0] / elapsed, "syncs/s": len(took) / elapsed,
            "median s": statistics.median(took), "p95 s": took[int(len(took) * 0.95) - 1],
            "resends": sum(p.retries for p in phones.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--households", type=int, default=10, help="new households (each with its head) per sync")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per app server")
    args = parser.parse_args()

    with PgCluster("doorstep_bench") as pg, tempfile.TemporaryDirectory(prefix="doorstep-scaleout-") as tmp:
        base = Path(tmp)
        groups = seed(pg.url, args.devices)
        env = {"DATABASE_URL": pg.url, "SECRET_KEY": "bench", "PROXY_HOPS": "1"}
        servers = [AppServer(free_port(), env, base / f"web-{n}.log", workers=args.workers) for n in (1, 2)]
        results = {}
        try:
            for count in (1, 2):
                for server in servers[:count]:
                    if server.proc is None:
                        server.start()
                nginx = Nginx(base / f"nginx-{count}", [s.port for s in servers[:count]]).start()
                try:
                    run(nginx.port, groups, 3, args.households, f"warm{count}")  # first requests load code
                    results[count] = run(nginx.port, groups, args.seconds, args.households, f"run{count}")
                finally:
                    nginx.stop()
        finally:
            stop_together(servers)

    print(f"{args.devices} phones, {args.households * 2} records per sync, {args.workers} sync workers per server, "
          f"{args.seconds:g} s each, {os.cpu_count()} CPU cores shared by everything")
    print(f"{'app servers':>12} {'records/s':>10} {'syncs/s':>8} {'median s':>9} {'p95 s':>7} {'resends':>8}")
    for count, r in results.items():
        print(f"{count:>12} {r['records/s']:>10.0f} {r['syncs/s']:>8.1f} {r['median s']:>9.2f} {r['p95 s']:>7.2f} "
              f"{r['resends']:>8}")
    print(f"two servers / one: {results[2]['records/s'] / results[1]['records/s']:.2f}")


if __name__ == "__main__":
    main()
