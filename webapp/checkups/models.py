"""Check-up days and the invitations made for them from the register."""
from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import UUID, Area, Person, new_id, utcnow

DAY_STATUSES = ("scheduled", "cancelled")
INVITATION_KINDS = ("checkup", "certificate")  # certificate: away for work, asked for a certificate instead


checkup_day_area = sa.Table(
    "checkup_day_area",
    db.metadata,
    sa.Column("day_id", UUID, sa.ForeignKey("checkup_day.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_id", UUID, sa.ForeignKey("area.id"), primary_key=True),
)


class CheckupDay(db.Model):
    """A check-up day at the station for some villages (or groups) of one town."""

    __tablename__ = "checkup_day"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    town_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    date: Mapped[date] = mapped_column(index=True)
    start_time: Mapped[time]
    end_time: Mapped[time]
    station: Mapped[str] = mapped_column(sa.String(200))
    services: Mapped[list] = mapped_column(sa.JSON, default=list)
    bring: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="scheduled", index=True)
    previous_date: Mapped[date | None]  # the date before the last reschedule
    makeup_until: Mapped[date | None]  # make-ups and certificates count until then (webapp/attendance)
    created_by: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    town: Mapped[Area] = relationship(foreign_keys=[town_id])
    areas: Mapped[list[Area]] = relationship(secondary=checkup_day_area, order_by="Area.code")
    invitations: Mapped[list[Invitation]] = relationship(back_populates="day", cascade="all, delete-orphan")

    @property
    def active(self) -> bool:
        return self.status == "scheduled"


class Invitation(db.Model):
    """One person invited to one day. Never deleted: a removal keeps the row, inactive.

    ``token`` goes into the slip's QR code (opaque, no personal data); ``code`` is printed
    under it for typing at the desk and is unique within the day."""

    __tablename__ = "invitation"
    __table_args__ = (
        sa.UniqueConstraint("day_id", "person_id", name="uq_invitation_day_person"),
        sa.UniqueConstraint("day_id", "code", name="uq_invitation_day_code"),
    )
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    day_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("checkup_day.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("person.id"), index=True)
    village_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    group_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"))
    kind: Mapped[str] = mapped_column(sa.String(16), default="checkup")
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    code: Mapped[str] = mapped_column(sa.String(12))
    active: Mapped[bool] = mapped_column(default=True)
    after_notice: Mapped[bool] = mapped_column(default=False)  # invited after the village's list went out
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]
    removed_reason: Mapped[str] = mapped_column(sa.String(200), default="")

    day: Mapped[CheckupDay] = relationship(back_populates="invitations")
    person: Mapped[Person] = relationship()
    group: Mapped[Area] = relationship(foreign_keys=[group_id])
    village: Mapped[Area] = relationship(foreign_keys=[village_id])
