"""A county on loopback, from the example configuration in docs/deploy/: PostgreSQL, two gunicorn
app servers, nginx in front, two scheduler processes. Phones sync through nginx while one app
server is stopped and started again and the scheduler leader is killed; afterwards every record
is there exactly once and every notice list (and its e-mail) went out exactly once.
"""
from __future__ import annotations

import email
import email.policy
import gzip
import json
import re
import signal
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from datetime import date, datetime, timezone
from http.cookiejar import CookieJar

import pytest
import sqlalchemy as sa

from tests.checkup_helpers import schedule, town_with_people
from tests.factories import make_user
from tests.helpers import wait_until
from tests.loopback import AppServer, Device, Nginx, free_port, household_records, request, stop_together
from tests.test_notice_mail import Inbox, smtp_server
from tests.test_scheduler_process import Schedulers
from webapp.extensions import db
from webapp.models import Household, Person, SyncRecord, User
from webapp.notices.models import NoticeList, NoticeMessage

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

DAY_A, DAY_B = date(2026, 12, 1), date(2026, 12, 2)  # lists due 27 and 28 Nov 07:00 local (23:00 UTC the day before)
LEASE = 6  # seconds (30 in production); a follower asks every LEASE/3
DEVICES = ("w1", "w2", "w3", "w4")
PER_BATCH = 3  # households per sync, each with its head: 6 records


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _county(app) -> dict:
    """T01 (villages V01, V02) with people, two check-up days, four workers with e-mail."""
    with app.app_context():
        town = town_with_people()
        v1, v2 = town.children
        make_user("w3", "worker", [v1])
        make_user("w4", "worker", [v2])
        for user in db.session.scalars(sa.select(User).where(User.username.in_(DEVICES))):
            user.email = f"{user.username}@example.org"
        db.session.commit()
        schedule(town, DAY_A)
        schedule(town, DAY_B)
        return {"w1": v1.children[0].id, "w3": v1.children[1].id, "w2": v2.children[0].id, "w4": v2.children[1].id}


def _server_env(database_url: str) -> dict:
    return {"DATABASE_URL": database_url, "SECRET_KEY": "one key for every server", "PROXY_HOPS": "1"}


class Phones:
    """Worker phones syncing through nginx in threads until told to stop (after ``minimum`` batches)."""

    def __init__(self, port: int, groups: dict, minimum: int = 4):
        self.devices = {name: Device(port, name) for name in DEVICES}
        self.groups, self.minimum = groups, minimum
        self.sent: dict[str, list[dict]] = {name: [] for name in DEVICES}
        self.statuses: Counter = Counter()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(name,), daemon=True) for name in DEVICES]

    def _run(self, name: str) -> None:
        device, batch = self.devices[name], 0
        try:
            device.login()
            while batch < self.minimum or not self.stop.is_set():
                records = household_records(self.groups[name], f"{name}-{batch}", PER_BATCH,
                                            "2026-11-23T09:00:00+08:00")
                answer = device.sync(records)
                self.sent[name] += records
                self.statuses.update(r["status"] for r in answer["results"])
                batch += 1
        except Exception as exc:  # reported by the test, with the device's name
            self.errors.append(f"{name}: {exc!r}")

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def batches(self) -> int:
        return sum(len(records) for records in self.sent.values()) // (2 * PER_BATCH)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def retries(self) -> int:
        return sum(d.retries for d in self.devices.values())


_wait = wait_until


@pytest.fixture
def county(make_app, _schema, tmp_path):
    """App servers on two ports, nginx over them, two scheduler processes (not yet started)."""
    app = make_app()
    with app.app_context():
        db.session.execute(sa.text("DROP TABLE IF EXISTS apscheduler_jobs"))
        db.session.commit()
    groups = _county(app)
    servers = [AppServer(free_port(), _server_env(_schema), tmp_path / f"web-{n}.log") for n in (1, 2)]
    nginx = Nginx(tmp_path / "nginx", [s.port for s in servers])
    schedulers = Schedulers(app, _schema, tmp_path)
    try:
        for server in servers:
            server.launch()  # both start at once
        for server in servers:
            server.ready()
        nginx.start()
        yield {"app": app, "groups": groups, "servers": servers, "nginx": nginx, "schedulers": schedulers}
    finally:
        schedulers.stop_all()
        nginx.stop()
        stop_together(servers)


