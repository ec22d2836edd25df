"""Merge rules for register entities (person, household), given to sync.merge_batch.

The same validators as the web forms (schemas.py) judge every record, so a record the
phone accepted offline and a form the server renders agree on what is valid. Projections
write the merged state into the Person and Household tables, audited, in the same unit.
"""
from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from stdnum.cn import ric

from sync import EntityRule, EntityState

from .. import audit
from ..extensions import db
from ..models import Area, AuditEntry, Household, Person
from ..pinyin import pinyin_keys
from ..sync_store import OrmJournal, Projection
from .schemas import HEAD, validate_household, validate_person

log = logging.getLogger(__name__)
_UNSET = object()
CHUNK = 500


def _chunks(values) -> list[list]:
    values = list(values)
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]

PERSON_FIELDS = ("household_id", "name", "sex", "birth_date", "id_number", "phone", "relation", "status",
                 "away_place", "away_contact", "enrolled")
HOUSEHOLD_FIELDS = ("group_id", "number", "address")
WRITERS = ("admin", "supervisor", "worker")


def _hashable(value):
    """A set member for a value a phone sent: a list or object becomes None (no such row)."""
    return value if isinstance(value, str) else None


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value


def person_fields(person: Person) -> dict:
    return {name: _plain(getattr(person, name)) for name in PERSON_FIELDS}


def household_fields(household: Household) -> dict:
    return {name: getattr(household, name) for name in HOUSEHOLD_FIELDS}


def linked_field_errors(data: dict) -> dict:
    """Fields whose rules tie them together must arrive in one record.

    Records are judged on their own proposal, and fields merge one by one (last writer
    wins). A rule spanning two fields therefore only holds in every arrival order when
    the latest writer of one is the latest writer of the other: a place comes with its
    status, "away" comes with its place, and an ID number with the birth date it encodes.
    """
    errors = {}
    if "away_place" in data and "status" not in data:
        errors["status"] = [_("Send the status together with the place.")]
    if data.get("status") == "away" and "away_place" not in data:
        errors["away_place"] = [_("Say where the person is when they are away.")]
    if ("id_number" in data) != ("birth_date" in data):
        errors["birth_date"] = [_("Send the date of birth together with the ID number.")]
    return errors


