"""The scheduler as a real process (``flask --app wsgi scheduler``) under a clock the test moves.

Each process runs the real CLI through tests/clocked.py (time-machine), against the test
database (SQLite file, or the PostgreSQL server in the PostgreSQL run)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.checkup_helpers import schedule, town_with_people
from tests.clocked import write_clock
from tests.helpers import wait_until
from webapp.extensions import db
from webapp.notices.models import NoticeList, SchedulerLease

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 12, 1)  # 08:00 Asia/Shanghai; its list is due 28 Nov 07:00 local = 27 Nov 23:00 UTC
pytestmark = pytest.mark.slow


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


class Schedulers:
    """Start, stop and kill scheduler processes that share one controllable clock."""

    def __init__(self, app, database_url: str, tmp_path: Path):
        self.app, self.url, self.tmp = app, database_url, tmp_path
        self.clock = tmp_path / "clock"
        self.procs: list[subprocess.Popen] = []

    def set_clock(self, instant: datetime) -> None:
        write_clock(self.clock, instant)
        time.sleep(0.3)  # every process follows within 50 ms

    def start(self, **settings: str) -> subprocess.Popen:
        """One more scheduler process; ``settings`` are extra environment variables."""
        env = {**os.environ, "DATABASE_URL": self.url, "SECRET_KEY": "test", "SCHEDULER_TICK_SECONDS": "1",
               "SCHEDULER_LEASE_SECONDS": "3", "PYTHONPATH": str(ROOT), **settings}
        log = open(self.tmp / f"scheduler-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "tests.clocked", str(self.clock), "--",
                                 "flask", "--app", "wsgi", "scheduler"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("scheduler-*.log")))

    def lists(self) -> list[NoticeList]:
        with self.app.app_context():
            rows = db.session.scalars(sa.select(NoticeList).order_by(NoticeList.village_id)).all()
            db.session.expunge_all()
            return rows

    def holder(self) -> str | None:
        with self.app.app_context():
            lease = db.session.get(SchedulerLease, "scheduler")
            return lease.holder if lease is not None and lease.holder else None

    def wait_for(self, what, timeout: float = 30.0, message: str = ""):
        return wait_until(what, timeout, message, logs=lambda: "--- scheduler logs ---\n" + self.logs())


@pytest.fixture
def schedulers(make_app, _schema, tmp_path):
    app = make_app()
    with app.app_context():
        db.session.execute(sa.text("DROP TABLE IF EXISTS apscheduler_jobs"))
        db.session.commit()
    runner = Schedulers(app, _schema, tmp_path)
    yield runner
    runner.stop_all()


def _town_and_day(app, day=DAY):
    with app.app_context():
        town = town_with_people()
        return schedule(town, day).id


def test_two_scheduler_processes_send_the_t3_list_once_and_a_second_takes_over(schedulers):
    _town_and_day(schedulers.app)
    schedulers.set_clock(utc(2026, 11, 27, 22, 59, 50))
    first, second = schedulers.start(), schedulers.start()
    leader = schedulers.wait_for(schedulers.holder, message="a scheduler to take the lease")
    time.sleep(2)
    assert schedulers.lists() == []  # 06:59:5x local: not yet
    schedulers.set_clock(utc(2026, 11, 27, 23, 0, 0))
    lists = schedulers.wait_for(lambda: len(schedulers.lists()) == 2 and schedulers.lists(), 30, "the T-3 lists")
    assert all(not nl.late for nl in lists)
    assert all(nl.sent_at >= datetime(2026, 11, 27, 23, 0) for nl in lists)
    # The leader dies without a word; the other takes over once the lease runs out.
    pid = int(leader.split(":")[1])
    victim = first if first.pid == pid else second
    schedulers.stop(victim, signal.SIGKILL)
    schedulers.wait_for(lambda: (schedulers.holder() or leader) != leader, 20, "the second scheduler to lead")
    schedulers.set_clock(utc(2026, 11, 28, 1, 0, 0))
    time.sleep(3)
    assert len(schedulers.lists()) == 2  # nothing sent twice, by either process
    assert "leads" in schedulers.logs()


def test_scheduler_down_from_t4_to_t2_sends_the_list_on_restart_marked_late(schedulers):
    _town_and_day(schedulers.app)
    schedulers.set_clock(utc(2026, 11, 26, 4, 0))  # T-4 12:00 local
    proc = schedulers.start()
    schedulers.wait_for(schedulers.holder, message="the scheduler to lead")
    time.sleep(3)
    assert schedulers.lists() == []
    schedulers.stop(proc)
    schedulers.set_clock(utc(2026, 11, 29, 1, 0))  # T-2 09:00 local
    schedulers.start()
    lists = schedulers.wait_for(lambda: len(schedulers.lists()) == 2 and schedulers.lists(), 30, "the late lists")
    assert all(nl.late for nl in lists)


def test_after_the_day_has_passed_no_list_goes_out(schedulers):
    passed = _town_and_day(schedulers.app)
    with schedulers.app.app_context():
        from tests.factories import area

        later = schedule(area("T01"), date(2026, 12, 5)).id  # due 2 Dec 07:00 local
    schedulers.set_clock(utc(2026, 12, 2, 1, 0))  # 2 Dec 09:00 local: DAY is over
    schedulers.start()
    lists = schedulers.wait_for(lambda: len(schedulers.lists()) == 2 and schedulers.lists(), 30, "the later day's lists")
    time.sleep(2)
    assert {nl.day_id for nl in schedulers.lists()} == {later}
    assert passed not in {nl.day_id for nl in lists}


def test_a_day_created_at_t_minus_1_gets_its_list_at_once_marked_late(schedulers):
    schedulers.set_clock(utc(2026, 11, 30, 2, 0))  # 30 Nov 10:00 local, T-1
    schedulers.start()
    schedulers.wait_for(schedulers.holder, message="the scheduler to lead")
    _town_and_day(schedulers.app)
    lists = schedulers.wait_for(lambda: len(schedulers.lists()) == 2 and schedulers.lists(), 30, "the lists")
    assert all(nl.late for nl in lists)
