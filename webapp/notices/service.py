"""Notice lists: when each is due, making it exactly once, and what happens around it.

Times (DESIGN.md §5): a check-up day's list is due at ``NOTICE_TIME`` local time
(``TIMEZONE``) on the date ``NOTICE_LEAD_DAYS`` before the day, and may go out until the
day starts. A list made more than ``NOTICE_LATE_MINUTES`` after it was due is marked late.

Exactly once: a list is made in a transaction that first takes the ``notice-lists`` lock
row (so list-making is serialised across processes on both databases), then checks that
the list does not exist; the unique constraint on (day, village, kind, date) backs this up.
A list and all its messages commit together, so a crash leaves either nothing or both.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ..checkups.models import CheckupDay, Invitation
from ..extensions import db
from ..models import User, user_area
from .models import NoticeList, NoticeMessage, SchedulerLease

log = logging.getLogger(__name__)

LIST_LOCK = "notice-lists"
OPEN_STATUSES = ("queued", "retry")


# -- time --------------------------------------------------------------------------------------

def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))


def lead_days() -> int:
    return int(current_app.config.get("NOTICE_LEAD_DAYS", 3))


def notice_time() -> time:
    return time.fromisoformat(current_app.config.get("NOTICE_TIME", "07:00"))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def due_at(day_date: date) -> datetime:
    """When the list for a day on ``day_date`` is due (aware, UTC)."""
    local = datetime.combine(day_date - timedelta(days=lead_days()), notice_time(), tzinfo=local_zone())
    return local.astimezone(timezone.utc)


def starts_at(day: CheckupDay) -> datetime:
    return datetime.combine(day.date, day.start_time, tzinfo=local_zone()).astimezone(timezone.utc)


def deliver_by(day_date: date) -> date:
    """The last local date a slip may reach the person in time (three days ahead)."""
    return day_date - timedelta(days=lead_days())


def is_late(due: datetime, sent: datetime) -> bool:
    return sent - due > timedelta(minutes=int(current_app.config.get("NOTICE_LATE_MINUTES", 30)))


# -- locking -----------------------------------------------------------------------------------

def take_lock(name: str) -> None:
    """Serialise a critical section across processes, until the transaction ends.

    An UPDATE of one row is a row lock on PostgreSQL and the write lock on SQLite; taking it
    as the transaction's first statement also avoids SQLite's stale-snapshot upgrade error."""
    far = datetime(2000, 1, 1)
    update = sa.update(SchedulerLease).where(SchedulerLease.name == name).values(holder=SchedulerLease.holder)
    if not db.session.execute(update).rowcount:
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        db.session.execute(insert(SchedulerLease).values(name=name, holder="", expires_at=far)
                           .on_conflict_do_nothing())
        db.session.execute(update)


# -- making lists ------------------------------------------------------------------------------

def village_ids_of(day: CheckupDay) -> list[str]:
    return sorted(set(db.session.scalars(
        sa.select(Invitation.village_id).where(Invitation.day_id == day.id, Invitation.active.is_(True)))))


def workers_of(village_id: str) -> list[User]:
    return list(db.session.scalars(
        sa.select(User).join(user_area, user_area.c.user_id == User.id)
        .where(user_area.c.area_id == village_id, User.role == "worker", User.active.is_(True))
        .order_by(User.username)))


def _channels() -> tuple[bool, bool]:
    """(sms configured, e-mail configured)."""
    config = current_app.config
    return bool(config.get("SMS_GATEWAY_URL")), bool(config.get("MAIL_SERVER"))


def add_messages(notice_list: NoticeList, invitations: list[Invitation], now: datetime) -> int:
    """The per-person messages of ``invitations`` on a list; made once each (by key)."""
    sms, _mail = _channels()
    made = 0
    known = set(db.session.scalars(sa.select(NoticeMessage.key).where(NoticeMessage.list_id == notice_list.id)))
    for inv in invitations:
        if not inv.active:
            continue
        wanted = [("slip", "queued")]
        if sms and inv.person.phone:
            wanted.append(("sms", "queued"))
        for channel, status in wanted:
            key = f"{notice_list.id}:{channel}:{inv.id}"
            if key in known:
                continue
            db.session.add(NoticeMessage(key=key, list_id=notice_list.id, invitation_id=inv.id, channel=channel,
                                         status=status, next_attempt_at=naive_utc(now)))
            made += 1
    return made


def _add_worker_messages(notice_list: NoticeList, now: datetime) -> None:
    _sms, mail = _channels()
    for worker in workers_of(notice_list.village_id):
        # On the phone: the list is there at the worker's next sync (pages refreshed after sync).
        db.session.add(NoticeMessage(key=f"{notice_list.id}:app:{worker.id}", list_id=notice_list.id,
                                     recipient_user_id=worker.id, channel="app", status="sent",
                                     sent_at=naive_utc(now)))
        if mail and worker.email:
            db.session.add(NoticeMessage(key=f"{notice_list.id}:email:{worker.id}", list_id=notice_list.id,
                                         recipient_user_id=worker.id, channel="email", status="queued",
                                         next_attempt_at=naive_utc(now)))


def current_list(day: CheckupDay, village_id: str) -> NoticeList | None:
    return db.session.scalar(sa.select(NoticeList).where(
        NoticeList.day_id == day.id, NoticeList.village_id == village_id, NoticeList.kind == "notice",
        NoticeList.for_date == day.date, NoticeList.void.is_(False)))


def make_list(day: CheckupDay, village_id: str, now: datetime) -> NoticeList | None:
    """Make and commit the village's list for the day's current date, unless it exists."""
    db.session.commit()  # the lock must be the transaction's first statement
    try:
        take_lock(LIST_LOCK)
        exists = db.session.scalar(sa.select(NoticeList.id).where(
            NoticeList.day_id == day.id, NoticeList.village_id == village_id, NoticeList.kind == "notice",
            NoticeList.for_date == day.date))
        if exists is not None:
            db.session.rollback()
            return None
        due = due_at(day.date)
        notice_list = NoticeList(day_id=day.id, village_id=village_id, kind="notice", for_date=day.date,
                                 due_at=naive_utc(due), sent_at=naive_utc(now), late=is_late(due, now))
        db.session.add(notice_list)
        db.session.flush()
        invitations = list(db.session.scalars(sa.select(Invitation).where(
            Invitation.day_id == day.id, Invitation.village_id == village_id, Invitation.active.is_(True))))
        add_messages(notice_list, invitations, now)
        _add_worker_messages(notice_list, now)
        db.session.commit()
    except IntegrityError:  # made by another process in the meantime
        db.session.rollback()
        return None
    except BaseException:
        db.session.rollback()
        raise
    log.info("notice list %s made for day %s village %s (late=%s)", notice_list.id, day.id, village_id,
             notice_list.late)
    return notice_list


def days_due(now: datetime) -> list[CheckupDay]:
    """Scheduled days whose list is due at ``now`` and that have not started yet."""
    today_local = now.astimezone(local_zone()).date()
    candidates = db.session.scalars(sa.select(CheckupDay).where(
        CheckupDay.status == "scheduled", CheckupDay.date >= today_local,
        CheckupDay.date <= today_local + timedelta(days=lead_days() + 1)).order_by(CheckupDay.date))
    return [day for day in candidates if due_at(day.date) <= now < starts_at(day)]


def send_due_lists(now: datetime | None = None) -> list[NoticeList]:
    """Make every list that is due and not made yet. Safe to run any number of times, anywhere."""
    now = now or utc_now()
    made = []
    for day in days_due(now):
        for village_id in village_ids_of(day):
            notice_list = make_list(day, village_id, now)
            if notice_list is not None:
                made.append(notice_list)
    return made


# -- changes after a list went out --------------------------------------------------------------

def villages_with_lists(day: CheckupDay) -> frozenset[str]:
    return frozenset(db.session.scalars(sa.select(NoticeList.village_id).where(
        NoticeList.day_id == day.id, NoticeList.for_date == day.date, NoticeList.void.is_(False))))


def after_invited(day: CheckupDay, invitations: list[Invitation]) -> None:
    """People invited after their village's list went out join it at once (the follow-up part)."""
    now = utc_now()
    for inv in invitations:
        notice_list = current_list(day, inv.village_id)
        if notice_list is not None:
            add_messages(notice_list, [inv], now)
    db.session.flush()


def void_lists(day: CheckupDay, reason: str) -> None:
    now = naive_utc(utc_now())
    for notice_list in db.session.scalars(sa.select(NoticeList).where(
            NoticeList.day_id == day.id, NoticeList.void.is_(False))):
        notice_list.void, notice_list.voided_at = True, now
        for message in notice_list.messages:
            if message.status in OPEN_STATUSES:
                message.status, message.error = "void", reason


def void_messages_of(inv: Invitation) -> None:
    for message in db.session.scalars(sa.select(NoticeMessage).where(
            NoticeMessage.invitation_id == inv.id, NoticeMessage.status.in_(OPEN_STATUSES))):
        message.status, message.error = "void", "uninvited"
