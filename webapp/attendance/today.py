"""Make-ups on the worker's "today" screen: per past day and village, people still to be seen."""
from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _

from ..labels import local_date
from ..visits.today import TodayItem, TodaySection
from .queries import arriving_today, open_makeups


def makeup_section(user, villages, today):
    if user.role not in ("worker", "supervisor", "admin"):
        return []
    sections = []
    waiting = [TodayItem(text=f"{row['village'].name} · {row['day'].station}",
                         url=url_for("attendance.not_arrived", day_id=row["day"].id, village_id=row["village"].id),
                         detail=_("%(n)d invited have not come yet", n=row["left"]))
               for row in arriving_today(villages, today)]
    if waiting:
        sections.append(TodaySection("checkup_today", _("Check-up day today: not come yet"), waiting))
    items = []
    for row in open_makeups(villages, today):
        day = row["day"]
        deadline = day.makeup_until or day.date
        detail = _("%(n)d still to be seen by %(date)s", n=row["left"], date=deadline.isoformat())
        if row["overdue"]:
            detail = _("%(n)d overdue: the make-up deadline %(date)s has passed", n=row["left"],
                       date=deadline.isoformat())
        items.append(TodayItem(text=f"{row['village'].name} · {local_date(day.date)}",
                               url=url_for("attendance.makeup", day_id=day.id), detail=detail, due=deadline))
    return sections + [TodaySection("makeup", _("Make-ups to follow up"), items, _("Nobody missed a check-up day."))]
