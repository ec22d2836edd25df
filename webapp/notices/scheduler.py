"""The scheduler process: ``flask --app wsgi scheduler``. Never inside a gunicorn worker.

Several scheduler processes may run (one per server, for resilience). Each tries to hold
the ``scheduler`` lease row; only the holder runs jobs, and it renews the lease every third
of its lifetime. When the holder dies, another process takes the lease once it expires
(``SCHEDULER_LEASE_SECONDS``, default 30 s): it asks every third of that, so jobs resume
within 40 s. Leadership only decides who works; exactly-once comes from the idempotent jobs
below (unique list keys, claimed messages), so even two leaders at once send nothing twice.

The jobs live in APScheduler 3's SQLAlchemy job store (table ``apscheduler_jobs``), opened
only by the lease holder, so a job store is never used by two schedulers at once:
* ``notice-lists`` — daily at ``NOTICE_TIME`` in ``TIMEZONE``: the lists due today.
* ``notice-tick`` — every ``SCHEDULER_TICK_SECONDS`` (default 60): catch-up (lists missed
  while the server was down, days created late), then sending queued SMS/e-mail.
Both call idempotent functions (notices/service.py), so a job run twice, or a lease lost in
the middle of a run, still sends every list once.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import current_app

from ..extensions import db
from . import service
from .models import SchedulerLease

log = logging.getLogger(__name__)

LEASE = "scheduler"
_app = None  # the app the jobs run in (APScheduler stores jobs by reference, not with the app)


def acquire_lease(holder: str, now: datetime, seconds: int) -> bool:
    """Take or renew the lease; True when ``holder`` holds it until ``now + seconds``."""
    now_naive = service.naive_utc(now)
    until = now_naive + timedelta(seconds=seconds)
    db.session.commit()
    service.take_lock(LEASE)  # makes the row when missing; serialises competing processes
    row = db.session.get(SchedulerLease, LEASE)
    if row.holder in ("", holder) or row.expires_at <= now_naive:
        if row.holder != holder:
            log.info("scheduler lease taken by %s (was %r)", holder, row.holder)
        row.holder, row.expires_at = holder, until
        db.session.commit()
        return True
    db.session.rollback()
    return False


def release_lease(holder: str) -> None:
    db.session.execute(sa.update(SchedulerLease).where(SchedulerLease.name == LEASE, SchedulerLease.holder == holder)
                       .values(holder="", expires_at=datetime(2000, 1, 1)))
    db.session.commit()


def run_notice_lists() -> None:
    """Job: make the lists that are due (also the catch-up after downtime)."""
    with _app.app_context():
        made = service.send_due_lists()
        if made:
            log.info("scheduler made %d notice list(s)", len(made))


def run_tick() -> None:
    """Job: catch up on lists, then send queued SMS and e-mail."""
    with _app.app_context():
        service.send_due_lists()
        from .dispatch import dispatch_due

        dispatch_due()


def _jobs_scheduler(app) -> BackgroundScheduler:
    zone = service.local_zone()
    at = service.notice_time()
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=db.engine)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=zone)
    scheduler.add_job("webapp.notices.scheduler:run_notice_lists", CronTrigger(hour=at.hour, minute=at.minute,
                      timezone=zone), id="notice-lists", replace_existing=True)
    tick = int(app.config.get("SCHEDULER_TICK_SECONDS", 60))
    scheduler.add_job("webapp.notices.scheduler:run_tick", IntervalTrigger(seconds=tick, timezone=zone),
                      id="notice-tick", replace_existing=True, next_run_time=datetime.now(zone))
    return scheduler


def run(app, stop: threading.Event | None = None, holder: str | None = None) -> None:
    """Follow or lead until ``stop`` is set (SIGTERM/SIGINT set it when run from the CLI)."""
    global _app
    _app = app
    stop = stop or threading.Event()
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    lease_seconds = int(app.config.get("SCHEDULER_LEASE_SECONDS", 30))
    scheduler = None
    log.info("scheduler %s started", holder)
    try:
        while not stop.is_set():
            with app.app_context():
                try:
                    leader = acquire_lease(holder, service.utc_now(), lease_seconds)
                except Exception:  # the database is away: stop acting, try again later
                    log.exception("scheduler %s could not reach the database", holder)
                    db.session.rollback()
                    leader = False
                if leader and scheduler is None:
                    scheduler = _jobs_scheduler(app)
                    scheduler.start()
                    log.info("scheduler %s leads", holder)
                elif not leader and scheduler is not None:
                    scheduler.shutdown(wait=False)
                    scheduler = None
                    log.warning("scheduler %s lost the lease; following", holder)
            stop.wait(max(1.0, lease_seconds / 3))
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
            with app.app_context():
                release_lease(holder)
        log.info("scheduler %s stopped", holder)


def run_from_cli() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(current_app._get_current_object(), stop)