class RegisterRules:
    """Rules and projections for one user's request; ``villages`` None means every village.

    ``prefetch`` loads the people, households and areas a batch touches in a few IN
    queries; ``_get`` then answers from those rows (held here, so the session's identity
    map keeps them) instead of one primary-key query per read. A row a rolled-back unit
    created is no longer in the session, and ``_get`` asks the database again.
    """

    def __init__(self, user, villages: frozenset[str] | None, device_id: str | None, today: date):
        self.user, self.villages, self.device_id, self.today = user, villages, device_id, today
        self._rows: dict[tuple[type, str], object | None] = {}
        self._written: set[str] = set()  # people this batch projected (maybe not flushed yet)
        self._id_index: dict[tuple[str, str], set[str]] = {}  # (town, ID number) -> ids of _written
        # Who held which ID number when the batch began (prefetch): (town, number) -> ids.
        self._holders: dict[tuple[str, str], set[str]] = {}
        self._holders_read: set[str] = set()
        self.journal = OrmJournal(db.session)
        self._checked: tuple | None = None  # the last person judged valid: (id, values, town, clean)

    # -- rows the batch reads --------------------------------------------------------------
    def _get(self, model, row_id):
        if not isinstance(row_id, str):
            return None
        key = (model, row_id)
        if key in self._rows:
            row = self._rows[key]
            if row is None:
                return None
            if self.journal.alive(row):
                return row
        row = self._rows[key] = db.session.get(model, row_id)
        return row

    def _load(self, model, ids) -> list:
        ids = {i for i in ids if isinstance(i, str) and (model, i) not in self._rows}
        rows = []
        for chunk in _chunks(ids):
            rows += db.session.scalars(sa.select(model).where(model.id.in_(chunk))).all()
        for row in rows:
            self._rows[(model, row.id)] = row
        for row_id in ids:
            self._rows.setdefault((model, row_id), None)
        return rows

    def _id_taken(self, town_id: str, id_number: str, person_id: str | None) -> bool:
        """The duplicate-ID rule without flushing the batch: the flushed rows, corrected by
        the people this batch changed and has not flushed yet."""
        if id_number in self._holders_read:
            holders = self._holders.get((town_id, id_number), set())
        else:
            with db.session.no_autoflush:
                holders = set(db.session.scalars(sa.select(Person.id).where(
                    Person.town_id == town_id, Person.id_number == id_number)))
        for other_id in holders | self._id_index.get((town_id, id_number), set()):
            if other_id == person_id:
                continue
            if other_id in self._written:  # its values in the session may not be flushed yet
                other = self._get(Person, other_id)
                if other is None or (other.town_id, other.id_number) != (town_id, id_number):
                    continue
            elif other_id not in holders:
                continue
            return True
        return False

    def _index_id(self, person: Person) -> None:
        """Note where a projected person's ID number is (before and after a change, so an
        undone change is found too)."""
        if person.id_number:
            self._id_index.setdefault((person.town_id, person.id_number), set()).add(person.id)

    def _load_holders(self, numbers: set[str]) -> None:
        numbers -= self._holders_read
        for chunk in _chunks(numbers):
            for person_id, town_id, number in db.session.execute(
                    sa.select(Person.id, Person.town_id, Person.id_number).where(Person.id_number.in_(chunk))):
                self._holders.setdefault((town_id, number), set()).add(person_id)
        self._holders_read |= numbers

    def _load_groups(self, ids) -> None:
        """Groups and their villages in one query (a household's projection needs both)."""
        ids = {i for i in ids if isinstance(i, str)}
        parents = sa.select(Area.parent_id).where(Area.id.in_(ids)).scalar_subquery()
        wanted = {i for i in ids if (Area, i) not in self._rows}
        if not wanted:
            return
        for row in db.session.scalars(sa.select(Area).where(sa.or_(Area.id.in_(ids), Area.id.in_(parents)))):
            self._rows.setdefault((Area, row.id), row)
        for row_id in wanted:
            self._rows.setdefault((Area, row_id), None)

    def prefetch(self, records: list) -> None:
        people, households, household_targets, groups = set(), set(), set(), set()
        for raw in records:
            if not isinstance(raw, dict) or not isinstance(raw.get("entity_id"), str):
                continue
            data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
            if raw.get("type") == "person":
                people.add(raw["entity_id"].lower())
                households.add(_hashable(data.get("household_id")))
            elif raw.get("type") == "household":
                household_targets.add(raw["entity_id"].lower())
                groups.add(_hashable(data.get("group_id")))
        # Ids are whatever a phone sent: only strings can name a row (the rules reject the rest).
        households = {h for h in households if isinstance(h, str)}
        groups = {g for g in groups if isinstance(g, str)}
        loaded = self._load(Person, people)
        households |= {person.household_id for person in loaded}
        numbers = {person.id_number for person in loaded if person.id_number}
        for raw in records:
            data = raw.get("data") if isinstance(raw, dict) and raw.get("type") == "person" else None
            if isinstance(data, dict) and isinstance(data.get("id_number"), str):
                numbers.add(ric.compact(data["id_number"]).upper())
        self._load_holders(numbers)
        for household in self._load(Household, households | household_targets):
            if household.id in household_targets:
                groups.add(household.group_id)
        if len(groups) <= CHUNK:
            self._load_groups(groups)

    def _visible(self, village_id: str | None) -> bool:
        return self.villages is None or village_id in self.villages

    # -- scope -----------------------------------------------------------------------------
    def person_allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in WRITERS:
            return _("Your role may not change the register.")
        row = self._get(Person, entity_id)
        if row is not None and not self._visible(row.village_id):
            return _("This person is not in your villages.")
        household_id = data.get("household_id") or (row.household_id if row else None)
        household = self._get(Household, household_id)
        if household is not None and not self._visible(household.village_id):
            return _("This household is not in your villages.")
        return None

    def household_allowed(self, user_id, entity_id, data, existing):
        if self.user.role not in WRITERS:
            return _("Your role may not change the register.")
        row = self._get(Household, entity_id)
        if row is not None and not self._visible(row.village_id):
            return _("This household is not in your villages.")
        group_id = data.get("group_id")
        group = self._get(Area, group_id)
        if group is not None and (group.kind != "group" or not self._visible(group.parent_id)):
            return _("This group is not in your villages.")
        return None

    # -- validation ------------------------------------------------------------------------
    def person_valid(self, values, entity_id, context):
        self._checked = None
        linked = linked_field_errors(context["record"].data)
        if linked:
            return linked
        household_id = values.get("household_id")
        household = self._get(Household, household_id)
        if household is None:
            return {"household_id": [_("This household is not on the server yet. Send it first.")]}
        clean, errors = validate_person(values, town_id=household.town_id, session=db.session,
                                        person_id=entity_id, today=self.today, id_taken=self._id_taken)
        # The projection judges the merged fields again; when they are what was judged here
        # (the usual case: the record lost no field), it reuses this answer.
        self._checked = None if errors else (entity_id, dict(values), household.town_id, clean)
        return errors

    def household_valid(self, values, entity_id, context):
        group_id = values.get("group_id")
        group = self._get(Area, group_id)
        if group is None or group.kind != "group":
            return {"group_id": [_("Choose a group.")]}
        current = self._get(Household, entity_id)
        village_id = current.village_id if current is not None else group.parent_id  # no moves across villages
        _clean, errors = validate_household(values, village_id=village_id, session=db.session)
        return errors

    # -- projections -----------------------------------------------------------------------
    def _load_person(self, entity_id):
        row = self._get(Person, entity_id)
        return None if row is None else (person_fields(row), row.version)

    def _load_household(self, entity_id):
        row = self._get(Household, entity_id)
        return None if row is None else (household_fields(row), row.version)

    def _write_person(self, state: EntityState, before: dict | None) -> str | None:
        household = self._get(Household, state.fields["household_id"])
        checked, self._checked = self._checked, None
        if checked is not None and checked[:3] == (state.entity_id, state.fields, household.town_id):
            clean, errors = checked[3], {}
        else:
            clean, errors = validate_person(state.fields, town_id=household.town_id, session=db.session,
                                            person_id=state.entity_id, today=self.today, id_taken=self._id_taken)
        if errors:  # linked_field_errors keeps merged states valid; never fail silently if one is not
            log.error("merged person %s is not valid (%s); its fields are kept in sync_entity",
                      state.entity_id, ", ".join(sorted(errors)))
        person = self._get(Person, state.entity_id)
        creating = person is None
        if creating:
            person = self._rows[(Person, state.entity_id)] = Person(id=state.entity_id)
        else:
            self.journal.touch(person)
            self._written.add(person.id)
            self._index_id(person)
        old_name = None if creating else person.name
        for name, value in clean.items():
            if name not in errors and name in PERSON_FIELDS:
                setattr(person, name, value)
        if person.name != old_name or not person.name_pinyin:
            person.name_pinyin, person.name_initials = pinyin_keys(person.name)
        if person.status != "away":
            person.away_place, person.away_contact = "", ""
        person.household_id = household.id
        person.group_id, person.village_id, person.town_id = household.group_id, household.village_id, household.town_id
        person.version = state.version
        if creating:
            db.session.add(person)
            self.journal.added(person)
        self._written.add(person.id)
        self._index_id(person)
        head_id = self._head_id(household)
        if person.relation == HEAD and head_id != person.id:
            self._audit("update", "household", household.id, {"head_id": head_id}, {"head_id": person.id})
            self.journal.touch(household, ("head",))
            household.head = person  # post_update: written after the person's row, in the batch's flush
        self._audit("create" if before is None else "update", "person", person.id, before, person_fields(person))
        return person.village_id

    @staticmethod
    def _head_id(household: Household) -> str | None:
        """The head as this batch set it: ``head`` (set, not yet flushed) before ``head_id``."""
        head = sa.inspect(household).dict.get("head", _UNSET)
        if head is _UNSET:
            return household.head_id
        return head.id if head is not None else None

    def _audit(self, action, entity, entity_id, before, after) -> None:
        """Held for the batch's bulk insert (nothing reads audit entries during a merge)."""
        self.journal.insert(AuditEntry.__table__, audit.values(action, entity, entity_id, before, after,
                                                               user=self.user, device_id=self.device_id))

    def _write_household(self, state: EntityState, before: dict | None) -> str | None:
        group = self._get(Area, state.fields["group_id"])
        village = self._get(Area, group.parent_id)
        place = {"group_id": group.id, "village_id": village.id, "town_id": village.parent_id}
        household = self._get(Household, state.entity_id)
        creating = household is None
        if creating:  # every column set before the row joins the session (no early autoflush)
            household = self._rows[(Household, state.entity_id)] = Household(id=state.entity_id, **place)
        else:
            self.journal.touch(household)
        moved = not creating and household.group_id != group.id
        household.number = state.fields.get("number") or ""
        household.address = (state.fields.get("address") or "").strip()
        for name, value in place.items():
            setattr(household, name, value)
        household.version = state.version
        if creating:
            db.session.add(household)
            self.journal.added(household)
        elif moved:  # members carry their group too
            for member in household.members:
                self.journal.touch(member)
                for name, value in place.items():
                    setattr(member, name, value)
        self._audit("create" if before is None else "update", "household", household.id, before,
                    household_fields(household))
        return household.village_id

    # -- what merge_batch and SqlStore take ------------------------------------------------
    def rules(self) -> dict:
        return {
            "person": EntityRule(PERSON_FIELDS, validate=self.person_valid, allowed=self.person_allowed),
            "household": EntityRule(HOUSEHOLD_FIELDS, validate=self.household_valid, allowed=self.household_allowed),
        }

    def projections(self) -> dict[str, Projection]:
        return {
            "person": Projection(load=self._load_person, write=self._write_person, journal=self.journal),
            "household": Projection(load=self._load_household, write=self._write_household, journal=self.journal),
        }
