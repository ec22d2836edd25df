"""Check-up day pages. Views read the request, call queries/service, render."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db
from ..merging import local_today
from ..models import Area, Person
from ..scope import get_in_scope
from . import bp, queries, service
from .labels import DAY_STATUS_LABELS, DEFAULT_BRING, KIND_LABELS, SERVICE_LABELS, WEEKDAYS
from .models import Invitation
from .schemas import validate_day


@bp.app_context_processor
def checkup_globals():
    return {"SERVICE_LABELS": SERVICE_LABELS, "KIND_LABELS": KIND_LABELS, "DAY_STATUS_LABELS": DAY_STATUS_LABELS,
            "WEEKDAYS": WEEKDAYS}


def _planner(day=None):
    if not queries.may_plan(current_user, day):
        abort(403)


@bp.route("/")
@login_required
def index():
    upcoming, past = queries.upcoming_and_past(current_user, local_today())
    return render_template("checkups/index.html", upcoming=upcoming, past=past,
                           can_plan=queries.may_plan(current_user))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    _planner()
    towns = queries.towns_to_plan(current_user)
    if not towns:
        abort(404)
    town = next((t for t in towns if t.id == request.values.get("town_id")), towns[0])
    values = {"services": [], "areas": [], "bring": str(DEFAULT_BRING), "start_time": "08:00",
              "end_time": "12:00"}
    return _day_form(None, town, towns, values)


@bp.route("/<day_id>/edit", methods=["GET", "POST"])
@login_required
def edit(day_id):
    day = queries.get_day(day_id, current_user)
    _planner(day)
    values = {"date": day.date.isoformat(), "start_time": day.start_time.strftime("%H:%M"),
              "end_time": day.end_time.strftime("%H:%M"), "station": day.station, "services": list(day.services),
              "bring": day.bring, "areas": [a.id for a in day.areas]}
    return _day_form(day, day.town, [day.town], values)


def _day_form(day, town, towns, values):
    errors = {}
    areas = queries.areas_of_town(town, current_user)
    if request.method == "POST":
        values = request.form.to_dict()
        values["services"] = request.form.getlist("services")
        values["areas"] = request.form.getlist("areas")
        if day is not None:
            values["date"] = day.date.isoformat()  # a new date is a reschedule
        allowed = {v.id for v, _groups in areas} | {g.id for _v, groups in areas for g in groups}
        clean, errors = validate_day(values, allowed_areas=allowed, today=local_today(), new=day is None)
        if not errors:
            chosen = [db.session.get(Area, area_id) for area_id in clean["areas"]]
            fields = dict(start=clean["start_time"], end=clean["end_time"], station=clean["station"],
                          services=clean["services"], bring=clean.get("bring", ""), areas=chosen,
                          user=current_user)
            if day is None:
                day = service.create_day(town=town, day_date=clean["date"], **fields)
            else:
                service.update_day(day, **fields)
            db.session.commit()
            flash(_("Saved. %(count)d people are invited.", count=sum(1 for i in day.invitations if i.active)),
                  "success")
            return redirect(url_for("checkups.day", day_id=day.id))
    return render_template("checkups/day_form.html", day=day, town=town, towns=towns, areas=areas,
                           values=values, errors=errors), (422 if errors else 200)


@bp.route("/<day_id>")
@login_required
def day(day_id):
    from ..notices import queries as notice_queries

    day = queries.get_day(day_id, current_user)
    return render_template("checkups/day.html", day=day, counts=queries.village_counts(day, current_user),
                           lists=notice_queries.lists_by_village(day),
                           can_plan=queries.may_plan(current_user, day), today=local_today())


@bp.route("/<day_id>/reschedule", methods=["POST"])
@login_required
def reschedule(day_id):
    day = queries.get_day(day_id, current_user)
    _planner(day)
    from datetime import date

    try:
        new_date = date.fromisoformat(request.form.get("date", ""))
    except ValueError:
        flash(_("Enter the new date like 2026-12-01. Nothing was changed."), "error")
        return redirect(url_for("checkups.day", day_id=day.id))
    if new_date < local_today():
        flash(_("The new date cannot be in the past. Nothing was changed."), "error")
        return redirect(url_for("checkups.day", day_id=day.id))
    service.reschedule(day, new_date, user=current_user)
    db.session.commit()
    flash(_("Moved to %(date)s. Notices for the old date are void; new ones go out in time.",
            date=new_date.isoformat()), "success")
    return redirect(url_for("checkups.day", day_id=day.id))


@bp.route("/<day_id>/cancel", methods=["POST"])
@login_required
def cancel(day_id):
    day = queries.get_day(day_id, current_user)
    _planner(day)
    service.cancel(day, user=current_user)
    db.session.commit()
    flash(_("The check-up day is cancelled."), "success")
    return redirect(url_for("checkups.day", day_id=day.id))


@bp.route("/<day_id>/refresh", methods=["POST"])
@login_required
def refresh(day_id):
    day = queries.get_day(day_id, current_user)
    _planner(day)
    made = service.refresh_invitations(day, user=current_user)
    db.session.commit()
    flash(_("%(count)d more people invited from the register.", count=len(made)), "success")
    return redirect(url_for("checkups.day", day_id=day.id))


@bp.route("/<day_id>/villages/<village_id>")
@login_required
def roster(day_id, village_id):
    day = queries.get_day(day_id, current_user)
    village = get_in_scope(Area, village_id, current_user)
    q = request.args.get("q", "")[:50]
    candidates = queries.people_to_add(day, village, q) if q and queries.may_plan(current_user, day) else []
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "candidates":
        return render_template("checkups/_candidates.html", day=day, village=village, candidates=candidates, q=q)
    return render_template("checkups/roster.html", day=day, village=village,
                           groups=queries.roster(day, village, current_user), candidates=candidates, q=q,
                           can_plan=queries.may_plan(current_user, day) and day.active)


@bp.route("/<day_id>/invite", methods=["POST"])
@login_required
def invite(day_id):
    day = queries.get_day(day_id, current_user)
    _planner(day)
    person = get_in_scope(Person, request.form.get("person_id", ""), current_user)
    inv = service.add_person(day, person, user=current_user)
    db.session.commit()
    if inv is not None:
        flash(_("%(name)s is invited.", name=person.name), "success")
    return redirect(url_for("checkups.roster", day_id=day.id, village_id=person.village_id))


@bp.route("/<day_id>/invitations/<invitation_id>/remove", methods=["POST"])
@login_required
def remove(day_id, invitation_id):
    day = queries.get_day(day_id, current_user)
    _planner(day)
    inv = get_in_scope(Invitation, invitation_id, current_user)
    if inv.day_id != day.id:
        abort(404)
    reason = request.form.get("reason", "").strip()[:200]
    if not reason:
        flash(_("Say why this person is no longer invited. Nothing was changed."), "error")
    else:
        service.remove_invitation(inv, reason, user=current_user)
        db.session.commit()
        flash(_("%(name)s is no longer invited.", name=inv.person.name), "success")
    return redirect(url_for("checkups.roster", day_id=day.id, village_id=inv.village_id))
