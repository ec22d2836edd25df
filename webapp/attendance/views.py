"""Attendance pages: the live day, who has not come, make-ups, history, the county, exports."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..checkups import queries as checkup_queries
from ..extensions import db
from ..merging import local_today, merge_records, server_now
from ..models import Area
from ..scope import get_in_scope, village_ids_for
from . import bp, charts, queries, service
from .labels import ABSENCE_LABELS, BASIS_CHOICES, BASIS_LABELS, STANDING_LABELS, band_label
from .models import BASES, DEFAULT_TARGETS, AttendanceTarget

FOLLOW_UP_ROLES = ("admin", "supervisor", "worker")  # who may see phones of people not yet come
PLANNERS = ("admin", "supervisor")


@bp.app_context_processor
def attendance_globals():
    return {"STANDING_LABELS": STANDING_LABELS, "BASIS_LABELS": BASIS_LABELS, "band_label": band_label,
            "ATT_ABSENCE_LABELS": ABSENCE_LABELS}


def _role(*roles):
    if current_user.role not in roles:
        abort(403)


def _town(town_id: str) -> Area:
    """A town the user supervises (county users: every town of the county); else 404."""
    town = get_in_scope(Area, town_id, current_user)
    if town.kind != "town" or current_user.role not in PLANNERS:
        abort(404)
    return town


def _live_context(day):
    live = queries.live(day, current_user)
    times = queries.arrival_times(day, [v.id for v in live["villages"]])
    return {"day": day, "live": live, "chart": charts.bars(queries.histogram(times, day.start_time, day.end_time)),
            "arrived": len(times), "can_follow_up": current_user.role in FOLLOW_UP_ROLES,
            "can_plan": checkup_queries.may_plan(current_user, day), "today": local_today(),
            "now_local": datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y-%m-%d %H:%M:%S")}


@bp.route("/")
@login_required
def index():
    upcoming, past = checkup_queries.upcoming_and_past(current_user, local_today())
    towns = queries.county_towns(current_user) if current_user.role in PLANNERS else []
    return render_template("attendance/index.html", upcoming=upcoming[:5], past=past[:20], towns=towns,
                           today=local_today())


@bp.route("/days/<day_id>")
@login_required
def day(day_id):
    day = checkup_queries.get_day(day_id, current_user)
    context = _live_context(day)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "live":
        return render_template("attendance/_live.html", **context)
    return render_template("attendance/day.html", **context)


@bp.route("/days/<day_id>/villages/<village_id>")
@login_required
def not_arrived(day_id, village_id):
    day = checkup_queries.get_day(day_id, current_user)
    village = get_in_scope(Area, village_id, current_user)
    _role(*FOLLOW_UP_ROLES)
    if village.id not in checkup_queries.day_villages(day):
        abort(404)
    groups = queries.not_arrived(day, village, local_today())
    return render_template("attendance/not_arrived.html", day=day, village=village, groups=groups,
                           count=sum(len(rows) for _g, rows in groups))


@bp.route("/days/<day_id>/makeup", methods=["GET", "POST"])
@login_required
def makeup(day_id):
    day = checkup_queries.get_day(day_id, current_user)
    _role(*FOLLOW_UP_ROLES)
    if request.method == "POST":  # without JavaScript; with it, the outbox sends the same record
        return _record_certificate(day)
    villages = [v.id for v in queries.visible_day_villages(day, current_user)]
    today = local_today()
    return render_template("attendance/makeup.html", day=day, rows=queries.makeup_rows(day, villages, today),
                           today=today, can_plan=checkup_queries.may_plan(current_user, day))


def _record_certificate(day):
    data = {"day_id": day.id, "person_id": request.form.get("person_id", ""), "reason": "away",
            "certificate_on": request.form.get("certificate_on", ""),
            "certificate_place": request.form.get("certificate_place", "")}
    record = {"id": str(uuid.uuid4()), "type": "absence", "entity_id": str(uuid.uuid4()), "base_version": None,
              "client_time": server_now().isoformat(), "data": data}
    [result] = merge_records(current_user._get_current_object(), f"session-{current_user.id}", [record])
    if result["status"] == "rejected":
        flash(" ".join(m for ms in result["errors"].values() for m in ms) + " " + _("Nothing was saved."), "error")
    else:
        flash(_("Certificate recorded."), "success")
    return redirect(url_for("attendance.makeup", day_id=day.id))


@bp.route("/days/<day_id>/deadline", methods=["POST"])
@login_required
def deadline(day_id):
    day = checkup_queries.get_day(day_id, current_user)
    if not checkup_queries.may_plan(current_user, day):
        abort(403)
    value, error = service.parse_deadline(request.form.get("makeup_until", ""), day)
    if error:
        flash(error, "error")
    else:
        service.set_deadline(day, value, user=current_user)
        db.session.commit()
        flash(_("Make-ups are now counted until %(date)s.", date=value.isoformat()), "success")
    return redirect(url_for("attendance.makeup", day_id=day.id))


@bp.route("/days/<day_id>/report")
@login_required
def report(day_id):
    day = checkup_queries.get_day(day_id, current_user)
    _role(*PLANNERS)
    context = _live_context(day)
    villages = [v.id for v in context["live"]["villages"]]
    context["makeup"] = [r for r in queries.makeup_rows(day, villages, local_today())
                         if r["standing"] in queries.FOLLOW_UP]
    service.audit_export("report", "print", day, len(context["makeup"]), user=current_user)
    db.session.commit()
    return render_template("attendance/report.html", **context)


@bp.route("/days/<day_id>/export")
@login_required
def export(day_id):
    day = checkup_queries.get_day(day_id, current_user)
    _role(*PLANNERS)
    what, fmt = request.args.get("what", "villages"), request.args.get("format", "xlsx")
    if what not in service.EXPORTS or fmt not in ("xlsx", "csv"):
        abort(404)
    live = queries.live(day, current_user)
    villages = [v.id for v in live["villages"]]
    today = local_today()
    people = (queries.people_rows(day, villages, today) if what == "roster"
              else queries.makeup_rows(day, villages, today) if what == "makeup" else [])
    header, rows = service.table(what, day, live, people)
    service.audit_export(what, fmt, day, len(rows), user=current_user)
    db.session.commit()
    name = f"attendance-{day.date.isoformat()}-{what}.{fmt}"
    if fmt == "csv":
        body, mimetype = service.to_csv(header, rows), "text/csv; charset=utf-8"
    else:
        body = service.to_xlsx(what, header, rows)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                       "Cache-Control": "no-store"})


@bp.route("/towns/<town_id>/history")
@login_required
def history(town_id):
    town = _town(town_id)
    today = local_today()
    since = _since(request.args.get("since"), today - timedelta(days=730))
    data = queries.history(town, current_user, today, since)
    for s in data["series"]:
        s["chart"] = charts.line([r.same_day for _d, r in s["points"]], data["targets"])
    return render_template("attendance/history.html", town=town, data=data, since=since)


@bp.route("/towns/<town_id>/targets", methods=["GET", "POST"])
@login_required
def targets(town_id):
    town = _town(town_id)
    row = db.session.get(AttendanceTarget, town.id)
    values = {"floor": row.floor, "aim": row.aim, "high": row.high, "basis": row.basis} if row else \
        dict(zip(("floor", "aim", "high"), DEFAULT_TARGETS, strict=True), basis="invited")
    errors = {}
    if request.method == "POST":
        values = request.form.to_dict()
        clean, errors = service.parse_targets(values)
        if not errors:
            service.save_targets(town, clean, user=current_user)
            db.session.commit()
            flash(_("Targets saved."), "success")
            return redirect(url_for("attendance.history", town_id=town.id))
    return render_template("attendance/targets.html", town=town, values=values, errors=errors, bases=BASES,
                           basis_choices=BASIS_CHOICES), (422 if errors else 200)


@bp.route("/county")
@login_required
def county():
    _role(*PLANNERS)
    today = local_today()
    since = _since(request.args.get("since"), today - timedelta(days=92))
    until = _since(request.args.get("until"), today)
    return render_template("attendance/county.html", data=queries.county(current_user, since, until),
                           scope_all=village_ids_for(current_user) is None)


def _since(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        flash(_("Dates are written like 2026-12-01; showing the default period."), "error")
        return default
