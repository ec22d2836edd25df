"""Attendance targets per town, and the make-up deadline every check-up day carries."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Mapped, mapped_column

from ..checkups.models import CheckupDay, Invitation
from ..desk.models import Attendance
from ..extensions import db
from ..models import UUID, utcnow

BASES = ("invited", "present")  # rate over invited, or over invited minus the away who did not come
DEFAULT_TARGETS = (80, 85, 90)
DEFAULT_MAKEUP_DAYS = 30


class AttendanceTarget(db.Model):
    """A town's targets (floor ≤ aim ≤ high, whole percents) and which rate it counts.

    No row means the defaults (80 / 85 / 90 %, over invited)."""

    __tablename__ = "attendance_target"
    town_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id", ondelete="CASCADE"), primary_key=True)
    floor: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[0])
    aim: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[1])
    high: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[2])
    basis: Mapped[str] = mapped_column(sa.String(16), default="invited")
    updated_by: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# Covering indexes for the counting query (queries.counts_statement): on PostgreSQL it reads both
# tables index-only and merge-joins them on (day, person); county view 405 → 89 ms in
# bench/dashboard.py (60,000 invitations). SQLite ignores INCLUDE (a plain index there).
sa.Index("ix_invitation_day_person_cover", Invitation.day_id, Invitation.person_id,
         postgresql_include=["village_id", "kind", "active"])
sa.Index("ix_attendance_day_person_cover", Attendance.day_id, Attendance.person_key,
         postgresql_include=["signed_in_on", "certificate_on", "absence_reason"])


def makeup_days() -> int:
    return int(current_app.config.get("MAKEUP_DAYS", DEFAULT_MAKEUP_DAYS)) if has_app_context() \
        else DEFAULT_MAKEUP_DAYS


@sa.event.listens_for(CheckupDay, "before_insert")
def _default_makeup_deadline(_mapper, _connection, day: CheckupDay) -> None:
    """Every day gets a make-up deadline (``MAKEUP_DAYS`` after it) unless one was given."""
    if day.makeup_until is None and day.date is not None:
        day.makeup_until = day.date + timedelta(days=makeup_days())


@sa.event.listens_for(CheckupDay, "before_update")
def _move_makeup_deadline(_mapper, _connection, day: CheckupDay) -> None:
    """A rescheduled day keeps its make-up period: the deadline moves with the date."""
    state = sa.inspect(day)
    moved = state.attrs.date.history
    deadline_set = state.attrs.makeup_until.history.has_changes()
    if moved.deleted and moved.added and moved.deleted[0] is not None and day.makeup_until is not None \
            and not deadline_set:
        day.makeup_until = day.makeup_until + (moved.added[0] - moved.deleted[0])
    if day.makeup_until is None and day.date is not None:
        day.makeup_until = day.date + timedelta(days=makeup_days())
