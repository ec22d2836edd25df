"""Visit tables: form definitions uploaded by admins, and the typed row of each visit.

A visit is a sync *event* (a fact, never overwritten); ``Visit`` is its projection, written
in the same merge unit (see sync_rules.py). Built-in forms live in webapp/visits/forms/*.yaml
and are not copied here; a row exists only for a version an admin loaded.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import UUID, BigId, Household, utcnow


class VisitForm(db.Model):
    """One version of one form definition (canonical JSON, see definitions.py)."""

    __tablename__ = "visit_form"
    __table_args__ = (sa.UniqueConstraint("form_id", "version", name="uq_visit_form_version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    form_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    version: Mapped[int]
    definition: Mapped[dict] = mapped_column(sa.JSON)
    source: Mapped[str] = mapped_column(sa.String(16), default="upload")  # upload | xlsform
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))


class Visit(db.Model):
    """A saved visit form: which form and version it was made with, and its answers as given.

    ``id`` is the entity id the phone made; ``register_change`` notes the person record the
    visit merged into the register (change reports), so the history can link both ways."""

    __tablename__ = "visit"
    __table_args__ = (
        sa.Index("ix_visit_village_day", "village_id", "visited_on"),
        sa.Index("ix_visit_household_day", "household_id", "visited_on"),
    )
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    record_id: Mapped[str] = mapped_column(sa.String(64))
    form_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    form_version: Mapped[int]
    household_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("household.id"))
    person_id: Mapped[str | None] = mapped_column(UUID, index=True)
    village_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"))
    user_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"), index=True)
    device_id: Mapped[str] = mapped_column(sa.String(64), default="")
    kind: Mapped[str] = mapped_column(sa.String(32), default="")
    answers: Mapped[dict] = mapped_column(sa.JSON)
    register_change: Mapped[dict | None] = mapped_column(sa.JSON)
    visited_at: Mapped[datetime]
    visited_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    household: Mapped[Household] = relationship()
