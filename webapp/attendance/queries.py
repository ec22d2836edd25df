"""Reading attendance for the supervisor's views, the worker's lists and the exports.

Counts are made by one grouped SQL query (``counts_by_day_village``) that must agree with
the plain ``rates.tally`` over the same people (tests run both on SQLite and PostgreSQL).
Every selection is limited to the user's villages (``webapp/scope.py``); a day or town the
user does not see answers 404 before any of this runs.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from ..checkups.models import CheckupDay, Invitation, checkup_day_area
from ..checkups.queries import day_villages
from ..desk.models import Attendance
from ..extensions import db
from ..models import Area, Household, Person, User
from ..scope import village_ids_for
from . import rates
from .models import DEFAULT_TARGETS, AttendanceTarget


def _join_attendance():
    return sa.and_(Attendance.day_id == Invitation.day_id, Attendance.person_key == Invitation.person_id)


def _standing():
    """SQL twin of ``rates.standing`` (the open/overdue split is the caller's): one CASE per row,
    its branches in the same order, so a row lands in exactly one standing."""
    deadline = sa.func.coalesce(CheckupDay.makeup_until, CheckupDay.date)
    signed, cert = Attendance.signed_in_on, Attendance.certificate_on
    return sa.case((signed <= CheckupDay.date, "on_day"),
                   (signed <= deadline, "makeup"),
                   (cert <= deadline, "certificate"),
                   (Attendance.absence_reason == "declined", "declined"),
                   (Attendance.absence_reason == "moved", "moved"),
                   else_="open")


def counts_statement(day_ids: list[str], villages: frozenset[str] | None) -> sa.Select:
    """Per (day, village, invitation kind, standing): how many active invitations.

    Grouping by one CASE (rather than summing a CASE per standing) keeps the per-row work small:
    the county view counts 60,000 invitations in one pass."""
    standing = _standing().label("standing")
    stmt = (sa.select(Invitation.day_id, Invitation.village_id, Invitation.kind, standing, sa.func.count())
            .join(CheckupDay, CheckupDay.id == Invitation.day_id)
            # The day filter on both sides lets the planner read only these days' attendance (years of
            # history stay unread) instead of hashing the whole table.
            .outerjoin(Attendance, sa.and_(_join_attendance(), Attendance.day_id.in_(day_ids)))
            .where(Invitation.day_id.in_(day_ids), Invitation.active.is_(True))
            .group_by(Invitation.day_id, Invitation.village_id, Invitation.kind, standing))
    if villages is not None:
        stmt = stmt.where(Invitation.village_id.in_(villages))
    return stmt


def _villages_of_days(day_ids: list[str]) -> set[str]:
    rows = db.session.execute(sa.select(Area.id, Area.kind, Area.parent_id)
                              .join(checkup_day_area, checkup_day_area.c.area_id == Area.id)
                              .where(checkup_day_area.c.day_id.in_(day_ids)))
    return {parent if kind == "group" else area_id for area_id, kind, parent in rows}


def counts_by_day_village(day_ids: list[str], villages: frozenset[str] | None) -> dict[tuple[str, str], rates.Counts]:
    """{(day id, village id): Counts} over active invitations, in one query (plus one for walk-ins).

    When the user sees every village the days cover (a town's supervisor, a county user), the
    village filter is dropped: it removes nothing, and without it PostgreSQL reads the covering
    indexes alone."""
    if not day_ids:
        return {}
    if villages is not None and _villages_of_days(day_ids) <= villages:
        villages = None
    out: dict[tuple[str, str], rates.Counts] = {}
    for day_id, village_id, kind, standing, n in db.session.execute(counts_statement(day_ids, villages)):
        c = out.setdefault((day_id, village_id), rates.Counts())
        c.invited += n
        if standing != "open":
            setattr(c, standing, getattr(c, standing) + n)
        if kind == "certificate":
            c.away += n
            c.away_absent += n if standing != "on_day" else 0
    walk_ins = (sa.select(Attendance.day_id, Attendance.village_id, sa.func.count())
                .join(CheckupDay, CheckupDay.id == Attendance.day_id)
                .where(Attendance.day_id.in_(day_ids), Attendance.walk_in.is_(True),
                       Attendance.signed_in_on <= CheckupDay.date)
                .group_by(Attendance.day_id, Attendance.village_id))
    if villages is not None:
        walk_ins = walk_ins.where(Attendance.village_id.in_(villages))
    for day_id, village_id, n in db.session.execute(walk_ins):
        out.setdefault((day_id, village_id), rates.Counts()).walk_ins = n
    return out


def targets_for(town_ids) -> dict[str, tuple[tuple[int, int, int], str]]:
    """{town id: ((floor, aim, high), basis)}; towns without settings get the defaults."""
    rows = {t.town_id: t for t in db.session.scalars(
        sa.select(AttendanceTarget).where(AttendanceTarget.town_id.in_(list(town_ids))))}
    return {town_id: ((rows[town_id].floor, rows[town_id].aim, rows[town_id].high), rows[town_id].basis)
            if town_id in rows else (DEFAULT_TARGETS, "invited") for town_id in town_ids}


def _villages(ids) -> dict[str, Area]:
    return {a.id: a for a in db.session.scalars(sa.select(Area).where(Area.id.in_(list(ids))))} if ids else {}


def visible_day_villages(day: CheckupDay, user: User) -> list[Area]:
    scope = village_ids_for(user)
    ids = {v for v in day_villages(day) if scope is None or v in scope}
    return sorted(_villages(ids).values(), key=lambda a: a.code)


def live(day: CheckupDay, user: User) -> dict:
    """The day's per-village rows and town total, as the supervisor's live view shows them."""
    villages = visible_day_villages(day, user)
    counts = counts_by_day_village([day.id], frozenset(v.id for v in villages))
    targets, basis = targets_for([day.town_id])[day.town_id]
    rows = [{"village": v, "rates": rates.rates(counts.get((day.id, v.id), rates.Counts()), targets, basis)}
            for v in villages]
    total = sum((r["rates"].counts for r in rows), rates.Counts())
    return {"rows": rows, "total": rates.rates(total, targets, basis), "targets": targets, "basis": basis,
            "villages": villages}


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))


def arrival_times(day: CheckupDay, village_ids) -> list[datetime]:
    """Local times of the day's counted sign-ins made on the day (walk-ins included)."""
    rows = db.session.scalars(sa.select(Attendance.signed_in_at).where(
        Attendance.day_id == day.id, Attendance.village_id.in_(list(village_ids)),
        Attendance.signed_in_on == day.date, Attendance.signed_in_at.is_not(None)))
    zone = _zone()
    return [at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone) for at in rows]


def histogram(times: list[datetime], start, end, minutes: int = 30) -> list[dict]:
    """Arrivals per ``minutes`` from the day's start to its end (earlier and later ones in the
    first and last bin, so every sign-in is in a bar)."""
    base = datetime.combine(date(2000, 1, 1), start)
    span = max(int((datetime.combine(base.date(), end) - base).total_seconds() // 60), minutes)
    n = -(-span // minutes)
    bins = [0] * n
    for at in times:
        offset = (datetime.combine(base.date(), at.time()) - base).total_seconds() // 60
        bins[min(max(int(offset // minutes), 0), n - 1)] += 1
    return [{"label": (base + timedelta(minutes=i * minutes)).strftime("%H:%M"), "count": c} for i, c in enumerate(bins)]


def people_rows(day: CheckupDay, village_ids, today: date) -> list[dict]:
    """Every active invitation of the day in these villages with its person, group and standing."""
    group = sa.orm.aliased(Area)
    village = sa.orm.aliased(Area)
    stmt = (sa.select(Invitation, Person, Household.address, group.name, village.name, Attendance)
            .join(Person, Person.id == Invitation.person_id)
            .join(Household, Household.id == Person.household_id)
            .join(group, group.id == Invitation.group_id)
            .join(village, village.id == Invitation.village_id)
            .outerjoin(Attendance, _join_attendance())
            .where(Invitation.day_id == day.id, Invitation.active.is_(True),
                   Invitation.village_id.in_(list(village_ids)))
            .order_by(village.code, group.code, Person.name_pinyin))
    out = []
    for inv, person, address, group_name, village_name, att in db.session.execute(stmt):
        state = rates.standing(day=day.date, makeup_until=day.makeup_until, today=today,
                               signed_in_on=att.signed_in_on if att else None,
                               certificate_on=att.certificate_on if att else None,
                               absence_reason=att.absence_reason if att else "")
        out.append({"invitation": inv, "person": person, "address": address, "group": group_name,
                    "village": village_name, "attendance": att, "standing": state})
    return out


def not_arrived(day: CheckupDay, village: Area, today: date) -> list[tuple[str, list[dict]]]:
    """Who has not signed in on the day yet, by group: [(group name, rows)]."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in people_rows(day, [village.id], today):
        if row["standing"] != "on_day":
            groups[row["group"]].append(row)
    return list(groups.items())


FOLLOW_UP = frozenset({"open", "overdue"})


def makeup_rows(day: CheckupDay, village_ids, today: date) -> list[dict]:
    """Everyone who missed the day: still to be seen (open, overdue) first, then the settled."""
    order = {"overdue": 0, "open": 1, "makeup": 2, "certificate": 3, "declined": 4, "moved": 5}
    rows = [r for r in people_rows(day, village_ids, today) if r["standing"] != "on_day"]
    return sorted(rows, key=lambda r: order[r["standing"]])


# -- history and the county -------------------------------------------------------------------

def past_days(town_ids, today: date, since: date | None = None) -> list[CheckupDay]:
    stmt = (sa.select(CheckupDay).where(CheckupDay.town_id.in_(list(town_ids)), CheckupDay.status == "scheduled",
                                        CheckupDay.date <= today).order_by(CheckupDay.date))
    if since is not None:
        stmt = stmt.where(CheckupDay.date >= since)
    return list(db.session.scalars(stmt))


def history(town: Area, user: User, today: date, since: date | None = None) -> dict:
    """Per village of the town: its rate on each past day it was invited to, and a ranking."""
    scope = village_ids_for(user)
    days = past_days([town.id], today, since)
    counts = counts_by_day_village([d.id for d in days], scope)
    targets, basis = targets_for([town.id])[town.id]
    villages = sorted((a for a in _villages({v for _d, v in counts}).values()), key=lambda a: a.code)
    series = []
    for v in villages:
        points = [(d, rates.rates(counts[(d.id, v.id)], targets, basis)) for d in days if (d.id, v.id) in counts]
        overall = rates.rates(sum((r.counts for _d, r in points), rates.Counts()), targets, basis)
        series.append({"village": v, "points": points, "overall": overall})
    ranked = rates.ranking([(s["village"].id, s["overall"].same_day) for s in series])
    by_id = {s["village"].id: s for s in series}
    return {"days": days, "series": series, "targets": targets, "basis": basis,
            "ranking": [(rank, by_id[vid]) for rank, vid, _rate in ranked]}


def county_towns(user: User) -> list[Area]:
    """Towns whose villages the user sees (a county user: every town of the county)."""
    scope = village_ids_for(user)
    stmt = sa.select(Area).where(Area.kind == "town").order_by(Area.code)
    if scope is not None:
        stmt = stmt.where(Area.id.in_(sa.select(Area.parent_id).where(Area.id.in_(scope))))
    return list(db.session.scalars(stmt))


def county(user: User, since: date, until: date) -> dict:
    """Per town: its days in [since, until] summed, with rates against the town's own targets."""
    towns = county_towns(user)
    scope = village_ids_for(user)
    days = [d for d in past_days([t.id for t in towns], until, since)]
    counts = counts_by_day_village([d.id for d in days], scope)
    town_of = {d.id: d.town_id for d in days}
    per_town: dict[str, rates.Counts] = defaultdict(rates.Counts)
    villages_of: dict[str, set[str]] = defaultdict(set)
    for (day_id, village_id), c in counts.items():
        per_town[town_of[day_id]] += c
        villages_of[town_of[day_id]].add(village_id)
    settings = targets_for([t.id for t in towns])
    # Villages of each town at or above the floor on their own (every village ≥ 80 % is the goal).
    village_rates: dict[str, list] = defaultdict(list)
    per_village: dict[tuple[str, str], rates.Counts] = defaultdict(rates.Counts)
    for (day_id, village_id), c in counts.items():
        per_village[(town_of[day_id], village_id)] += c
    for (town_id, _village), c in per_village.items():
        targets, basis = settings[town_id]
        village_rates[town_id].append(rates.rates(c, targets, basis))
    rows = []
    for t in towns:
        targets, basis = settings[t.id]
        r = rates.rates(per_town[t.id], targets, basis)
        vr = village_rates[t.id]
        rows.append({"town": t, "rates": r, "days": sum(1 for d in days if d.town_id == t.id),
                     "villages": len(vr), "villages_at_floor": sum(1 for x in vr if x.band in ("floor", "aim", "high"))})
    ranked = rates.ranking([(row["town"].id, row["rates"].same_day) for row in rows])
    by_id = {row["town"].id: row for row in rows}
    return {"rows": [(rank, by_id[tid]) for rank, tid, _r in ranked], "since": since, "until": until}


def open_makeups(villages: frozenset[str] | None, today: date, horizon_days: int = 60) -> list[dict]:
    """Per (day, village) with people still to be seen: the worker's today screen (two queries)."""
    stmt = (sa.select(CheckupDay).where(CheckupDay.status == "scheduled", CheckupDay.date < today,
                                        sa.func.coalesce(CheckupDay.makeup_until, CheckupDay.date)
                                        >= today - timedelta(days=horizon_days)))
    days = {d.id: d for d in db.session.scalars(stmt)}
    counts = counts_by_day_village(list(days), villages)
    names = _villages({v for _d, v in counts})
    out = []
    for (day_id, village_id), c in counts.items():
        left = c.invited - c.seen - c.declined - c.moved
        if left > 0 and village_id in names:
            out.append({"day": days[day_id], "village": names[village_id], "left": left,
                        "overdue": (days[day_id].makeup_until or days[day_id].date) < today})
    return sorted(out, key=lambda r: (r["day"].makeup_until or r["day"].date, r["village"].code))



def arriving_today(villages: frozenset[str] | None, today: date) -> list[dict]:
    """Today's check-up days: per village, how many invited have not signed in yet."""
    days = {d.id: d for d in db.session.scalars(sa.select(CheckupDay).where(
        CheckupDay.status == "scheduled", CheckupDay.date == today))}
    counts = counts_by_day_village(list(days), villages)
    names = _villages({v for _d, v in counts})
    out = [{"day": days[d], "village": names[v], "left": c.invited - c.on_day}
           for (d, v), c in counts.items() if v in names and c.invited > c.on_day]
    return sorted(out, key=lambda r: r["village"].code)
