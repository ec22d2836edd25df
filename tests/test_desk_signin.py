"""Sign-ins, undos and absence reasons as records through /api/sync, and the attendance they add up to."""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
import time_machine

from tests.checkup_helpers import schedule, town_with_people
from tests.factories import area, make_town, make_user
from webapp.checkups.models import CheckupDay, Invitation
from webapp.desk.models import Attendance
from webapp.desk.service import attendance_by_person, signed_in_count
from webapp.extensions import db
from webapp.models import AuditEntry, Person

DAY = date(2026, 12, 1)
ON_THE_DAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


def _record(type_, data, when, entity_id=None):
    return {"id": str(uuid.uuid4()), "type": type_, "entity_id": entity_id or str(uuid.uuid4()),
            "base_version": None, "client_time": when, "data": data}


def signin(day_id, person_id=None, when="2026-12-01T09:00:00+08:00", desk="1号台", **extra):
    data = {"day_id": day_id, "desk": desk, **extra}
    if person_id:
        data["person_id"] = person_id
    return _record("signin", data, when)


def undo(signin_record, when="2026-12-01T09:30:00+08:00"):
    data = signin_record["data"]
    return _record("signin_undo", {"signin_id": signin_record["id"], "day_id": data["day_id"],
                                   "person_id": data.get("person_id") or signin_record["entity_id"]}, when)


def absence(day_id, person_id, reason, when="2026-12-01T16:00:00+08:00", **extra):
    return _record("absence", {"day_id": day_id, "person_id": person_id, "reason": reason, **extra}, when)


def _token(client, username):
    body = client.post("/api/login", json={"username": username, "password": "pw", "device_name": username}).get_json()
    return {"Authorization": f"Bearer {body['token']}"}


def _sync(client, headers, records):
    response = client.post("/api/sync", json={"device_id": None, "cursor": None, "records": records},
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["status"] for r in response.get_json()["results"]], response.get_json()["results"]


def _day_with_desks(app):
    """T01's day on DAY, desks d1 and d2 of T01, a desk of another town; the invited, V01's first."""
    with app.app_context():
        town = town_with_people()
        make_user("d9", "desk", [make_town("T02", villages=1, groups_per_village=1)])
        make_user("d1", "desk", [town])
        make_user("d2", "desk", [town])
        db.session.commit()
        day = schedule(town, DAY)
        rows = db.session.execute(sa.select(Invitation.person_id, Invitation.village_id).where(
            Invitation.day_id == day.id)).all()
        v1 = area("T01-V01").id
        return day.id, [p for p, v in rows if v == v1] + [p for p, v in rows if v != v1]


@time_machine.travel(ON_THE_DAY, tick=False)
def test_sign_in_at_two_desks_counts_once_the_earlier_and_keeps_the_other(app, client):
    day_id, people = _day_with_desks(app)
    person = people[0]
    later = signin(day_id, person, when="2026-12-01T09:05:00+08:00", desk="2号台")
    earlier = signin(day_id, person, when="2026-12-01T09:02:00+08:00", desk="1号台")
    assert _sync(client, _token(client, "d2"), [later])[0] == ["applied"]
    assert _sync(client, _token(client, "d1"), [earlier])[0] == ["applied"]  # earlier: it takes the count
    again, _ = _sync(client, _token(client, "d1"), [earlier, later])
    assert again == ["duplicate", "duplicate"]
    with app.app_context():
        row = attendance_by_person(day_id)[person]
        assert row.signin_record_id == earlier["id"] and row.signed_desk == "1号台"
        assert row.signed_in_at == datetime(2026, 12, 1, 1, 2) and row.signed_in_on == DAY
        assert row.duplicates == 1 and not row.walk_in and row.invitation_id is not None
        assert signed_in_count(day_id) == 1
        assert signed_in_count(day_id, [area("T01-V02").id]) == 0
        audited = db.session.execute(sa.select(AuditEntry.entity_id, AuditEntry.after).where(
            AuditEntry.entity == "signin", AuditEntry.action == "create")).all()
        assert {entity_id: after["counted"] for entity_id, after in audited} == {
            later["entity_id"]: True, earlier["entity_id"]: True}  # each counted when it arrived, audited once


@time_machine.travel(ON_THE_DAY, tick=False)
def test_sign_ins_and_undos_from_several_desks_end_the_same_in_any_order(app, client):
    day_id, people = _day_with_desks(app)
    a = signin(day_id, None, when="2026-12-01T09:01:00+08:00")
    records = [a, signin(day_id, None, when="2026-12-01T09:03:00+08:00", desk="2号台"),
               undo(a, when="2026-12-01T09:10:00+08:00")]
    orders = list(itertools.permutations(range(3)))
    assert len(people) >= len(orders)
    expected = {}
    for person, order in zip(people, orders, strict=False):
        copies = []
        for r in records:  # the same three facts, about this person
            c = {**r, "id": f"{r['id'][:-4]}{orders.index(order):04d}", "data": {**r["data"], "person_id": person}}
            copies.append(c)
        copies[2]["data"]["signin_id"] = copies[0]["id"]
        expected[person] = copies[1]["id"]
        for i in order:
            _sync(client, _token(client, "d1" if i != 1 else "d2"), [copies[i]])
    with app.app_context():
        rows = attendance_by_person(day_id)
        for person, signin_id in expected.items():
            row = rows[person]
            assert (row.signin_record_id, row.signed_desk, row.duplicates) == (signin_id, "2号台", 0), person


