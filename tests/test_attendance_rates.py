"""Rates, bands and standings as plain functions: hand-worked numbers and properties."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from webapp.attendance.rates import (
    Counts,
    band,
    percent,
    ranking,
    rates,
    standing,
    tally,
)

TARGETS = (80, 85, 90)
DAY = date(2026, 12, 1)
DEADLINE = date(2026, 12, 31)


def test_the_reference_case_490_invited_484_seen_is_98_8_percent():
    assert percent(484, 490) == Decimal("98.8")  # 98.7755… rounded half up
    r = rates(Counts(invited=490, on_day=484), TARGETS)
    assert (r.same_day, r.band) == (Decimal("98.8"), "high")


def test_band_edges_belong_to_the_band_above():
    assert band(Decimal("80.0"), TARGETS) == "floor"
    assert band(Decimal("79.9"), TARGETS) == "below"
    assert band(Decimal("85.0"), TARGETS) == "aim"
    assert band(Decimal("84.9"), TARGETS) == "floor"
    assert band(Decimal("90.0"), TARGETS) == "high"
    assert band(None, TARGETS) is None
    # 8 of 10 is exactly 80 %; 399 of 500 is 79.8 %: one short of the floor.
    assert rates(Counts(invited=10, on_day=8), TARGETS).band == "floor"
    assert rates(Counts(invited=500, on_day=399), TARGETS).band == "below"
    # The band is judged on the number shown: 1599 / 2000 = 79.95 % is shown 80.0 % and is in the 80 band.
    assert percent(1599, 2000) == Decimal("80.0") and band(percent(1599, 2000), TARGETS) == "floor"


def test_rate_over_invited_or_over_invited_minus_the_away_who_did_not_come():
    """Worked by hand: 10 invited, 2 of them away for work (neither came), 7 signed in on the day.
    Over invited: 7 / 10 = 70.0 %, below 80. Over invited minus away: 7 / 8 = 87.5 %, at the aim."""
    counts = Counts(invited=10, away=2, away_absent=2, on_day=7)
    assert rates(counts, TARGETS, "invited").same_day == Decimal("70.0")
    assert rates(counts, TARGETS, "invited").band == "below"
    assert rates(counts, TARGETS, "present").same_day == Decimal("87.5")
    assert rates(counts, TARGETS, "present").band == "aim"


def test_coverage_counts_make_ups_and_certificates_by_the_deadline():
    """Worked by hand: 6 invited; 3 on the day, 1 at make-up, 1 certificate, 1 still open.
    Same-day 3 / 6 = 50.0 %, coverage 5 / 6 = 83.3 %."""
    people = [
        {"kind": "checkup", "signed_in_on": DAY},
        {"kind": "checkup", "signed_in_on": DAY},
        {"kind": "checkup", "signed_in_on": DAY},
        {"kind": "checkup", "signed_in_on": DAY + timedelta(days=10)},
        {"kind": "certificate", "certificate_on": DAY + timedelta(days=5), "absence_reason": "away"},
        {"kind": "checkup"},
    ]
    counts = tally(people, day=DAY, makeup_until=DEADLINE, today=DAY + timedelta(days=12))
    r = rates(counts, TARGETS)
    assert (counts.on_day, counts.makeup, counts.certificate, counts.away, counts.away_absent) == (3, 1, 1, 1, 1)
    assert (r.same_day, r.coverage) == (Decimal("50.0"), Decimal("83.3"))


def test_each_persons_standing():
    common = {"day": DAY, "makeup_until": DEADLINE, "today": DAY + timedelta(days=3)}
    assert standing(signed_in_on=DAY, certificate_on=None, **common) == "on_day"
    assert standing(signed_in_on=DEADLINE, certificate_on=None, **common) == "makeup"
    assert standing(signed_in_on=None, certificate_on=DAY, absence_reason="away", **common) == "certificate"
    assert standing(signed_in_on=None, certificate_on=None, absence_reason="declined", **common) == "declined"
    assert standing(signed_in_on=None, certificate_on=None, absence_reason="moved", **common) == "moved"
    assert standing(signed_in_on=None, certificate_on=None, absence_reason="ill", **common) == "open"
    late = {**common, "today": DEADLINE + timedelta(days=1)}
    assert standing(signed_in_on=None, certificate_on=None, **late) == "overdue"
    # Seen after the deadline: still overdue for coverage (the late date is shown beside).
    assert standing(signed_in_on=DEADLINE + timedelta(days=1), certificate_on=None, **late) == "overdue"
    # Declined and then came after all: seen.
    assert standing(signed_in_on=DAY + timedelta(days=2), certificate_on=None, absence_reason="declined",
                    **common) == "makeup"


def test_ranking_shares_places_for_equal_rates_and_puts_no_rate_last():
    rows = [("a", Decimal("90.0")), ("b", None), ("c", Decimal("95.5")), ("d", Decimal("90.0"))]
    assert [(rank, key) for rank, key, _r in ranking(rows)] == [(1, "c"), (2, "a"), (2, "d"), (4, "b")]


# -- properties ---------------------------------------------------------------------------------

@given(st.integers(0, 100_000), st.integers(1, 100_000))
def test_a_rate_is_never_above_100_and_grows_with_each_person_seen(seen, extra):
    invited = seen + extra
    r = percent(seen, invited)
    assert Decimal("0") <= r <= Decimal("100")
    assert percent(seen + 1, invited) >= r
    assert abs(r - Decimal(seen * 100) / Decimal(invited)) <= Decimal("0.05")


@given(st.decimals(min_value=0, max_value=100, places=1), st.integers(1, 100), st.integers(0, 10), st.integers(0, 10))
def test_bands_are_ordered_and_agree_with_the_targets(rate, floor, up1, up2):
    targets = (floor, min(floor + up1, 100), min(floor + up1 + up2, 100))
    order = ["below", "floor", "aim", "high"]
    got = band(rate, targets)
    assert (got == "below") == (rate < targets[0])
    assert band(min(rate + Decimal("0.1"), Decimal(100)), targets) in order[order.index(got):]


_person = st.fixed_dictionaries({
    "kind": st.sampled_from(["checkup", "certificate"]),
    "signed_in_on": st.one_of(st.none(), st.integers(0, 40).map(lambda d: DAY + timedelta(days=d))),
    "certificate_on": st.one_of(st.none(), st.integers(-5, 40).map(lambda d: DAY + timedelta(days=d))),
    "absence_reason": st.sampled_from(["", "away", "ill", "declined", "moved", "other"]),
})


@given(st.lists(_person, max_size=40), st.integers(0, 60))
def test_coverage_is_at_least_the_same_day_rate_and_nobody_is_counted_twice(people, today_offset):
    counts = tally(people, day=DAY, makeup_until=DEADLINE, today=DAY + timedelta(days=today_offset))
    assert counts.invited == len(people)
    assert counts.seen + counts.declined + counts.moved <= counts.invited
    assert counts.away_absent <= counts.away
    r = rates(counts, TARGETS)
    if counts.invited:
        assert r.coverage >= r.same_day
        assert rates(counts, TARGETS, "present").same_day is None or \
            rates(counts, TARGETS, "present").same_day >= r.same_day
