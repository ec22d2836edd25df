"""Read-only queries for notice lists and deliveries, limited to the user's villages."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import selectinload

from ..checkups.models import CheckupDay, Invitation
from ..extensions import db
from ..models import Area, Person, User
from ..scope import village_ids_for
from .models import NoticeList, NoticeMessage
from .service import deliver_by


def lists_by_village(day: CheckupDay) -> dict[str, NoticeList]:
    """The current (not void) list of each village for the day's date."""
    rows = db.session.scalars(sa.select(NoticeList).where(
        NoticeList.day_id == day.id, NoticeList.for_date == day.date, NoticeList.void.is_(False)))
    return {row.village_id: row for row in rows}


def get_list(list_id: str, user: User) -> NoticeList:
    notice_list = db.session.get(NoticeList, list_id)
    villages = village_ids_for(user)
    if notice_list is None or (villages is not None and notice_list.village_id not in villages):
        abort(404)
    return notice_list


def worker_lists(user: User, today) -> list[dict]:
    """Current lists in the user's villages for days not yet passed, with delivery counts."""
    villages = village_ids_for(user)
    stmt = (sa.select(NoticeList).join(CheckupDay, CheckupDay.id == NoticeList.day_id)
            .where(NoticeList.void.is_(False), CheckupDay.date >= today, CheckupDay.status == "scheduled",
                   NoticeList.for_date == CheckupDay.date)
            .order_by(CheckupDay.date, NoticeList.village_id))
    if villages is not None:
        stmt = stmt.where(NoticeList.village_id.in_(villages))
    lists = list(db.session.scalars(stmt))
    counts = slip_counts([nl.id for nl in lists])
    return [{"list": nl, "deliver_by": deliver_by(nl.for_date), **counts.get(nl.id, _zero())} for nl in lists]


def _zero() -> dict:
    return {"total": 0, "in_time": 0, "late": 0, "open": 0}


def slip_counts(list_ids: list[str]) -> dict[str, dict]:
    """Per list: slips total, delivered in time (≥ lead days ahead), delivered late, not yet."""
    if not list_ids:
        return {}
    rows = db.session.execute(
        sa.select(NoticeMessage.list_id, NoticeMessage.status, NoticeMessage.delivered_on, NoticeList.for_date)
        .join(NoticeList, NoticeList.id == NoticeMessage.list_id)
        .where(NoticeMessage.list_id.in_(list_ids), NoticeMessage.channel == "slip",
               NoticeMessage.status != "void"))
    out: dict[str, dict] = defaultdict(_zero)
    for list_id, status, delivered_on, for_date in rows:
        counts = out[list_id]
        counts["total"] += 1
        if status != "delivered":
            counts["open"] += 1
        elif delivered_on <= deliver_by(for_date):
            counts["in_time"] += 1
        else:
            counts["late"] += 1
    return out


def list_rows(notice_list: NoticeList) -> list[tuple[Area, list[dict]]]:
    """The list's people by group: invitation, person, slip message, SMS message."""
    rows = db.session.execute(
        sa.select(Invitation, Person).join(Person, Person.id == Invitation.person_id)
        .where(Invitation.day_id == notice_list.day_id, Invitation.village_id == notice_list.village_id,
               Invitation.active.is_(True))
        .options(selectinload(Person.household))  # the page shows each person's address
        .order_by(Invitation.group_id, Person.name_pinyin)).all()
    messages = defaultdict(dict)
    for message in db.session.scalars(sa.select(NoticeMessage).where(
            NoticeMessage.list_id == notice_list.id, NoticeMessage.invitation_id.is_not(None))):
        messages[message.invitation_id][message.channel] = message
    groups: dict[str, list[dict]] = defaultdict(list)
    for inv, person in rows:
        groups[inv.group_id].append({"invitation": inv, "person": person, "slip": messages[inv.id].get("slip"),
                                     "sms": messages[inv.id].get("sms")})
    areas = {a.id: a for a in db.session.scalars(sa.select(Area).where(Area.id.in_(list(groups))))}
    return sorted(((areas[g], items) for g, items in groups.items()), key=lambda pair: pair[0].code)


def delivery_overview(day: CheckupDay, user: User) -> list[dict]:
    """Per village the user sees: list status and slips delivered in time / late / not yet; SMS."""
    villages = village_ids_for(user)
    lists = {v: nl for v, nl in lists_by_village(day).items() if villages is None or v in villages}
    counts = slip_counts([nl.id for nl in lists.values()])
    sms = defaultdict(lambda: defaultdict(int))
    if lists:
        for list_id, status, n in db.session.execute(
                sa.select(NoticeMessage.list_id, NoticeMessage.status, sa.func.count())
                .where(NoticeMessage.list_id.in_([nl.id for nl in lists.values()]), NoticeMessage.channel == "sms")
                .group_by(NoticeMessage.list_id, NoticeMessage.status)):
            sms[list_id][status] = n
    areas = {a.id: a for a in db.session.scalars(sa.select(Area).where(Area.id.in_(list(lists))))}
    rows = [{"village": areas[v], "list": nl, **counts.get(nl.id, _zero()), "sms": dict(sms[nl.id])}
            for v, nl in lists.items()]
    return sorted(rows, key=lambda r: r["village"].code)
