"""Reading attendance: what the desk, the supervisor's live view and the exports ask for."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from ..extensions import db
from .models import Attendance


def attendance_by_person(day_id: str) -> dict[str, Attendance]:
    """Every attendance row of the day by person key (person id, or a walk-in's sign-in id)."""
    rows = db.session.scalars(sa.select(Attendance).where(Attendance.day_id == day_id))
    return {row.person_key: row for row in rows}


def signed_in_count(day_id: str, village_ids: Iterable[str] | None = None) -> int:
    """People signed in for the day (walk-ins included), optionally in some villages only."""
    stmt = sa.select(sa.func.count()).select_from(Attendance).where(
        Attendance.day_id == day_id, Attendance.signin_record_id.is_not(None))
    if village_ids is not None:
        stmt = stmt.where(Attendance.village_id.in_(list(village_ids)))
    return db.session.scalar(stmt) or 0
