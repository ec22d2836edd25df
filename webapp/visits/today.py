"""The worker's "today" screen: what to do today, gathered from every feature.

Extension point: a feature adds a section with ``register_today_provider(app, provider)``
from its own ``init_app``. ``provider(user, villages, today)`` is called on every render of
/today with the signed-in user, their village ids (None = every village, an admin) and the
local date, and returns a list of ``TodaySection`` (possibly empty). Items keep their order;
sections appear in registration order (the notices register before the visits). Providers must only read,
go through webapp/scope.py for what they select, and stay fast (one or two queries): the
page is fetched ahead for offline use on every sync. The notices feature plugs "notice
slips to deliver by …" in here (items with ``due`` set to the delivery deadline).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l


@dataclass
class TodayItem:
    text: str
    url: str | None = None
    detail: str = ""
    due: date | None = None  # a deadline, shown and sorted by (e.g. a notice's delivery date)


@dataclass
class TodaySection:
    key: str  # a stable id for tests and anchors: "follow_up", "stale", "notices" …
    title: str
    items: list[TodayItem] = field(default_factory=list)
    empty_text: str = ""
    more: int = 0  # items left out of a long list


Provider = Callable[[object, "frozenset[str] | None", date], list[TodaySection]]


def register_today_provider(app, provider: Provider) -> None:
    app.extensions.setdefault("doorstep_today_providers", []).append(provider)


def sections_for(user, villages, today: date) -> list[TodaySection]:
    sections: list[TodaySection] = []
    for provider in current_app.extensions.get("doorstep_today_providers", []):
        sections.extend(provider(user, villages, today))
    return sections


# -- the visits feature's own sections --------------------------------------------------------

def follow_up_section(user, villages, today):
    from . import queries

    items = []
    for row in queries.follow_ups(user, today):
        items.append(TodayItem(text=row["text"], url=row["url"], detail=row["detail"], due=row["due"]))
    return [TodaySection("follow_up", str(_l("People and households to follow up")), items,
                         str(_l("Nobody to follow up today.")))]


def stale_section(user, villages, today):
    from . import queries

    days = current_app.config.get("VISIT_STALE_DAYS", 90)
    rows, total = queries.stale_households(user, today, days)
    items = [TodayItem(text=h.address, url=url_for("visits.visit", household_id=h.id),
                       detail=str(_l("Last visit %(day)s", day=last.isoformat())) if last else str(_l("Never visited")))
             for h, last in rows]
    return [TodaySection("stale", str(_l("Not visited for %(days)s days", days=days)), items,
                         str(_l("Every household was visited in the last %(days)s days.", days=days)),
                         more=max(0, total - len(items)))]


def builtin_providers() -> list[Provider]:
    return [follow_up_section, stale_section]
