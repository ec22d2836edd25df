"""The index the desk's server search reads instead of the person table.

A desk search ranks every person of the day (a day covers whole villages: tens of thousands
in a county) by name, pinyin, initials, ID tail and phone. No B-tree answers "ends with" or
"contains", so the search reads them all; this index holds exactly the columns it reads, per
village, so the read stays in the index (about a third of the table's pages on SQLite).
Migration 0011 makes it."""
import sqlalchemy as sa

from ..models import Person

DESK_SEARCH_INDEX = sa.Index(
    "ix_person_desk_search", Person.village_id, Person.status, Person.name, Person.name_pinyin,
    Person.name_initials, Person.id_number, Person.phone, Person.group_id, Person.id)
