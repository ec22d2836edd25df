"""Notice lists three days ahead: when they are due, exactly once, late lists, changes after
they went out, and the worker's delivery records (offline records through /api/sync)."""
import threading
import uuid
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
import time_machine
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from tests.checkup_helpers import schedule, town_with_people
from tests.factories import area, make_person, make_town, make_user
from tests.helpers import login, post_form
from webapp.checkups import service as checkups
from webapp.checkups.models import Invitation
from webapp.extensions import db
from webapp.models import Person, User
from webapp.notices import service
from webapp.notices.models import NoticeList, NoticeMessage

DAY = date(2026, 12, 1)
UTC = timezone.utc


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _lists():
    return db.session.scalars(sa.select(NoticeList).order_by(NoticeList.village_id)).all()


def test_a_day_on_1_december_gets_its_list_at_07_00_shanghai_on_28_november(app):
    with app.app_context():
        assert service.due_at(DAY) == utc(2026, 11, 27, 23, 0)  # 28 Nov 07:00 Asia/Shanghai
        town = town_with_people()
        schedule(town, DAY)
        assert service.send_due_lists(utc(2026, 11, 27, 22, 59, 59)) == []
        made = service.send_due_lists(utc(2026, 11, 27, 23, 0, 5))
        assert len(made) == 2 and not any(nl.late for nl in _lists())


CLOCK_ONLY = Flask("clock")
CLOCK_ONLY.config.update(TIMEZONE="Asia/Shanghai", NOTICE_LEAD_DAYS=3, NOTICE_TIME="07:00")


@given(st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)))
def test_the_list_is_due_at_the_notice_time_three_local_days_before(day):
    with CLOCK_ONLY.app_context():
        local = service.due_at(day).astimezone(service.local_zone())
        assert local.date() == day - timedelta(days=3) and local.time() == time(7, 0)


def test_running_the_job_again_or_later_sends_nothing_twice(app):
    with app.app_context():
        town = town_with_people()
        schedule(town, DAY)
        first = service.send_due_lists(utc(2026, 11, 27, 23, 0))
        messages = db.session.scalar(sa.select(sa.func.count()).select_from(NoticeMessage))
        assert service.send_due_lists(utc(2026, 11, 27, 23, 0)) == []
        assert service.send_due_lists(utc(2026, 11, 28, 9, 0)) == []
        assert len(_lists()) == len(first) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(NoticeMessage)) == messages


