"""Attendance for the demo town: two past check-up days whose sign-ins, make-ups and
certificates went through the merge like any desk's or worker's records (nothing written
around it), so the live view, history, make-up list and today screen have something to show."""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..checkups.models import Invitation
from ..checkups.service import create_day
from ..merging import merge_records
from ..models import Area, User

SHANGHAI = ZoneInfo("Asia/Shanghai")
TURNOUT = (1.0, 0.96, 0.9)  # of residents per village: about 90, 85 and 79 % of all invited


def _record(type_: str, data: dict, at: datetime) -> dict:
    return {"id": str(uuid.uuid4()), "type": type_, "entity_id": str(uuid.uuid4()), "base_version": None,
            "client_time": at.isoformat(), "data": data}


def _merge(user: User, records: list[dict]) -> None:
    for start in range(0, len(records), 500):
        merge_records(user, f"demo-{user.username}", records[start:start + 500])


def add_demo_attendance(session, town: Area, villages: list[Area], today: date, seed: int = 5) -> None:
    rng = random.Random(seed)
    users = {u.username: u for u in session.scalars(sa.select(User))}
    boss, desk = users.get("zhanzhang"), users.get("qiantai")
    if boss is None or desk is None or not villages:
        return
    workers = {a.id: u for u in users.values() if u.role == "worker" for a in u.areas}
    for days_ago in (111, 20):
        day = create_day(town=town, day_date=today - timedelta(days=days_ago), start=time(8, 0), end=time(11, 30),
                         station=f"{town.name}卫生院", services=["blood_pressure", "breast"], bring="",
                         areas=villages, user=boss)
        session.commit()
        invitations = list(session.scalars(sa.select(Invitation).where(Invitation.day_id == day.id)
                                           .order_by(Invitation.code)))
        turnout = {v.id: TURNOUT[i % len(TURNOUT)] + (0.02 if days_ago > 100 else 0) for i, v in enumerate(villages)}
        signins, certificates = [], {}
        for inv in invitations:
            roll = rng.random()
            if roll < turnout[inv.village_id] * (1 if inv.kind == "checkup" else 0.35):  # some away came home
                minutes = int(rng.triangular(0, 210, 40))
                at = datetime.combine(day.date, time(8, 0), SHANGHAI) + timedelta(minutes=minutes)
            elif inv.kind == "checkup" and roll < turnout[inv.village_id] + 0.1:
                later = min(day.date + timedelta(days=rng.randrange(2, 25)), today - timedelta(days=1))
                at = datetime.combine(later, time(9, 30), SHANGHAI)  # a make-up at the desk
            else:
                if inv.kind == "certificate" and rng.random() < 0.6:
                    received = min(day.date + timedelta(days=rng.randrange(3, 20)), today)
                    worker = workers.get(inv.village_id, boss)
                    certificates.setdefault(worker.id, (worker, []))[1].append(_record("absence", {
                        "day_id": day.id, "person_id": inv.person_id, "reason": "away",
                        "certificate_on": received.isoformat(), "certificate_place": "浙江省宁波市"},
                        datetime.combine(received, time(18, 0), SHANGHAI)))
                continue
            signins.append(_record("signin", {"day_id": day.id, "person_id": inv.person_id,
                                              "desk": rng.choice(["1号台", "2号台"])}, at))
        _merge(desk, signins)
        for worker, records in certificates.values():
            _merge(worker, records)
