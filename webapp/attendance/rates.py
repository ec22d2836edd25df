"""Attendance rates, bands and each invited person's standing: plain functions over plain data.

DESIGN.md §1: the same-day attendance rate is signed in on the day ÷ invited; coverage is
(seen on the day + seen at make-up + certificates accepted) ÷ invited. What must hold
(tests/test_attendance_rates.py proves it with hand-worked fixtures and properties):

* A rate is shown to one decimal, rounded half up from the exact fraction (484 / 490 =
  98.7755… → 98.8 %). Bands are judged on that shown number, so the number and its band
  never disagree on the page (80.0 % is in the 80 % band, 79.9 % is not).
* A rate never exceeds 100 % and never decreases when one more invited person is seen.
* Coverage ≥ same-day rate over invited, for the same counts.
* No invitations → no rate (None), never a division by zero or a 0 % shown as a failure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

BANDS = ("below", "floor", "aim", "high")  # under the floor target, ≥ floor, ≥ aim, ≥ high


def percent(part: int, whole: int) -> Decimal | None:
    """``part / whole`` as a percentage with one decimal, half up; None when ``whole`` is 0."""
    if whole <= 0:
        return None
    exact = Fraction(part * 100, whole)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def band(rate: Decimal | None, targets: tuple[int, int, int]) -> str | None:
    """Which band a shown rate falls in for targets (floor, aim, high); None without a rate."""
    if rate is None:
        return None
    floor, aim, high = targets
    if rate >= high:
        return "high"
    if rate >= aim:
        return "aim"
    if rate >= floor:
        return "floor"
    return "below"


def valid_targets(floor: int, aim: int, high: int) -> bool:
    return 0 < floor <= aim <= high <= 100


# -- one person's standing ----------------------------------------------------------------------

STANDINGS = ("on_day", "makeup", "certificate", "declined", "moved", "open", "overdue")
SEEN = frozenset({"on_day", "makeup", "certificate"})  # what coverage counts
CLOSED_WITHOUT_VISIT = frozenset({"declined", "moved"})  # respected, never followed up


def standing(*, day: date, makeup_until: date | None, today: date, signed_in_on: date | None,
             certificate_on: date | None, absence_reason: str = "") -> str:
    """Where one invited person stands for a day.

    Seen on the day; seen at a make-up sign-in by the deadline; a certificate received by the
    deadline; declined or moved away (recorded, respected, not followed up); otherwise open
    until the deadline and overdue after it. A sign-in or certificate after the deadline does
    not count towards coverage (the person shows as overdue, with the late date beside)."""
    deadline = makeup_until or day
    if signed_in_on is not None and signed_in_on <= day:
        return "on_day"
    if signed_in_on is not None and signed_in_on <= deadline:
        return "makeup"
    if certificate_on is not None and certificate_on <= deadline:
        return "certificate"
    if absence_reason == "declined":
        return "declined"
    if absence_reason == "moved":
        return "moved"
    return "open" if today <= deadline else "overdue"


# -- counts to rates ----------------------------------------------------------------------------

@dataclass
class Counts:
    """What one village (or a town, or a county) adds up to for one or more days."""

    invited: int = 0
    away: int = 0  # invitations of kind "certificate": away for work, a certificate expected
    away_absent: int = 0  # of them, not signed in on the day
    on_day: int = 0
    makeup: int = 0
    certificate: int = 0
    declined: int = 0
    moved: int = 0
    walk_ins: int = 0  # signed in on the day without an invitation (not in any rate)

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{name: getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__})

    @property
    def seen(self) -> int:
        return self.on_day + self.makeup + self.certificate

    def basis(self, basis: str) -> int:
        """The rate's denominator: invited, or invited minus the away who did not come."""
        return self.invited - self.away_absent if basis == "present" else self.invited


@dataclass
class Rates:
    counts: Counts
    same_day: Decimal | None
    coverage: Decimal | None
    band: str | None
    targets: tuple[int, int, int]
    basis: str
    extra: dict = field(default_factory=dict)


def rates(counts: Counts, targets: tuple[int, int, int], basis: str = "invited") -> Rates:
    same_day = percent(counts.on_day, counts.basis(basis))
    return Rates(counts=counts, same_day=same_day, coverage=percent(counts.seen, counts.invited),
                 band=band(same_day, targets), targets=targets, basis=basis)


def tally(people: list[dict], *, day: date, makeup_until: date | None, today: date) -> Counts:
    """Counts from per-person rows (``kind``, ``signed_in_on``, ``certificate_on``,
    ``absence_reason``): the reference the SQL aggregation in queries.py must agree with."""
    counts = Counts()
    for row in people:
        state = standing(day=day, makeup_until=makeup_until, today=today, signed_in_on=row.get("signed_in_on"),
                         certificate_on=row.get("certificate_on"), absence_reason=row.get("absence_reason") or "")
        counts.invited += 1
        if row.get("kind") == "certificate":
            counts.away += 1
            counts.away_absent += state != "on_day"
        counts.on_day += state == "on_day"
        counts.makeup += state == "makeup"
        counts.certificate += state == "certificate"
        counts.declined += state == "declined"
        counts.moved += state == "moved"
    return counts


def ranking(rows: list[tuple[str, Decimal | None]]) -> list[tuple[int, str, Decimal | None]]:
    """(rank, key, rate), best first; equal rates share a rank (1, 2, 2, 4); no rate ranks last."""
    ordered = sorted(rows, key=lambda r: (r[1] is None, -(r[1] or 0)))
    out, previous, rank = [], object(), 0
    for position, (key, rate) in enumerate(ordered, start=1):
        if rate != previous:
            rank, previous = position, rate
        out.append((rank, key, rate))
    return out
