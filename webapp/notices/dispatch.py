"""Sending queued SMS and e-mail messages, each at most once.

A message is *claimed* (``queued``/``retry`` → ``sending``, in its own committed
transaction) before anything is sent, so two processes never send the same message. A
gateway that answers "failed, try again" puts it back to ``retry`` with a growing pause,
up to ``SEND_MAX_ATTEMPTS``; then it is ``failed`` with the reason. A message left in
``sending`` by a process that died mid-send is marked failed ("interrupted"), not sent
again: whether it left is unknown, and a double message is the worse mistake here.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from ..extensions import db
from ..models import User
from .models import NoticeList, NoticeMessage
from .service import naive_utc, utc_now

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=10)


def _claim(message_id: str, now: datetime) -> bool:
    claimed = db.session.execute(
        sa.update(NoticeMessage).where(NoticeMessage.id == message_id, NoticeMessage.status.in_(("queued", "retry")))
        .values(status="sending", attempts=NoticeMessage.attempts + 1, next_attempt_at=naive_utc(now))).rowcount
    db.session.commit()
    return bool(claimed)


def _finish(message: NoticeMessage, now: datetime, error=None) -> None:
    if error is None:
        message.status, message.sent_at, message.error = "sent", naive_utc(now), ""
    else:
        limit = int(current_app.config.get("SEND_MAX_ATTEMPTS", 3))
        retry = getattr(error, "retryable", False) and message.attempts < limit
        message.status = "retry" if retry else "failed"
        message.error = str(getattr(error, "reason", error))[:300]
        message.next_attempt_at = naive_utc(now + timedelta(minutes=2 ** message.attempts)) if retry else None
    db.session.commit()
    log.info("notice message %s (%s): %s", message.id, message.channel, message.status)


def _fail_stuck(now: datetime) -> None:
    db.session.execute(
        sa.update(NoticeMessage).where(NoticeMessage.status == "sending",
                                       NoticeMessage.next_attempt_at < naive_utc(now - STUCK_AFTER))
        .values(status="failed", error="interrupted while sending; not resent to avoid a double message"))
    db.session.commit()


def dispatch_due(now: datetime | None = None) -> int:
    """Send what is due; returns how many messages were attempted."""
    from .channels import mailer, sms_gateway

    now = now or utc_now()
    _fail_stuck(now)
    due = list(db.session.scalars(sa.select(NoticeMessage.id).where(
        NoticeMessage.channel.in_(("sms", "email")), NoticeMessage.status.in_(("queued", "retry")),
        sa.or_(NoticeMessage.next_attempt_at.is_(None), NoticeMessage.next_attempt_at <= naive_utc(now)))
        .order_by(NoticeMessage.created_at)))
    if not due:
        return 0
    gateway, mail = sms_gateway(), mailer()
    attempted = 0
    for message_id in due:
        if not _claim(message_id, now):
            continue
        attempted += 1
        message = db.session.get(NoticeMessage, message_id)
        try:
            if message.channel == "sms":
                _send_sms(gateway, message)
            else:
                _send_email(mail, message)
        except Exception as error:  # noqa: BLE001 - every failure is recorded on the message
            if not hasattr(error, "retryable"):
                log.exception("notice message %s failed unexpectedly", message.id)
            _finish(message, now, error)
        else:
            _finish(message, now)
    return attempted


class NotConfigured(Exception):
    retryable = False

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _send_sms(gateway, message: NoticeMessage) -> None:
    from .channels import sms_text

    if gateway is None:
        raise NotConfigured("SMS gateway not configured")
    person = message.invitation.person
    gateway.send(person.phone, sms_text(message.invitation))


def _send_email(mail, message: NoticeMessage) -> None:
    from .channels import list_email

    if mail is None:
        raise NotConfigured("e-mail not configured")
    worker = db.session.get(User, message.recipient_user_id)
    notice_list = db.session.get(NoticeList, message.list_id)
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")):
        subject, text, attachments = list_email(notice_list, worker)
    mail.send(worker.email, subject, text, attachments=attachments)