def test_phones_sync_through_nginx_while_a_server_restarts_and_the_scheduler_leader_dies(county):
    began, phases = time.monotonic(), []

    def phase(name: str) -> None:
        phases.append(f"{name} {time.monotonic() - began:.1f}s")
    app, nginx, schedulers = county["app"], county["nginx"], county["schedulers"]
    web1 = county["servers"][0]
    inbox = Inbox()
    with smtp_server(inbox) as smtp_port:
        # The schedulers send the lists' e-mails to a real SMTP server in this process.
        settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "MAIL_FROM": "station@example.org",
                    "SCHEDULER_LEASE_SECONDS": str(LEASE)}
        schedulers.set_clock(utc(2026, 11, 27, 22, 59, 50))
        first, second = schedulers.start(**settings), schedulers.start(**settings)
        leader = _wait(schedulers.holder, 60, "a scheduler to lead", schedulers.logs)

        phase('leader')
        phones = Phones(nginx.port, county["groups"])
        phones.start()
        _wait(lambda: phones.batches() >= 4 or phones.errors, 60, "the phones' first syncs")

        phase('phones')
        # Day A's lists fall due and go out, e-mails included (two villages, two workers each).
        schedulers.set_clock(utc(2026, 11, 27, 23, 0, 0))
        _wait(lambda: len(inbox.messages) >= 4, 60, "day A's e-mailed lists", schedulers.logs)

        phase('day A')
        # The clock moves on to 15 s before day B's lists are due. (The day's jump also expires
        # the lease, so leadership may change hands now; it settles while web-1 is down.)
        clock_set = time.monotonic()
        schedulers.set_clock(utc(2026, 11, 28, 22, 59, 45))

        # One app server stops (systemctl stop) while phones sync; nginx sends them to the other.
        web1.stop()
        during_stop = phones.batches()
        _wait(lambda: phones.batches() >= during_stop + 3 or phones.errors, 60, "syncs while web-1 is down")

        phase('web-1 down')
        # Two seconds before day B's lists fall due, the leader dies without a word: the lists
        # fall due while nobody leads; the other scheduler must take over and catch up.
        time.sleep(max(0.0, clock_set + LEASE - time.monotonic()))
        leader = _wait(schedulers.holder, 30, "a leader after the clock moved", schedulers.logs)
        time.sleep(max(0.0, clock_set + 13 - time.monotonic()))  # the clock reads 22:59:58
        victim = first if first.pid == int(leader.split(":")[1]) else second
        schedulers.stop(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        restart = threading.Thread(target=web1.start)  # web-1 comes back meanwhile
        restart.start()
        successor = _wait(lambda: (schedulers.holder() or leader) != leader and schedulers.holder(), 60,
                          "the other scheduler to lead", schedulers.logs)
        phase('killed')
        takeover = time.monotonic() - killed_at
        _wait(lambda: len(inbox.messages) >= 8, 60, "day B's e-mailed lists", schedulers.logs)
        restart.join(timeout=120)
        access_log = nginx.base / "access.log"
        logged_before_restart = len(access_log.read_text().splitlines())

        phase('day B')
        after_restart = phones.batches()
        _wait(lambda: phones.batches() >= after_restart + 4 or phones.errors, 60, "syncs after the restart")

        def web1_serves_again():  # nginx tries a failed server again after fail_timeout (10 s)
            return any(line.endswith(f" 127.0.0.1:{web1.port}") and '"POST /api/sync"' in line
                       for line in access_log.read_text().splitlines()[logged_before_restart:])

        _wait(lambda: web1_serves_again() or phones.errors, 60, "web-1 to take syncs again")
        phase('synced after')
        phones.finish()
        time.sleep(2 * LEASE / 3 + 1)  # a tick or two more: anything sent twice would arrive now
        messages = list(inbox.messages)

    assert phones.errors == []
    assert phones.statuses["applied"] > 0 and set(phones.statuses) <= {"applied", "duplicate"}
    # The lease runs out at most LEASE after its last renewal and a follower asks every LEASE/3;
    # a few seconds more for a loaded machine (in production: 30 s lease, takeover within 40 s).
    assert successor != leader and takeover < LEASE * 4 / 3 + 10, f"takeover took {takeover:.1f} s"
    # No phone saw the server going away: nginx passed the syncs it reset on to the other server.
    logged = access_log.read_text().splitlines()
    syncs = [line.split() for line in logged if '"POST /api/sync"' in line]
    assert {fields[5] for fields in syncs} == {"200"}
    passed_on = sum(1 for fields in syncs if fields[-2].endswith(","))
    why = Counter(f[:40] for d in phones.devices.values() for f in d.failures)
    print(f"\n{phones.batches()} batches, {passed_on} passed on by nginx, {phones.retries()} resends {dict(why)}, "
          f"takeover {takeover:.1f} s; "
          + ", ".join(phases))

    # Every record is stored once; every household and person made on a phone exists once.
    sent = [r for records in phones.sent.values() for r in records]
    with app.app_context():
        stored = Counter(record["id"] for record in db.session.scalars(sa.select(SyncRecord.record)))
        assert all(stored[r["id"]] == 1 for r in sent)
        households = Counter(db.session.scalars(sa.select(Household.id).where(Household.number.like("w%-%-%"))))
        people = Counter(db.session.scalars(sa.select(Person.id).where(Person.household_id.in_(list(households)))))
        assert sorted(households) == sorted(r["entity_id"] for r in sent if r["type"] == "household")
        assert sorted(people) == sorted(r["entity_id"] for r in sent if r["type"] == "person")
        assert set(households.values()) == {1} and set(people.values()) == {1}
        lists = db.session.scalars(sa.select(NoticeList)).all()
        email_rows = db.session.scalars(sa.select(NoticeMessage).where(NoticeMessage.channel == "email")).all()
        day_of = {nl.id: nl.day.date for nl in lists}
        assert Counter((day_of[nl.id], nl.village.code) for nl in lists) == {
            (d, v): 1 for d in (DAY_A, DAY_B) for v in ("T01-V01", "T01-V02")}
        assert all(not nl.late and nl.sent_at >= nl.due_at for nl in lists)  # on time, none early
        assert sorted((day_of[m.list_id], m.status) for m in email_rows) == sorted(
            [(DAY_A, "sent")] * 4 + [(DAY_B, "sent")] * 4)

    # Each worker received each of their village's two lists once, and nothing else.
    received = Counter((rcpt, str(email.message_from_bytes(content, policy=email.policy.default)["subject"]))
                       for _, rcpts, content in messages for rcpt in rcpts)
    assert sorted(received.values()) == [1] * 8
    assert Counter(rcpt for rcpt, _ in received) == {f"{w}@example.org": 2 for w in DEVICES}
    assert {subject.rsplit(" ", 1)[-1] for _, subject in received} <= {DAY_A.isoformat(), DAY_B.isoformat()}

    # A phone pulling from the start sees every household of its village once.
    w1 = Device(nginx.port, "w1").login()
    pulled = Counter(c["entity_id"] for c in w1.pull_all() if c["entity"] == "household")
    made_in_v01 = {r["entity_id"] for name in ("w1", "w3") for r in phones.sent[name] if r["type"] == "household"}
    assert made_in_v01 <= set(pulled) and set(pulled.values()) == {1}


def test_nginx_serves_static_gzipped_with_cache_rules_proxies_the_service_worker_and_limits_sync_bodies(county):
    port = county["nginx"].port
    status, headers, body = request(port, "GET", "/static/css/app.css", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip" and b"{" in gzip.decompress(body)
    assert headers["cache-control"] == "no-cache"  # an unversioned URL may change at the next release
    # Pages link this release's static files with its hash: those are kept for a year.
    _, _, page = request(port, "GET", "/login")
    stylesheet = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{10})"', page.decode()).group(1)
    status, headers, _ = request(port, "GET", stylesheet)
    assert status == 200 and headers["cache-control"] == "public, max-age=31536000, immutable"

    status, headers, body = request(port, "GET", "/sw.js")
    assert status == 200 and headers["cache-control"] == "no-cache"
    assert b"__VERSION__" not in body and b'"/offline"' in body  # made by the app, not read from static/

    device = Device(port, "w1").login()
    too_big = b'{"records": [], "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    status, headers, body = request(port, "POST", "/api/sync", too_big,
                                    {**device.headers, "Content-Type": "application/json"})
    assert status == 413 and headers["content-type"].startswith("application/json") and b"fewer records" in body
    just_fits = b'{"records": [], "pad": "' + b"x" * (5 * 1024 * 1024 - 100) + b'"}'
    status, _, body = request(port, "POST", "/api/sync", just_fits, {**device.headers, "Content-Type": "application/json"})
    assert status == 200, body[:300]


def test_a_browser_session_and_its_csrf_token_work_whichever_server_answers(county):
    port = county["nginx"].port
    jar = CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    form = browser.open(f"{base}/login", timeout=60).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    browser.open(f"{base}/login", urllib.parse.urlencode(
        {"username": "w1", "password": "pw", "csrf_token": token}).encode(), timeout=60).read()
    page = browser.open(f"{base}/outbox", timeout=60).read().decode()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    log = county["nginx"].base / "access.log"
    before = len(log.read_text().splitlines())
    for _ in range(6):  # nginx takes turns: the session made on one server is read on both
        sync = urllib.request.Request(f"{base}/api/sync", json.dumps({"records": [], "cursor": None}).encode(),
                                      {"Content-Type": "application/json", "X-CSRFToken": csrf})
        assert json.loads(browser.open(sync, timeout=60).read())["more"] in (True, False)

    def logged():  # nginx writes a line just after the answer has gone
        found = [line for line in log.read_text().splitlines()[before:] if '"POST /api/sync"' in line]
        return found if len(found) >= 6 else None

    lines = _wait(logged, 10, "nginx's access log")
    assert len(lines) == 6 and all(" 200 " in line for line in lines)
    assert {line.split()[-1] for line in lines} == {f"127.0.0.1:{s.port}" for s in county["servers"]}
