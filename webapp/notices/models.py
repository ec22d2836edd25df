"""Notice lists (one per day, village and date) and the messages each one sends."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..checkups.models import CheckupDay, Invitation
from ..extensions import db
from ..models import UUID, Area, new_id, utcnow

# slip: handed over by the village worker (delivered in person / to family / by phone);
# sms: to the person's phone; email: the list to a village worker; app: the list on the worker's phone.
CHANNELS = ("slip", "sms", "email", "app")
MESSAGE_STATUSES = ("queued", "sending", "sent", "retry", "failed", "delivered", "void")


class NoticeList(db.Model):
    """Made exactly once per (day, village, kind, date): the unique constraint is what keeps
    two scheduler processes, or a job run twice, from sending a list twice."""

    __tablename__ = "notice_list"
    __table_args__ = (sa.UniqueConstraint("day_id", "village_id", "kind", "for_date", name="uq_notice_list"),)
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    day_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("checkup_day.id", ondelete="CASCADE"), index=True)
    village_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="notice")
    for_date: Mapped[date]  # the day's date when the list was made (a reschedule makes a new list)
    due_at: Mapped[datetime]  # UTC, naive: when it should have gone out
    sent_at: Mapped[datetime]  # UTC, naive
    late: Mapped[bool] = mapped_column(default=False)
    void: Mapped[bool] = mapped_column(default=False)
    voided_at: Mapped[datetime | None]

    day: Mapped[CheckupDay] = relationship()
    village: Mapped[Area] = relationship()
    messages: Mapped[list[NoticeMessage]] = relationship(back_populates="notice_list")


class NoticeMessage(db.Model):
    """One delivery of one list: per person and channel (slip, sms) or per worker (email, app).

    ``key`` is unique so that making a list's messages twice makes them once."""

    __tablename__ = "notice_message"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    list_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("notice_list.id", ondelete="CASCADE"), index=True)
    invitation_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("invitation.id"), index=True)
    recipient_user_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(sa.String(300), default="")
    sent_at: Mapped[datetime | None]
    delivered_on: Mapped[date | None]  # local date the worker handed the slip over
    delivered_how: Mapped[str] = mapped_column(sa.String(16), default="")
    delivered_by: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    notice_list: Mapped[NoticeList] = relationship(back_populates="messages")
    invitation: Mapped[Invitation | None] = relationship()


class SchedulerLease(db.Model):
    """Who runs the scheduler's jobs: the holder of an unexpired lease (one row per job group)."""

    __tablename__ = "scheduler_lease"
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[datetime]
