"""What the service worker needs from the server: its versioned script and the pages to keep."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from flask import url_for

from ..extensions import db
from ..models import Area, Household, User
from ..register.queries import VILLAGE_KINDS
from ..register.sync_rules import WRITERS
from ..scope import scoped

# A worker's village may hold ~1,000 households; an admin sees the whole county. Past this
# many URLs the phone keeps only what the worker opens.
MAX_OFFLINE_URLS = 3000
VERSION_PLACEHOLDER = "__VERSION__"
SHELL_PLACEHOLDER = '["__SHELL__"]'


def static_version(static_folder: str) -> str:
    """A short hash of every static file's path and bytes: a deploy that changes any of
    them changes the service worker script, so phones install the new shell."""
    digest = hashlib.sha256()
    root = Path(static_folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def shell_urls(static_folder: str) -> list[str]:
    """The app shell precached on install: styles, scripts, htmx, manifest, icons, /offline."""
    root = Path(static_folder)
    # Every vendor script (htmx; jsQR, the desk's QR decoder where there is no BarcodeDetector).
    files = ["css/app.css", "manifest.webmanifest"] + sorted(
        str(p.relative_to(root)) for p in (root / "vendor").glob("*.js"))
    files += sorted(str(p.relative_to(root)) for p in (root / "js").glob("*.js"))
    files += sorted(str(p.relative_to(root)) for p in (root / "icons").glob("*") if p.is_file())
    return [url_for("static", filename=f) for f in files] + [url_for("pwa.offline")]


def service_worker_source(static_folder: str, version: str) -> str:
    source = (Path(static_folder) / "sw.js").read_text(encoding="utf-8")
    return (source.replace(VERSION_PLACEHOLDER, version)
            .replace(SHELL_PLACEHOLDER, json.dumps(shell_urls(static_folder))))


def notice_urls(user: User) -> list[str]:
    """The worker's notice lists: handed over door to door, often with no signal."""
    if user.role not in ("worker", "supervisor", "admin"):
        return []
    from ..merging import local_today
    from ..notices.queries import worker_lists

    return [url_for("notices.index")] + [url_for("notices.notice_list", list_id=row["list"].id)
                                         for row in worker_lists(user, local_today())]


def desk_urls(user: User) -> list[str]:
    """The sign-in desk of days from today to a week ahead, with each day's roster and its
    events so far: a desk (or a worker recording absences) works through the day without
    signal, and a desk that never opened the day still shows who other desks signed in."""
    if user.role not in ("desk", "supervisor", "admin", "worker"):
        return []
    from ..desk.queries import days_for_desk
    from ..merging import local_today

    today = local_today()
    days = [d for d in days_for_desk(user, today) if 0 <= (d.date - today).days <= 7]
    return [url_for("desk.index")] + [url for d in days for url in (
        url_for("desk.desk", day_id=d.id), url_for("desk.roster", day_id=d.id), url_for("desk.events", day_id=d.id))]


def makeup_urls(user: User) -> list[str]:
    """Make-up lists of past days with people still to be seen: certificates are recorded in the field."""
    if user.role not in ("worker", "supervisor", "admin"):
        return []
    from ..attendance.queries import open_makeups
    from ..merging import local_today
    from ..scope import village_ids_for

    days = {row["day"].id for row in open_makeups(village_ids_for(user), local_today())}
    return [url_for("attendance.makeup", day_id=d) for d in sorted(days)]


def offline_urls(user: User, page_size: int) -> list[str]:
    """The register pages a worker should have on the phone: the index, the outbox, the
    frames for households made offline (register.household_unsynced), the notice lists, each
    village, each page of each group's household list, and each household page."""
    urls = [url_for("register.index"), url_for("visits.today"), url_for("pwa.outbox"),
            url_for("register.household_unsynced"), url_for("register.person_new_unsynced")] + notice_urls(user)
    if user.role in WRITERS:
        urls.append(url_for("visits.people_index"))  # Today's offline search
    urls += desk_urls(user)
    urls += makeup_urls(user)
    villages = db.session.scalars(
        scoped(sa.select(Area.id).where(Area.kind.in_(VILLAGE_KINDS)), Area, user).order_by(Area.code)
    ).all()
    urls += [url_for("register.village", village_id=v) for v in villages]
    group_sizes = db.session.execute(
        scoped(sa.select(Area.id, sa.func.count(Household.id)), Area, user)
        .outerjoin(Household, Household.group_id == Area.id)
        .where(Area.kind == "group", Area.parent_id.in_(villages))
        .group_by(Area.id, Area.code).order_by(Area.code)
    ).all()
    for group_id, count in group_sizes:
        urls.append(url_for("register.group", group_id=group_id))
        pages = max(1, -(-count // page_size))
        urls += [url_for("register.group", group_id=group_id, page=n) for n in range(2, pages + 1)]
    households = db.session.scalars(
        scoped(sa.select(Household.id), Household, user)
        .order_by(Household.village_id, Household.group_id, Household.number)
        .limit(MAX_OFFLINE_URLS)
    ).all()
    # Each household's page and its visit forms: a round of visits works without signal.
    for h in households:
        urls += [url_for("register.household", household_id=h), url_for("visits.visit", household_id=h)]
    return urls[:MAX_OFFLINE_URLS]
