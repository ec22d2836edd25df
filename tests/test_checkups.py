"""Check-up days: who is invited, and the supervisor's pages to schedule, move and cancel."""
from datetime import date, timedelta

import sqlalchemy as sa

from tests.checkup_helpers import schedule, town_with_people
from tests.factories import area, make_person, make_user
from tests.helpers import login, post_form
from webapp.checkups.models import CheckupDay, Invitation
from webapp.extensions import db
from webapp.merging import local_today
from webapp.models import AuditEntry, Person


def test_enrolled_residents_are_invited_and_people_away_get_a_certificate_request(app):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, local_today() + timedelta(days=10))
        invitations = db.session.scalars(sa.select(Invitation).where(Invitation.day_id == day.id)).all()
        names = {inv.person.name: inv.kind for inv in invitations}
        assert len(invitations) == 3 + 2 + 2 + 1  # three families, plus the one away
        assert names["外出人"] == "certificate"
        assert "未登记" not in names and "已故人" not in names
        assert all(kind == "checkup" for name, kind in names.items() if name != "外出人")
        tokens = [inv.token for inv in invitations]
        assert len(set(tokens)) == len(tokens) and all(len(t) >= 20 for t in tokens)
        codes = [inv.code for inv in invitations]
        assert len(set(codes)) == len(codes) and all(len(c) == 6 for c in codes)


def test_a_day_for_single_groups_invites_only_those_groups(app):
    with app.app_context():
        town = town_with_people()
        group = area("T01-V01-G02")
        day = schedule(town, local_today() + timedelta(days=10), areas=[group])
        groups = set(db.session.scalars(sa.select(Invitation.group_id).where(Invitation.day_id == day.id)))
        assert groups == {group.id}


def test_supervisor_schedules_a_day_in_the_browser_form_and_sees_the_villages(app, client):
    with app.app_context():
        town_with_people()
        v1 = area("T01-V01").id
    login(client, "boss")
    with app.app_context():
        when = (local_today() + timedelta(days=14)).isoformat()
    response = post_form(client, "/checkups/new", {
        "date": when, "start_time": "08:00", "end_time": "11:30", "station": "镇卫生院二楼",
        "services": ["blood_pressure"], "bring": "身份证", "areas": [v1]}, form_url="/checkups/new")
    assert response.status_code == 302, response.get_data(as_text=True)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "镇卫生院二楼" in html
    with app.app_context():
        day = db.session.scalar(sa.select(CheckupDay))
        assert day.station == "镇卫生院二楼"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 5
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.entity == "checkup_day",
                                                            AuditEntry.action == "create")) is not None


def test_bad_day_form_says_what_to_fix_and_saves_nothing(app, client):
    with app.app_context():
        town_with_people()
        yesterday = (local_today() - timedelta(days=1)).isoformat()
    login(client, "boss")
    response = post_form(client, "/checkups/new", {
        "date": yesterday, "start_time": "12:00", "end_time": "08:00", "station": "", "areas": []},
        form_url="/checkups/new")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in ("不能是过去的日期", "结束时间必须晚于开始时间", "至少选择一项服务", "至少选择一个村或组"):
        assert message in html, message
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckupDay)) == 0


def test_workers_cannot_schedule_and_other_towns_cannot_see_a_day(app, client):
    with app.app_context():
        town = town_with_people()
        day_id = schedule(town, local_today() + timedelta(days=10)).id
        from tests.factories import make_town

        make_user("boss2", "supervisor", [make_town("T02", villages=1)])
    login(client, "w1")
    assert client.get("/checkups/new").status_code == 403
    assert client.get(f"/checkups/{day_id}").status_code == 200
    other = app.test_client()
    login(other, "boss2")
    assert other.get(f"/checkups/{day_id}").status_code == 404
    assert day_id not in other.get("/checkups/").get_data(as_text=True)


def test_worker_sees_only_their_village_on_the_day_page(app, client):
    with app.app_context():
        town = town_with_people()
        day_id = schedule(town, local_today() + timedelta(days=10)).id
        v1, v2 = area("T01-V01"), area("T01-V02")
        v1_name, v2_id = v1.name, v2.id
    login(client, "w1")
    html = client.get(f"/checkups/{day_id}").get_data(as_text=True)
    assert v1_name in html and v2_id not in html
    assert client.get(f"/checkups/{day_id}/villages/{v2_id}").status_code == 404


def test_invite_a_newcomer_by_hand_and_remove_someone_with_a_reason(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, local_today() + timedelta(days=10))
        day_id, v1 = day.id, area("T01-V01")
        household = db.session.scalar(sa.select(Person).where(Person.village_id == v1.id)).household
        newcomer = make_person(household, name="新来人", enrolled=False)
        newcomer_id, village_id = newcomer.id, v1.id
        first = db.session.scalar(sa.select(Invitation).where(Invitation.day_id == day_id,
                                                              Invitation.village_id == v1.id))
        first_id = first.id
    login(client, "boss")
    roster = f"/checkups/{day_id}/villages/{village_id}"
    html = client.get(roster + "?q=xlr").get_data(as_text=True)
    assert "新来人" in html
    assert post_form(client, f"/checkups/{day_id}/invite", {"person_id": newcomer_id}, form_url=roster).status_code == 302
    response = post_form(client, f"/checkups/{day_id}/invitations/{first_id}/remove", {"reason": ""}, form_url=roster)
    assert "说明" in client.get(response.headers["Location"]).get_data(as_text=True)
    post_form(client, f"/checkups/{day_id}/invitations/{first_id}/remove", {"reason": "已在外地体检"}, form_url=roster)
    with app.app_context():
        new_inv = db.session.scalar(sa.select(Invitation).where(Invitation.person_id == newcomer_id))
        assert new_inv.active and new_inv.day_id == day_id
        removed = db.session.get(Invitation, first_id)
        assert not removed.active and removed.removed_reason == "已在外地体检"
    assert "已在外地体检" in client.get(roster).get_data(as_text=True)


def test_reschedule_and_cancel_are_audited(app, client):
    with app.app_context():
        town = town_with_people()
        day_id = schedule(town, local_today() + timedelta(days=10)).id
        new_date = (local_today() + timedelta(days=20)).isoformat()
    login(client, "boss")
    post_form(client, f"/checkups/{day_id}/reschedule", {"date": new_date}, form_url=f"/checkups/{day_id}")
    post_form(client, f"/checkups/{day_id}/cancel", {}, form_url=f"/checkups/{day_id}")
    with app.app_context():
        day = db.session.get(CheckupDay, day_id)
        assert day.date == date.fromisoformat(new_date) and day.status == "cancelled"
        actions = set(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.entity_id == day_id)))
        assert {"create", "reschedule", "cancel"} <= actions
