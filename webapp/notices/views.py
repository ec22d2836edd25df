"""The worker's notice lists (offline-capable), slips as PDF, the supervisor's delivery view."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import audit
from ..checkups import queries as checkup_queries
from ..extensions import db
from ..merging import local_today, merge_records
from . import bp, queries
from .channels import list_invitations, slips_pdf
from .labels import CHANNEL_LABELS, HOW_LABELS, MESSAGE_STATUS_LABELS
from .models import NoticeMessage
from .service import deliver_by, naive_utc, utc_now
from .sync_rules import DELIVERY_HOW


@bp.app_context_processor
def notice_globals():
    return {"HOW_LABELS": HOW_LABELS, "CHANNEL_LABELS": CHANNEL_LABELS, "MESSAGE_STATUS_LABELS": MESSAGE_STATUS_LABELS}


@bp.route("/")
@login_required
def index():
    return render_template("notices/index.html", lists=queries.worker_lists(current_user, local_today()))


@bp.route("/<list_id>", methods=["GET", "POST"])
@login_required
def notice_list(list_id):
    notice_list = queries.get_list(list_id, current_user)
    if request.method == "POST":  # without JavaScript; with it, the outbox sends the same record
        return _record_delivery(notice_list)
    _mark_seen(notice_list)
    return render_template("notices/list.html", notice_list=notice_list, day=notice_list.day,
                           groups=queries.list_rows(notice_list), deliver_by=deliver_by(notice_list.for_date),
                           how_choices=DELIVERY_HOW, today=local_today(),
                           can_record=current_user.role in ("worker", "supervisor", "admin"))


def _record_delivery(notice_list):
    data = {name: request.form.get(name, "") for name in ("invitation_id", "how", "delivered_on")}
    record = {"id": str(uuid.uuid4()), "type": "notice_delivery", "entity_id": str(uuid.uuid4()),
              "base_version": None, "client_time": utc_now().isoformat(), "data": data}
    [result] = merge_records(current_user._get_current_object(), f"session-{current_user.id}", [record])
    if result["status"] == "rejected":
        flash(" ".join(m for ms in result["errors"].values() for m in ms), "error")
    else:
        flash(_("Saved"), "success")
    return redirect(url_for("notices.notice_list", list_id=notice_list.id))


def _mark_seen(notice_list) -> None:
    """The list reached the worker: their "app" message counts as delivered."""
    if current_user.role != "worker":
        return
    changed = db.session.execute(
        sa.update(NoticeMessage).where(NoticeMessage.list_id == notice_list.id, NoticeMessage.channel == "app",
                                       NoticeMessage.recipient_user_id == current_user.id,
                                       NoticeMessage.status == "sent")
        .values(status="delivered", delivered_on=local_today())).rowcount
    if changed:
        db.session.commit()


@bp.route("/<list_id>/slips.pdf")
@login_required
def slips(list_id):
    notice_list = queries.get_list(list_id, current_user)
    if current_user.role not in ("worker", "supervisor", "admin"):
        abort(403)
    invitations = list_invitations(notice_list)
    if not invitations:
        abort(404)
    pdf = slips_pdf(notice_list.day, invitations)
    audit.record("export", "notice_slips", notice_list.id, None,
                 {"slips": len(invitations), "at": naive_utc(utc_now()).isoformat()}, user=current_user)
    db.session.commit()
    name = f"slips-{notice_list.for_date.isoformat()}-{notice_list.village.code}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


@bp.route("/days/<day_id>")
@login_required
def deliveries(day_id):
    day = checkup_queries.get_day(day_id, current_user)
    if current_user.role not in ("supervisor", "admin"):
        abort(403)
    return render_template("notices/deliveries.html", day=day, rows=queries.delivery_overview(day, current_user),
                           deliver_by=deliver_by(day.date), title=_("Notice deliveries"))
