"""The desk's pages without JavaScript, its roster and events for the device, and who may use them."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from tests.checkup_helpers import schedule, town_with_people
from tests.factories import make_user
from tests.helpers import login, post_form
from tests.test_desk_signin import DAY, ON_THE_DAY
from webapp.desk.service import attendance_by_person
from webapp.extensions import db
from webapp.models import AuditEntry, Person

BEFORE_THE_DAY = ON_THE_DAY - timedelta(days=3)


def _day(app):
    with app.app_context():
        town = town_with_people()
        make_user("qiantai", "desk", [town])
        make_user("other_desk", "desk", [])
        day = schedule(town, DAY)
        person = db.session.scalar(sa.select(Person).where(Person.phone == "13900000001"))
        return day.id, person.id, person.name


def test_a_desk_without_javascript_finds_and_signs_a_person_in(app, client):
    day_id, person_id, name = _day(app)
    with time_machine.travel(ON_THE_DAY, tick=False):
        login(client, "qiantai")
        page = client.get(f"/desk/{day_id}?q=0001").get_data(as_text=True)  # phone tail
        assert name in page and "139****0001" in page and "13900000001" not in page
        response = post_form(client, f"/desk/{day_id}", {"type": "signin", "person_id": person_id, "desk": "1号台",
                                                         "q": "0001"}, form_url=f"/desk/{day_id}")
        assert response.status_code == 302
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "已保存" in page
    with app.app_context():
        attendance = attendance_by_person(day_id)[person_id]
        assert attendance.signed_in and attendance.signed_desk == "1号台"


@time_machine.travel(BEFORE_THE_DAY, tick=False)
def test_signing_in_before_the_day_is_refused_with_the_reason(app, client):
    day_id, person_id, _ = _day(app)
    login(client, "qiantai")
    response = post_form(client, f"/desk/{day_id}", {"type": "signin", "person_id": person_id},
                         form_url=f"/desk/{day_id}", follow_redirects=True)
    assert "flash-error" in response.get_data(as_text=True)
    with app.app_context():
        assert person_id not in attendance_by_person(day_id)


def test_the_roster_for_the_device_is_masked_and_its_download_audited(app, client):
    day_id, person_id, name = _day(app)
    login(client, "qiantai")
    body = client.get(f"/desk/{day_id}/roster.json").get_json()
    entry = next(p for p in body["people"] if p["id"] == person_id)
    assert entry["n"] == name and entry["phm"] == "139****0001" and entry["code"] and entry["tok"]
    assert body["invited"] == sum(1 for p in body["people"] if p["inv"])
    assert client.get(f"/desk/{day_id}/events.json").get_json()["cursor"].startswith("c1.")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "export", AuditEntry.entity == "desk_roster", AuditEntry.entity_id == day_id)) == 1


def test_a_desk_outside_the_town_gets_nothing(app, client):
    day_id, _, _ = _day(app)
    login(client, "other_desk")
    for url in (f"/desk/{day_id}", f"/desk/{day_id}/roster.json", f"/desk/{day_id}/search?q=zhm"):
        assert client.get(url).status_code == 404, url


def test_a_village_worker_records_an_absence_but_cannot_sign_anyone_in(app, client):
    day_id, person_id, _ = _day(app)
    with time_machine.travel(ON_THE_DAY, tick=False):
        login(client, "w1")  # worker of the person's village
        page = client.get(f"/desk/{day_id}?q=0001").get_data(as_text=True)
        assert "desk-sign\"" not in page and "desk-absence-nojs" in page  # absence form, no sign-in button
        post_form(client, f"/desk/{day_id}", {"type": "absence", "person_id": person_id, "reason": "away",
                                              "certificate_on": "2026-11-28", "certificate_place": "浙江宁波"},
                  form_url=f"/desk/{day_id}")
        response = post_form(client, f"/desk/{day_id}", {"type": "signin", "person_id": person_id},
                             form_url=f"/desk/{day_id}", follow_redirects=True)
        assert "flash-error" in response.get_data(as_text=True)
    with app.app_context():
        attendance = attendance_by_person(day_id)[person_id]
        assert not attendance.signed_in
        assert attendance.absence_reason == "away" and attendance.certificate_place == "浙江宁波"
        assert attendance.certificate_on.isoformat() == "2026-11-28"