@time_machine.travel(ON_THE_DAY, tick=False)
def test_undo_takes_a_sign_in_back_on_the_same_day_only_and_nothing_is_deleted(app, client):
    day_id, people = _day_with_desks(app)
    headers = _token(client, "d1")
    first = signin(day_id, people[0])
    _sync(client, headers, [first, undo(first)])
    with app.app_context():
        row = attendance_by_person(day_id)[people[0]]
        assert not row.signed_in and signed_in_count(day_id) == 0
    again = signin(day_id, people[0], when="2026-12-01T09:40:00+08:00")
    assert _sync(client, headers, [again])[0] == ["duplicate"]  # kept; attendance decides what counts
    next_day = undo(again, when="2026-12-02T08:00:00+08:00")
    with time_machine.travel(datetime(2026, 12, 2, 0, 5, tzinfo=UTC), tick=False):
        statuses, results = _sync(client, headers, [next_day])
    assert statuses == ["rejected"] and "当天" in results[0]["errors"]["signin_id"][0]
    with app.app_context():
        row = attendance_by_person(day_id)[people[0]]
        assert row.signin_record_id == again["id"] and signed_in_count(day_id) == 1


@time_machine.travel(ON_THE_DAY, tick=False)
def test_walk_ins_need_a_reason_and_are_counted_apart(app, client):
    day_id, _people = _day_with_desks(app)
    headers = _token(client, "d1")
    with app.app_context():
        uninvited = db.session.scalar(sa.select(Person.id).where(Person.name == "未登记"))
        v2 = area("T01-V02").id
    no_reason = signin(day_id, uninvited)
    with_reason = signin(day_id, uninvited, walk_in={"reason": "上周刚搬来"})
    newcomer = signin(day_id, None, walk_in={"reason": "不在名册", "name": "王新来", "village_id": v2,
                                             "phone": "13900001111"})
    no_village = signin(day_id, None, walk_in={"reason": "不在名册", "name": "李无村"})
    statuses, results = _sync(client, headers, [no_reason, with_reason, newcomer, newcomer, no_village])
    assert statuses == ["rejected", "applied", "applied", "duplicate", "rejected"]
    assert "未登记" in results[0]["errors"]["walk_in"][0]
    assert "walk_in.village_id" in results[4]["errors"]
    with app.app_context():
        rows = attendance_by_person(day_id)
        assert rows[uninvited].walk_in and rows[uninvited].walk_in_reason == "上周刚搬来"
        new = rows[newcomer["entity_id"]]
        assert new.walk_in and new.person_id is None and new.walk_in_name == "王新来" and new.village_id == v2
        assert signed_in_count(day_id) == 2


@time_machine.travel(ON_THE_DAY, tick=False)
def test_only_desks_of_the_town_sign_in_and_only_on_or_after_the_day(app, client):
    day_id, people = _day_with_desks(app)
    worker, stranger = _token(client, "w1"), _token(client, "d9")
    statuses, results = _sync(client, worker, [signin(day_id, people[0])])
    assert statuses == ["rejected"] and "scope" in results[0]["errors"]
    statuses, results = _sync(client, stranger, [signin(day_id, people[0])])
    assert statuses == ["rejected"]
    early = signin(day_id, people[0], when="2026-11-30T17:00:00+08:00")
    statuses, results = _sync(client, _token(client, "d1"), [early])
    assert statuses == ["rejected"] and "2026-12-01" in results[0]["errors"]["day_id"][0]
    with app.app_context():
        day = db.session.get(CheckupDay, day_id)
        day.status = "cancelled"
        db.session.commit()
    statuses, results = _sync(client, _token(client, "d1"), [signin(day_id, people[1])])
    assert statuses == ["rejected"] and "day_id" in results[0]["errors"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance)) == 0


@time_machine.travel(datetime(2026, 12, 6, 2, 0, tzinfo=UTC), tick=False)
def test_absence_reasons_the_latest_statement_stands_and_certificates_need_away(app, client):
    day_id, people = _day_with_desks(app)
    worker = _token(client, "w1")
    person = people[1]
    received = absence(day_id, person, "away", when="2026-12-05T10:00:00+08:00",
                       certificate_on="2026-12-05", certificate_place="浙江宁波某医院")
    first = absence(day_id, person, "ill", note="发烧")
    bad = [absence(day_id, person, "lazy"), absence(day_id, person, "ill", certificate_on="2026-12-05"),
           absence(day_id, person, "away", certificate_on="2027-05-01")]
    statuses, results = _sync(client, worker, [received, first, *bad])
    assert statuses == ["applied", "applied", "rejected", "rejected", "rejected"]
    assert "reason" in results[2]["errors"] and "certificate_on" in results[3]["errors"]
    with app.app_context():
        row = attendance_by_person(day_id)[person]
        assert row.absence_reason == "away" and row.certificate_on == date(2026, 12, 5)
        assert row.certificate_place == "浙江宁波某医院" and not row.signed_in
    statuses, results = _sync(client, _token(client, "w2"), [absence(day_id, person, "declined")])
    assert statuses == ["rejected"] and "scope" in results[0]["errors"]
