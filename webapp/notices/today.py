"""The notices' section on the worker's "today" screen: slips still to hand over, by deadline."""
from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _

from ..labels import local_date
from ..visits.today import TodayItem, TodaySection
from .queries import worker_lists


def notices_section(user, villages, today):
    if user.role not in ("worker", "supervisor", "admin"):
        return []
    items = []
    for row in worker_lists(user, today):
        if not row["open"]:
            continue
        nl = row["list"]
        detail = _("%(open)d of %(total)d slips still to hand over", open=row["open"], total=row["total"])
        if row["deliver_by"] < today:
            detail += " · " + _("the three-day deadline has passed")
        items.append(TodayItem(text=f"{nl.village.name} · {local_date(nl.day.date)}",
                               url=url_for("notices.notice_list", list_id=nl.id), detail=detail,
                               due=row["deliver_by"]))
    return [TodaySection("notices", _("Notice slips to hand over"), items, _("No notice slip to hand over."))]
