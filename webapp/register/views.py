"""Register pages. Views only read the request, call queries/service and render."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..models import SEXES, STATUSES, Area, Household, Person
from ..scope import get_in_scope, may_write
from . import bp, queries, service
from .labels import (
    RELATION_LABELS,
    SEX_LABELS,
    STATUS_LABELS,
    label,
    mask_id,
    mask_phone,
    sees_full_numbers,
)
from .schemas import HEAD, RELATIONS


@bp.app_context_processor
def register_globals():
    return {"SEX_LABELS": SEX_LABELS, "STATUS_LABELS": STATUS_LABELS, "RELATION_LABELS": RELATION_LABELS,
            "label": label, "today": service.local_today}


bp.add_app_template_filter(mask_id, "mask_id")
bp.add_app_template_filter(mask_phone, "mask_phone")


def _area(area_id: str, *kinds: str) -> Area:
    area = get_in_scope(Area, area_id, current_user)
    if area.kind not in kinds:
        abort(404)
    return area


def _writable(obj):
    if not may_write(obj, current_user):
        abort(403)
    return obj


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int))


@bp.route("/")
@login_required
def index():
    return render_template("register/index.html", towns=queries.villages_by_town(current_user))


@bp.route("/villages/<village_id>")
@login_required
def village(village_id):
    village = _area(village_id, *queries.VILLAGE_KINDS)
    return render_template("register/village.html", village=village,
                           groups=queries.groups_of(village, current_user))


@bp.route("/villages/<village_id>/people")
@login_required
def village_people(village_id):
    village = _area(village_id, *queries.VILLAGE_KINDS)
    people, page = queries.people_page(village, current_user, _page(), current_app.config["PAGE_SIZE"])
    return render_template("register/village_people.html", village=village, people=people, page=page)


@bp.route("/groups/<group_id>")
@login_required
def group(group_id):
    group = _area(group_id, "group")
    rows, page = queries.households_page(group, current_user, _page(), current_app.config["PAGE_SIZE"])
    return render_template("register/group.html", group=group, rows=rows, page=page,
                           can_write=may_write(group, current_user))


@bp.route("/households/<household_id>")
@login_required
def household(household_id):
    household = get_in_scope(Household, household_id, current_user)
    return render_template("register/household.html", household=household,
                           members=queries.members_of(household, current_user),
                           can_write=may_write(household, current_user))


@bp.route("/households/unsynced")
@login_required
def household_unsynced():
    """A frame for a household made on this phone and not yet on the server (which has no
    page for it): static/js/pending-view.js fills it from the outbox, for the household id
    after "#". Holds no register data, so the phone keeps one copy for every such household."""
    return render_template("register/household_unsynced.html")


@bp.route("/households/unsynced/people/new")
@login_required
def person_new_unsynced():
    """The person form for a household not yet on the server ("#<household id>"). It only
    works through the outbox: without JavaScript there is no unsynced household to add to."""
    return render_template("register/person_form.html", person=None, household=None,
                           values={"status": "resident", "relation": HEAD}, errors={}, sexes=SEXES,
                           statuses=STATUSES, relations=RELATIONS)


@bp.route("/people/<person_id>")
@login_required
def person(person_id):
    person = get_in_scope(Person, person_id, current_user)
    return render_template("register/person.html", person=person,
                           full_numbers=sees_full_numbers(current_user),
                           can_write=may_write(person, current_user))


@bp.route("/search")
@login_required
def search():
    q = request.args.get("q", "").strip()[:50]
    people = queries.search_people(q, current_user)
    template = "register/_results.html" if request.headers.get("HX-Request") else "register/search.html"
    return render_template(template, q=q, people=people, limit=queries.SEARCH_LIMIT)


@bp.route("/groups/<group_id>/households/new", methods=["GET", "POST"])
@login_required
def household_new(group_id):
    group = _writable(_area(group_id, "group"))
    return _household_form(None, group, {"group_id": group.id, "number": "", "address": ""})


@bp.route("/households/<household_id>/edit", methods=["GET", "POST"])
@login_required
def household_edit(household_id):
    household = _writable(get_in_scope(Household, household_id, current_user))
    values = {"group_id": household.group_id, "number": household.number, "address": household.address}
    return _household_form(household, household.group, values)


def _household_form(household, group, values):
    errors = {}
    if request.method == "POST":
        values = request.form.to_dict()
        household, errors = service.save_household(household, values, group)
        if not errors:
            flash(_("Saved"), "success")
            return redirect(url_for("register.household", household_id=household.id))
    groups = queries.groups_in_village(group.parent_id, current_user)
    return render_template("register/household_form.html", household=household, group=group,
                           groups=groups, values=values, errors=errors), (422 if errors else 200)


@bp.route("/households/<household_id>/people/new", methods=["GET", "POST"])
@login_required
def person_new(household_id):
    household = _writable(get_in_scope(Household, household_id, current_user))
    relation = "" if household.head_id else HEAD
    return _person_form(None, household, {"status": "resident", "relation": relation})


@bp.route("/people/<person_id>/edit", methods=["GET", "POST"])
@login_required
def person_edit(person_id):
    person = _writable(get_in_scope(Person, person_id, current_user))
    values = {name: getattr(person, name) for name in service.PERSON_FIELDS}
    values["birth_date"] = person.birth_date.isoformat()
    return _person_form(person, person.household, values)


def _person_form(person, household, values):
    errors = {}
    if request.method == "POST":
        values = request.form.to_dict()
        values["enrolled"] = "enrolled" in request.form
        saved, errors = service.save_person(person, values, household)
        if not errors:
            flash(_("Saved"), "success")
            return redirect(url_for("register.person", person_id=saved.id))
    return render_template("register/person_form.html", person=person, household=household,
                           values=values, errors=errors, sexes=SEXES, statuses=STATUSES,
                           relations=RELATIONS), (422 if errors else 200)
