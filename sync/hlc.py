"""Hybrid-logical-clock stamps: the one total order every merge decision uses.

What must hold:

* Stamps compare as the tuple ``(physical_ms, counter, device_id, record_id)``. The record
  id is the last tie-break, so two different records never compare equal and "the
  winner" is always one record, whatever order they arrived in.
* A phone clock in the future cannot win forever: the client time is clamped to at
  most ``server_now + max_skew`` when the record is first received.
* ``str(stamp)`` sorts exactly like the stamp, so a database can ``ORDER BY`` / ``MAX``
  the text column. That needs ids made only of characters above ``,`` (UUIDs are).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import NamedTuple

MAX_SKEW = timedelta(minutes=5)
SEPARATOR = ","
_PHYSICAL_DIGITS = 13  # milliseconds since 1970 stay 13 digits until the year 2286
_COUNTER_DIGITS = 4
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Stamp(NamedTuple):
    """A hybrid logical clock stamp; NamedTuple so ``<`` and ``max`` are tuple order."""

    physical_ms: int
    counter: int
    device_id: str
    record_id: str

    def __str__(self) -> str:
        return stamp_to_str(self)


def stamp_for(
    client_time: datetime,
    server_now: datetime,
    *,
    device_id: str,
    record_id: str,
    max_skew: timedelta = MAX_SKEW,
) -> Stamp:
    """The stamp of a record made at ``client_time`` and received at ``server_now``.

    Both times must be timezone-aware. The physical part is
    ``min(client_time, server_now + max_skew)``; the counter is 0 (one stamp per record,
    the record id already breaks ties).
    """
    if client_time.tzinfo is None or server_now.tzinfo is None:
        raise ValueError("stamp_for needs timezone-aware datetimes")
    clamped = min(client_time, server_now + max_skew)
    return Stamp(_epoch_ms(clamped), 0, device_id, record_id)


def _epoch_ms(moment: datetime) -> int:
    # Exact integer arithmetic: float timestamps round differently near .5 ms.
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def stamp_to_str(stamp: Stamp) -> str:
    """Compact text form ``PPPPPPPPPPPPP.CCCC,device,record`` that sorts like the stamp."""
    physical, counter, device_id, record_id = stamp
    if not 0 <= physical < 10**_PHYSICAL_DIGITS:
        raise ValueError(f"physical_ms out of range: {physical}")
    if not 0 <= counter < 10**_COUNTER_DIGITS:
        raise ValueError(f"counter out of range: {counter}")
    for part in (device_id, record_id):
        if any(ch <= SEPARATOR for ch in part):
            raise ValueError(f"id {part!r} has characters that would break the sort order")
    return f"{physical:0{_PHYSICAL_DIGITS}d}.{counter:0{_COUNTER_DIGITS}d}{SEPARATOR}{device_id}{SEPARATOR}{record_id}"


def stamp_from_str(text: str) -> Stamp:
    """Inverse of :func:`stamp_to_str`; raises ``ValueError`` on anything else."""
    clock, device_id, record_id = text.split(SEPARATOR)
    physical, counter = clock.split(".")
    if len(physical) != _PHYSICAL_DIGITS or len(counter) != _COUNTER_DIGITS:
        raise ValueError(f"not a stamp: {text!r}")
    if not (physical.isdigit() and counter.isdigit()):
        raise ValueError(f"not a stamp: {text!r}")
    return Stamp(int(physical), int(counter), device_id, record_id)
