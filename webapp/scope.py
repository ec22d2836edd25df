"""The one place that decides what a user may see and change.

Every query over areas, households and people goes through ``scoped()`` or
``get_in_scope()``. Anything outside a user's scope answers 404 so that its
existence is not revealed.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, g

from .extensions import db
from .models import Area, User


def village_ids_for(user: User) -> frozenset[str] | None:
    """Ids of the villages a user may see; None means every village (admin)."""
    if user.role == "admin":
        return None
    cache = g.setdefault("_scope_cache", {})
    if user.id in cache:
        return cache[user.id]
    ids: set[str] = set()
    town_ids = [a.id for a in user.areas if a.kind == "town"]
    county_ids = [a.id for a in user.areas if a.kind == "county"]
    if county_ids:  # a county's users see every village of its towns
        town_ids += db.session.scalars(sa.select(Area.id).where(Area.parent_id.in_(county_ids), Area.kind == "town"))
    ids.update(a.id for a in user.areas if a.is_village)
    if town_ids:
        ids.update(db.session.scalars(sa.select(Area.id).where(Area.parent_id.in_(town_ids))))
    cache[user.id] = frozenset(ids)
    return cache[user.id]


def _area_ids_visible(user: User) -> frozenset[str] | None:
    """Villages, their groups, the towns holding them and those towns' county."""
    villages = village_ids_for(user)
    if villages is None:
        return None
    cache = g.setdefault("_area_scope_cache", {})
    if user.id not in cache:
        groups = db.session.scalars(sa.select(Area.id).where(Area.parent_id.in_(villages)))
        towns = frozenset(t for t in db.session.scalars(sa.select(Area.parent_id).where(Area.id.in_(villages))) if t)
        counties = db.session.scalars(sa.select(Area.parent_id).where(Area.id.in_(towns)))
        cache[user.id] = frozenset(villages) | frozenset(groups) | towns | frozenset(c for c in counties if c)
    return cache[user.id]


def scoped(stmt: sa.Select, model, user: User) -> sa.Select:
    """Restrict a select over Area, Household or Person to the user's scope."""
    if model is Area:
        ids = _area_ids_visible(user)
        return stmt if ids is None else stmt.where(Area.id.in_(ids))
    villages = village_ids_for(user)
    if villages is None:
        return stmt
    return stmt.where(model.village_id.in_(villages))


def in_scope(obj, user: User) -> bool:
    if isinstance(obj, Area):
        ids = _area_ids_visible(user)
        return ids is None or obj.id in ids
    villages = village_ids_for(user)
    return villages is None or obj.village_id in villages


def get_in_scope(model, entity_id: str, user: User):
    """Load one row the user may see, or answer 404 (never 403: existence stays hidden)."""
    obj = db.session.get(model, entity_id)
    if obj is None or not in_scope(obj, user):
        abort(404)
    return obj


def may_write(obj, user: User) -> bool:
    """Desk staff read the register but do not change it; the rest may change what they see."""
    return user.role in ("admin", "supervisor", "worker") and in_scope(obj, user)


