"""Per-type merge rules, given by the caller of ``merge_batch``.

The engine owns clocks, last-writer-wins, conflicts, counting and idempotence; the web
app owns *meaning*: which fields exist, what a valid person is, who may write what.

What must hold for property 2 (order independence): ``validate`` must judge the values
the record proposes, and ``allowed`` the user, the entity id and the record's data.
Both receive the current state too (``context["existing"]``, ``existing``) because some
checks need it, but every decision that depends on *other records* makes the outcome
depend on arrival order. Callbacks must not write to the store.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .store import EntityState

Errors = dict[str, list[str]]
# validate(values, entity_id, context) -> {field: [message]}; empty means valid.
Validate = Callable[[dict[str, Any], str, dict[str, Any]], Errors]
# allowed(user_id, entity_id, data, existing) -> reason it is refused, or None.
Allowed = Callable[[str, str, dict[str, Any], "EntityState | None"], "str | None"]


def no_errors(values: dict[str, Any], entity_id: str, context: dict[str, Any]) -> Errors:
    return {}


def anyone(user_id: str, entity_id: str, data: dict[str, Any], existing: EntityState | None) -> None:
    return None


def no_unique_key(data: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class EntityRule:
    """An entity merged per field, last writer (by stamp) wins.

    ``validate`` receives the *proposed* entity: the current fields overlaid with the
    record's data (what its author meant to save), and in ``context`` the keys
    ``record``, ``existing`` (an EntityState or None), ``merged`` (the fields after
    last-writer-wins), ``device_id``, ``user_id``, ``now``. Data keys outside
    ``fields`` are rejected before ``validate`` is called.
    """

    fields: tuple[str, ...]
    validate: Validate = no_errors
    allowed: Allowed = anyone


@dataclass(frozen=True)
class EventRule:
    """A fact appended, never overwritten.

    ``validate`` receives the record's data. ``unique_key(data)`` returns a tuple of
    JSON scalars (e.g. ``(person_id, checkup_day_id)`` for a sign-in) or None: among
    accepted events of this type with the same key, only the earliest by stamp counts.
    With ``key_takes_entity`` it is called as ``unique_key(data, entity_id)``: for a fact
    whose subject is named by the record's own entity id (a walk-in not in the register).
    """

    validate: Validate = no_errors
    allowed: Allowed = anyone
    unique_key: Callable[..., tuple | None] = no_unique_key
    key_takes_entity: bool = False


TypeRule = EntityRule | EventRule
