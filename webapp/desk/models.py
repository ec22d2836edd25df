"""Attendance: what the sign-in, undo and absence events of one person on one day add up to.

A projection, never written by hand: ``sync_rules.recompute_signin`` and
``sync_rules.apply_absence`` are the only writers, and both are functions of the *set* of
events received, so desks syncing in any order end with the same rows.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import UUID, Area, Person, new_id, utcnow

SIGNIN_ROLES = ("admin", "supervisor", "desk")
ABSENCE_REASONS = ("away", "ill", "declined", "moved", "other")


class Attendance(db.Model):
    """One person (or walk-in) on one check-up day.

    ``person_key`` is the register person's id, or for a walk-in who is not in the register
    the entity id of the sign-in that brought them. ``signin_record_id`` is the counted
    sign-in (the earliest not undone); None means not signed in (yet, or any more)."""

    __tablename__ = "attendance"
    __table_args__ = (sa.UniqueConstraint("day_id", "person_key", name="uq_attendance_day_person"),
                      sa.Index("ix_attendance_day_village", "day_id", "village_id"))
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    day_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("checkup_day.id", ondelete="CASCADE"))
    person_key: Mapped[str] = mapped_column(sa.String(64))
    person_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("person.id"), index=True)
    invitation_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("invitation.id"))
    village_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"))
    group_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("area.id"))

    walk_in: Mapped[bool] = mapped_column(default=False)
    walk_in_name: Mapped[str] = mapped_column(sa.String(100), default="")
    walk_in_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    walk_in_phone: Mapped[str] = mapped_column(sa.String(40), default="")

    signin_record_id: Mapped[str | None] = mapped_column(sa.String(64))
    signed_in_at: Mapped[datetime | None]  # UTC, naive
    signed_in_on: Mapped[date | None]  # local date: the day's date, or later for a make-up
    signed_by: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))
    signed_device: Mapped[str] = mapped_column(sa.String(64), default="")
    signed_desk: Mapped[str] = mapped_column(sa.String(40), default="")
    duplicates: Mapped[int] = mapped_column(default=0)  # later sign-ins (other desks), kept, not counted

    absence_reason: Mapped[str] = mapped_column(sa.String(16), default="")
    absence_note: Mapped[str] = mapped_column(sa.String(200), default="")
    absence_by: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))
    absence_at: Mapped[datetime | None]  # UTC, naive
    absence_stamp: Mapped[str] = mapped_column(sa.String(200), default="")  # the standing statement's stamp
    certificate_on: Mapped[date | None]
    certificate_place: Mapped[str] = mapped_column(sa.String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person: Mapped[Person | None] = relationship(foreign_keys=[person_id])
    village: Mapped[Area] = relationship(foreign_keys=[village_id])

    @property
    def signed_in(self) -> bool:
        return self.signin_record_id is not None
