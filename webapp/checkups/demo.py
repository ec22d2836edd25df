"""Check-up days for the demo town, so a newcomer sees notices and rosters at once.

One day *today* (the sign-in desk, /desk/, has something to show), one three days ahead whose
notice lists went out this morning (as the scheduler would have made them at 07:00), one a
fortnight ahead whose lists are not due yet, and two past days for three villages with their
attendance, make-ups and certificates (webapp/attendance/demo.py)."""
from __future__ import annotations

from datetime import date, time, timedelta

import sqlalchemy as sa

from ..models import Area, User
from ..notices.service import due_at, make_list, village_ids_of
from .service import create_day


def add_demo_days(session, today: date) -> None:
    town = session.scalar(sa.select(Area).where(Area.kind == "town").order_by(Area.code))
    boss = session.scalar(sa.select(User).where(User.role == "supervisor").order_by(User.username))
    if town is None or boss is None:
        return
    villages = [a for a in town.children if a.is_village]
    create_day(town=town, day_date=today, start=time(8, 0), end=time(17, 0), station=f"{town.name}卫生院",
               services=["blood_pressure", "breast"], bring="", areas=villages[6:8], user=boss)
    soon = create_day(town=town, day_date=today + timedelta(days=3), start=time(8, 0), end=time(11, 30),
                      station=f"{town.name}卫生院", services=["blood_pressure", "breast"], bring="",
                      areas=villages[:3], user=boss)
    create_day(town=town, day_date=today + timedelta(days=17), start=time(8, 0), end=time(11, 30),
               station=f"{town.name}卫生院", services=["womens_health", "blood_pressure"], bring="",
               areas=villages[3:6], user=boss)
    session.commit()
    for village_id in village_ids_of(soon):
        make_list(soon, village_id, due_at(soon.date))
    from ..attendance.demo import add_demo_attendance

    add_demo_attendance(session, town, villages[:3], today)
