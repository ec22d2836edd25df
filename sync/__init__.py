"""The sync merge engine: plain Python, no Flask import (see DESIGN.md §4).

``webapp`` decodes the request, authorises, builds the rules, calls :func:`merge_batch`
and :func:`changes_since` over a :class:`Store`, and encodes the answer. Everything that
decides *what the data becomes* lives here and is property-tested without Flask.
"""
from .hlc import Stamp, stamp_for, stamp_from_str, stamp_to_str
from .merge import (
    APPLIED,
    DUPLICATE,
    MERGED,
    REJECTED,
    Result,
    last_writer_wins,
    merge_batch,
    merge_in_unit,
    merge_record,
)
from .pull import change_of, changes_since, decode_cursor, encode_cursor
from .records import Record, parse_record, raw_key
from .rules import EntityRule, EventRule, TypeRule
from .store import Competitor, Conflict, EntityState, Event, InMemoryStore, RawRecord, Store

__all__ = [
    "APPLIED", "DUPLICATE", "MERGED", "REJECTED",
    "Competitor", "Conflict", "EntityRule", "EntityState", "Event", "EventRule", "InMemoryStore",
    "RawRecord", "Record", "Result", "Stamp", "Store", "TypeRule",
    "change_of", "changes_since", "decode_cursor", "encode_cursor", "last_writer_wins",
    "merge_batch", "merge_in_unit", "merge_record", "parse_record", "raw_key", "stamp_for", "stamp_from_str", "stamp_to_str",
]