def test_lists_made_by_two_processes_at_once_go_out_once(app, make_app):
    with app.app_context():
        town = town_with_people()
        schedule(town, DAY)
    apps = [make_app(), make_app()]
    barrier = threading.Barrier(2)
    made, errors = [], []

    def run(each):
        try:
            with each.app_context():
                barrier.wait()
                made.extend(nl.id for nl in service.send_due_lists(utc(2026, 11, 27, 23, 0, 1)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        assert len(made) == 2 and len(_lists()) == 2
        keys = db.session.scalars(sa.select(NoticeMessage.key)).all()
        assert len(keys) == len(set(keys))


def test_after_downtime_the_missed_list_goes_out_marked_late_until_the_day_starts(app):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        assert [nl.late for nl in service.send_due_lists(utc(2026, 11, 29, 1, 0))] == [True, True]
        other = schedule(town, DAY + timedelta(days=1))
        # The day (08:00 local on 2 Dec = 00:00 UTC) has started: too late for a notice.
        assert service.send_due_lists(utc(2026, 12, 2, 0, 0)) == []
        assert db.session.scalar(sa.select(NoticeList).where(NoticeList.day_id == other.id)) is None
        assert day.id


def test_a_day_created_the_day_before_gets_its_list_at_once_marked_late(app):
    with app.app_context():
        town = town_with_people()
        schedule(town, DAY)
        made = service.send_due_lists(utc(2026, 11, 30, 3, 0))  # 30 Nov 11:00 local, T-1
        assert len(made) == 2 and all(nl.late for nl in made)


def test_rescheduling_voids_the_old_list_and_the_new_date_gets_a_new_one(app):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        service.send_due_lists(utc(2026, 11, 27, 23, 0))
        boss = db.session.scalar(sa.select(User).where(User.username == "boss"))
        checkups.reschedule(day, date(2026, 12, 8), user=boss)
        db.session.commit()
        old = _lists()
        assert all(nl.void for nl in old)
        assert service.send_due_lists(utc(2026, 11, 28, 0, 0)) == []
        made = service.send_due_lists(utc(2026, 12, 4, 23, 0))
        assert len(made) == 2 and all(nl.for_date == date(2026, 12, 8) for nl in made)


def test_someone_invited_after_the_list_went_out_joins_it_for_their_worker(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        service.send_due_lists(utc(2026, 11, 27, 23, 0))
        v1 = area("T01-V01")
        household = db.session.scalar(sa.select(Person).where(Person.village_id == v1.id)).household
        newcomer = make_person(household, name="刚搬来", enrolled=True)
        boss = db.session.scalar(sa.select(User).where(User.username == "boss"))
        inv = checkups.add_person(day, newcomer, user=boss)
        db.session.commit()
        assert inv.after_notice
        notice_list = service.current_list(day, v1.id)
        slip = db.session.scalar(sa.select(NoticeMessage).where(NoticeMessage.invitation_id == inv.id))
        assert slip.list_id == notice_list.id and slip.channel == "slip"
        list_id = notice_list.id
    login(client, "w1")
    html = client.get(f"/notices/{list_id}").get_data(as_text=True)
    assert "刚搬来" in html and "后加" in html


def _delivery(invitation_id, on="2026-11-28", how="person", when="2026-11-28T10:00:00+08:00"):
    return {"id": str(uuid.uuid4()), "type": "notice_delivery", "entity_id": str(uuid.uuid4()),
            "base_version": None, "client_time": when,
            "data": {"invitation_id": invitation_id, "how": how, "delivered_on": on}}


def _token(client, username):
    body = client.post("/api/login", json={"username": username, "password": "pw", "device_name": "p"}).get_json()
    return {"Authorization": f"Bearer {body['token']}"}


def _sync(client, headers, records):
    response = client.post("/api/sync", json={"device_id": None, "cursor": None, "records": records},
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@time_machine.travel(datetime(2026, 11, 28, 12, 0, tzinfo=UTC), tick=False)
def test_deliveries_recorded_offline_count_once_the_earliest_wins_and_scope_holds(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        early = schedule(town, DAY + timedelta(days=20))  # its list is not out yet
        service.send_due_lists(utc(2026, 11, 27, 23, 0))
        v1, v2 = area("T01-V01"), area("T01-V02")
        inv1 = db.session.scalar(sa.select(Invitation).where(Invitation.day_id == day.id,
                                                             Invitation.village_id == v1.id))
        inv2 = db.session.scalar(sa.select(Invitation).where(Invitation.day_id == day.id,
                                                             Invitation.village_id == v2.id))
        not_yet = db.session.scalar(sa.select(Invitation).where(Invitation.day_id == early.id,
                                                                Invitation.village_id == v1.id))
        ids = inv1.id, inv2.id, not_yet.id
    headers = _token(client, "w1")
    later = _delivery(ids[0], on="2026-11-29", how="family", when="2026-11-29T09:00:00+08:00")
    earlier = _delivery(ids[0], on="2026-11-28", how="person", when="2026-11-28T09:00:00+08:00")
    answer = _sync(client, headers, [later, earlier, _delivery(ids[1]), _delivery(ids[2]),
                                     _delivery(ids[0], how="by pigeon")])
    statuses = [r["status"] for r in answer["results"]]
    assert statuses[:2] == ["applied", "applied"]
    assert statuses[2] == "rejected" and "scope" in answer["results"][2]["errors"]
    assert statuses[3] == "rejected" and "还没有发出" in answer["results"][3]["errors"]["invitation_id"][0]
    assert statuses[4] == "rejected" and "how" in answer["results"][4]["errors"]
    again = _sync(client, headers, [later, earlier])
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    with app.app_context():
        slip = db.session.scalar(sa.select(NoticeMessage).where(NoticeMessage.invitation_id == ids[0],
                                                                NoticeMessage.channel == "slip"))
        assert slip.status == "delivered" and slip.delivered_on == date(2026, 11, 28)
        assert slip.delivered_how == "person"


@time_machine.travel(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), tick=False)
def test_supervisor_sees_slips_delivered_in_time_late_and_not_yet_per_village(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        service.send_due_lists(utc(2026, 11, 27, 23, 0))
        v1 = area("T01-V01")
        invs = db.session.scalars(sa.select(Invitation).where(Invitation.day_id == day.id,
                                                              Invitation.village_id == v1.id)).all()
        ids, day_id, v1_id = [i.id for i in invs], day.id, v1.id
    headers = _token(client, "w1")
    _sync(client, headers, [_delivery(ids[0], on="2026-11-28"), _delivery(ids[1], on="2026-11-29")])
    login(client, "boss")
    html = client.get(f"/notices/days/{day_id}").get_data(as_text=True)
    row = html.split(f'data-village="{v1_id}"', 1)[1].split("</tr>", 1)[0]
    assert "<td data-total>5</td>" in row and "<td data-in-time>1</td>" in row
    assert "<td data-late>1</td>" in row and "<td data-open>3</td>" in row
    worker = app.test_client()
    login(worker, "w1")
    assert worker.get(f"/notices/days/{day_id}").status_code == 403


@time_machine.travel(datetime(2026, 11, 28, 2, 0, tzinfo=UTC), tick=False)
def test_worker_records_a_delivery_without_javascript_and_sees_it(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        made = service.send_due_lists(utc(2026, 11, 27, 23, 0))
        notice_list = next(nl for nl in made if nl.village_id == area("T01-V01").id)
        inv = db.session.scalar(sa.select(Invitation).where(Invitation.day_id == day.id,
                                                            Invitation.village_id == notice_list.village_id))
        list_id, inv_id, name = notice_list.id, inv.id, inv.person.name
    login(client, "w1")
    page = client.get("/notices/").get_data(as_text=True)
    assert f"/notices/{list_id}" in page and "2026年11月28日" in page
    response = post_form(client, f"/notices/{list_id}", {"invitation_id": inv_id, "how": "phone",
                                                         "delivered_on": "2026-11-28"}, form_url=f"/notices/{list_id}")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已于 2026年11月28日 送达" in html and "电话告知" in html and name in html
    with app.app_context():
        app_message = db.session.scalar(sa.select(NoticeMessage).where(NoticeMessage.channel == "app",
                                                                       NoticeMessage.list_id == list_id))
        assert app_message.status == "delivered"  # the worker opened the list


def test_other_towns_and_villages_cannot_open_a_list(app, client):
    with app.app_context():
        town = town_with_people()
        schedule(town, DAY)
        made = service.send_due_lists(utc(2026, 11, 27, 23, 0))
        v2_list = next(nl.id for nl in made if nl.village_id == area("T01-V02").id)
        make_user("far", "worker", [make_town("T02", villages=1).children[0]])
    for username in ("w1", "far"):
        other = app.test_client()
        login(other, username)
        assert other.get(f"/notices/{v2_list}").status_code == 404
        assert other.get(f"/notices/{v2_list}/slips.pdf").status_code == 404


@time_machine.travel(datetime(2026, 11, 29, 2, 0, tzinfo=UTC), tick=False)
def test_the_workers_today_screen_lists_slips_still_to_hand_over_with_the_deadline(app, client):
    with app.app_context():
        town = town_with_people()
        schedule(town, DAY)
        made = service.send_due_lists(utc(2026, 11, 27, 23, 0))
        list_id = next(nl.id for nl in made if nl.village_id == area("T01-V01").id)
    login(client, "w1")
    html = client.get("/today").get_data(as_text=True)
    section = html.split('data-section="notices"', 1)[1] if 'data-section="notices"' in html else html
    assert "待送的通知单" in html and f"/notices/{list_id}" in section
    assert "还有 5 / 5 张通知单未送达" in section and "已过了提前三天的期限" in section
