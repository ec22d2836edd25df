"""The supervisor's attendance pages, make-ups, history, county and exports, on a real database."""
from __future__ import annotations

import csv
import io
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import time_machine
from openpyxl import load_workbook

from tests.checkup_helpers import schedule, town_with_people
from tests.factories import area, make_family, make_town, make_user
from tests.helpers import csrf_token_for, login, post_form
from webapp.attendance import queries
from webapp.attendance.rates import tally
from webapp.checkups.models import CheckupDay, Invitation
from webapp.desk.models import Attendance
from webapp.extensions import db
from webapp.models import AuditEntry, SyncEvent, User

DAY = date(2026, 12, 1)
ON_THE_DAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
AFTER = datetime(2026, 12, 12, 2, 0, tzinfo=UTC)


def _town_with_sizes(code: str, sizes: list[int], *, user=None):
    """Town ``code`` with one village per size, each holding ``size`` enrolled people."""
    town = make_town(code, villages=len(sizes), groups_per_village=2, commit=False)
    for village, size in zip(town.children, sizes, strict=True):
        for i in range(0, size, 5):
            make_family(village.children[i // 5 % 2], size=min(5, size - i), enrolled=True, commit=False)
    db.session.commit()
    return town


def _mark(day, person_ids, *, signed_in_on=None, certificate_on=None, reason="", hour=9):
    """Attendance rows as the desk's projection makes them (the sync path is tested below)."""
    invs = {i.person_id: i for i in db.session.scalars(sa.select(Invitation).where(Invitation.day_id == day.id))}
    for pid in person_ids:
        inv = invs[pid]
        at = datetime.combine(signed_in_on, time(hour - 8, 15)) if signed_in_on else None
        db.session.add(Attendance(day_id=day.id, person_key=pid, person_id=pid, invitation_id=inv.id,
                                  village_id=inv.village_id, group_id=inv.group_id,
                                  signin_record_id=str(uuid.uuid4()) if signed_in_on else None,
                                  signed_in_at=at, signed_in_on=signed_in_on, certificate_on=certificate_on,
                                  absence_reason=reason))
    db.session.commit()


def _invited(day, village):
    return list(db.session.scalars(sa.select(Invitation.person_id).where(
        Invitation.day_id == day.id, Invitation.village_id == village.id).order_by(Invitation.person_id)))


def test_live_view_shows_the_reference_490_of_484_and_a_village_exactly_at_80(app, client):
    with app.app_context():
        town = _town_with_sizes("T01", [490, 10, 10])
        make_user("boss", "supervisor", [town])
        boss = db.session.scalar(sa.select(User).where(User.username == "boss"))
        day = schedule(town, DAY, user=boss)
        v1, v2, v3 = town.children
        _mark(day, _invited(day, v1)[:484], signed_in_on=DAY)
        _mark(day, _invited(day, v2)[:8], signed_in_on=DAY)
        _mark(day, _invited(day, v3)[:7], signed_in_on=DAY)
        day_id, ids = day.id, (v1.id, v2.id, v3.id)
    login(client, "boss")
    html = client.get(f"/attendance/days/{day_id}").get_data(as_text=True)
    assert "98.8 %" in html and "80.0 %" in html and "70.0 %" in html
    rows = {vid: html.split(f'data-village="{vid}"')[1].split("</li>")[0] for vid in ids}
    assert 'data-band="high"' in rows[ids[0]] and 'data-band="floor"' in rows[ids[1]]
    assert 'data-band="below"' in rows[ids[2]]
    client.get("/lang/en")
    html = client.get(f"/attendance/days/{day_id}").get_data(as_text=True)
    assert "At or above 80 % (every village)" in html  # the band in words, not colour alone
    assert "Rates count everyone invited" in html
    # Town total: (484 + 8 + 7) / 510 = 97.8 %.
    assert html.split("data-total")[1].split("</section>")[0].count("97.8 %") == 1


def test_the_sql_counts_agree_with_the_plain_tally_for_every_mix_of_standings(app):
    rng = random.Random(5)
    with app.app_context():
        town = _town_with_sizes("T01", [40, 25])
        make_user("boss", "supervisor", [town])
        day = schedule(town, DAY)
        day.makeup_until = DAY + timedelta(days=20)
        db.session.commit()
        invs = list(db.session.scalars(sa.select(Invitation).where(Invitation.day_id == day.id)))
        for inv in invs[::7]:
            inv.kind = "certificate"
        people = {}
        for inv in invs:
            signed = rng.choice([None, None, DAY, DAY, DAY + timedelta(days=rng.randint(1, 30))])
            cert = rng.choice([None, None, DAY + timedelta(days=rng.randint(0, 30))])
            reason = rng.choice(["", "away", "declined", "moved", "ill"])
            people[inv.person_id] = {"kind": inv.kind, "signed_in_on": signed, "certificate_on": cert,
                                     "absence_reason": reason, "village_id": inv.village_id}
            if signed or cert or reason:
                _mark(day, [inv.person_id], signed_in_on=signed, certificate_on=cert, reason=reason)
        db.session.commit()
        today = DAY + timedelta(days=25)
        got = queries.counts_by_day_village([day.id], None)
        for village in town.children:
            mine = [p for p in people.values() if p["village_id"] == village.id]
            expected = tally(mine, day=DAY, makeup_until=day.makeup_until, today=today)
            assert got[(day.id, village.id)] == expected, village.code


def _token(client, username):
    body = client.post("/api/login", json={"username": username, "password": "pw", "device_name": username}).get_json()
    return {"Authorization": f"Bearer {body['token']}"}


def _sign_in(client, headers, day_id, person_id, when):
    record = {"id": str(uuid.uuid4()), "type": "signin", "entity_id": str(uuid.uuid4()), "base_version": None,
              "client_time": when, "data": {"day_id": day_id, "person_id": person_id, "desk": "1号台"}}
    body = client.post("/api/sync", json={"device_id": None, "cursor": None, "records": [record]},
                       headers=headers).get_json()
    assert body["results"][0]["status"] == "applied", body


def test_sign_ins_at_the_desk_then_make_ups_and_a_certificate_raise_coverage(app, client):
    """V02 of the helper town: 2 residents and 1 away (certificate requested). One resident comes on
    the day, the other at make-up eleven days later; the worker records the away person's certificate."""
    with app.app_context():
        town = town_with_people()
        make_user("d1", "desk", [town])
        day = schedule(town, DAY)
        v2 = area("T01-V02")
        invs = list(db.session.scalars(sa.select(Invitation).where(Invitation.day_id == day.id,
                                                                   Invitation.village_id == v2.id)))
        residents = [i.person_id for i in invs if i.kind == "checkup"]
        [away] = [i.person_id for i in invs if i.kind == "certificate"]
        day_id, v2_id = day.id, v2.id
    with time_machine.travel(ON_THE_DAY, tick=False):
        _sign_in(client, _token(client, "d1"), day_id, residents[0], "2026-12-01T09:12:00+08:00")
        login(client, "boss")
        html = client.get(f"/attendance/days/{day_id}", headers={"HX-Request": "true", "HX-Target": "live"}
                          ).get_data(as_text=True)
        assert html.startswith('\n<div id="live"') or '<div id="live"' in html[:400]
        assert "<html" not in html  # the fragment alone, for the poll
        row = html.split(f'data-village="{v2_id}"')[1].split("</li>")[0]
        assert "33.3 %" in row and 'data-band="below"' in row
        assert 'data-count="1"' in html  # one arrival in the histogram
    with time_machine.travel(AFTER, tick=False):
        _sign_in(client, _token(client, "d1"), day_id, residents[1], "2026-12-12T10:00:00+08:00")
        worker = app.test_client()
        login(worker, "w2")
        worker.get("/lang/en")
        page = worker.get(f"/attendance/days/{day_id}/makeup").get_data(as_text=True)
        assert 'data-outbox="absence"' in page and 'data-standing="makeup"' in page
        response = post_form(worker, f"/attendance/days/{day_id}/makeup",
                             {"person_id": away, "certificate_on": "2026-12-10", "certificate_place": "浙江宁波"})
        assert response.status_code == 302
        bad = post_form(worker, f"/attendance/days/{day_id}/makeup",
                        {"person_id": away, "certificate_on": "2027-01-30"}, follow_redirects=True)
        assert "The date cannot be in the future." in bad.get_data(as_text=True)
        with app.app_context():
            counts = queries.counts_by_day_village([day_id], None)[(day_id, v2_id)]
            assert (counts.on_day, counts.makeup, counts.certificate) == (1, 1, 1)
            row = db.session.scalar(sa.select(Attendance).where(Attendance.person_key == away))
            assert row.certificate_on == date(2026, 12, 10)  # the later, rejected statement changed nothing
        html = client.get(f"/attendance/days/{day_id}").get_data(as_text=True)
        assert "100.0 %" in html.split(f'data-village="{v2_id}"')[1].split("</li>")[0]  # coverage shown
        with app.app_context():
            live = queries.live(db.session.get(CheckupDay, day_id), db.session.scalar(
                sa.select(User).where(User.username == "boss")))
            v2_rates = next(r["rates"] for r in live["rows"] if r["village"].id == v2_id)
            assert str(v2_rates.same_day) == "33.3" and str(v2_rates.coverage) == "100.0"


@time_machine.travel(ON_THE_DAY, tick=False)
def test_not_yet_arrived_by_group_with_call_buttons_for_the_village_worker_not_for_other_roles(app, client):
    with app.app_context():
        town = town_with_people()
        make_user("d1", "desk", [town])
        day = schedule(town, DAY)
        v1 = area("T01-V01")
        first = _invited(day, v1)[0]
        _mark(day, [first], signed_in_on=DAY)
        day_id, v1_id, v2_id = day.id, v1.id, area("T01-V02").id
    login(client, "w1")
    html = client.get(f"/attendance/days/{day_id}/villages/{v1_id}").get_data(as_text=True)
    assert 'data-count' in html and html.count('data-person="') == 4  # 5 invited in V01, one came
    assert 'href="tel:13900000001"' in html and first not in html
    assert "<h2>东风村1组" in html and "<h2>东风村2组" in html  # by group
    assert client.get(f"/attendance/days/{day_id}/villages/{v2_id}").status_code == 404  # not w1's village
    client.get("/lang/en")
    today = client.get("/today").get_data(as_text=True)  # the worker finds the list on the phone
    assert "4 invited have not come yet" in today and f"/attendance/days/{day_id}/villages/{v1_id}" in today
    desk = app.test_client()
    login(desk, "d1")
    assert desk.get(f"/attendance/days/{day_id}/villages/{v1_id}").status_code == 403
    assert "tel:" not in desk.get(f"/attendance/days/{day_id}").get_data(as_text=True)


def test_overdue_and_open_make_ups_are_on_the_workers_today_screen(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        v1 = area("T01-V01")
        _mark(day, _invited(day, v1)[:2], signed_in_on=DAY)
        _mark(day, _invited(day, v1)[2:3], reason="declined")  # respected: not followed up
        day_id = day.id
    with time_machine.travel(AFTER, tick=False):
        login(client, "w1")
        client.get("/lang/en")
        html = client.get("/today").get_data(as_text=True)
        assert "2 still to be seen by 2026-12-31" in html
        assert f"/attendance/days/{day_id}/makeup" in client.get("/offline-pages").get_json()["urls"]  # on the phone
    with time_machine.travel(datetime(2027, 1, 5, 2, 0, tzinfo=UTC), tick=False):
        html = client.get("/today").get_data(as_text=True)
        assert "2 overdue: the make-up deadline 2026-12-31 has passed" in html


def test_exports_in_excel_and_csv_are_audited_and_mask_phones(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        _mark(day, _invited(day, area("T01-V01"))[:1], signed_in_on=DAY)
        day_id = day.id
    login(client, "boss")
    client.get("/lang/en")
    response = client.get(f"/attendance/days/{day_id}/export?what=villages&format=xlsx")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:4] == ["Village", "Invited", "Away (certificate expected)", "Signed in on the day"]
    assert values[-1][0] == "Town total" and values[-1][1] == 8 and values[-1][3] == 1 and values[-1][4] == "12.5"
    roster = client.get(f"/attendance/days/{day_id}/export?what=roster&format=csv")
    rows = list(csv.reader(io.StringIO(roster.data.decode("utf-8-sig"))))
    assert len(rows) == 1 + 8 and "Seen on the day" in [r[5] for r in rows]
    assert "13900000001" not in roster.data.decode() and "139****0001" in roster.data.decode()
    makeup = client.get(f"/attendance/days/{day_id}/export?what=makeup&format=xlsx")
    assert makeup.status_code == 200
    assert client.get(f"/attendance/days/{day_id}/report").status_code == 200
    assert client.get(f"/attendance/days/{day_id}/export?what=secrets&format=xlsx").status_code == 404
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "export",
                                                                 AuditEntry.entity == "attendance")).all()
        assert [(e.after["what"], e.after["format"]) for e in entries] == [
            ("villages", "xlsx"), ("roster", "csv"), ("makeup", "xlsx"), ("report", "print")]
        assert all(e.user_id and e.entity_id == day_id for e in entries)
    worker = app.test_client()
    login(worker, "w1")
    assert worker.get(f"/attendance/days/{day_id}/export?what=roster&format=csv").status_code == 403


def test_targets_form_checks_its_numbers_and_changes_bands_and_the_words_about_the_basis(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        v2 = area("T01-V02")
        residents = [i.person_id for i in day.invitations if i.village_id == v2.id and i.kind == "checkup"]
        _mark(day, residents, signed_in_on=DAY)  # 2 of 3 came; the away one did not
        town_id, day_id, v2_id = town.id, day.id, v2.id
    login(client, "boss")
    client.get("/lang/en")
    url = f"/attendance/towns/{town_id}/targets"
    bad = post_form(client, url, {"floor": "90", "aim": "85", "high": "95", "basis": "invited"})
    assert bad.status_code == 422 and "The targets must rise" in bad.get_data(as_text=True)
    assert post_form(client, url, {"floor": "x", "aim": "85", "high": "95", "basis": "nope"}).status_code == 422
    row = client.get(f"/attendance/days/{day_id}").get_data(as_text=True).split(f'data-village="{v2_id}"')[1]
    assert "66.7 %" in row.split("</li>")[0]
    assert post_form(client, url, {"floor": "60", "aim": "70", "high": "95", "basis": "present"}).status_code == 302
    html = client.get(f"/attendance/days/{day_id}").get_data(as_text=True)
    assert "Rates leave out people away for work who did not come" in html
    row = html.split(f'data-village="{v2_id}"')[1].split("</li>")[0]
    assert "100.0 %" in row and 'data-band="high"' in row
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.entity == "attendance_target"))
        assert entry.after == {"floor": 60, "aim": 70, "high": 95, "basis": "present"}
    worker = app.test_client()
    login(worker, "w1")
    assert worker.get(url).status_code == 404


def test_make_up_deadline_defaults_to_30_days_moves_with_a_reschedule_and_can_be_changed(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        assert day.makeup_until == DAY + timedelta(days=30)
        day.date = DAY + timedelta(days=2)
        db.session.commit()
        assert day.makeup_until == DAY + timedelta(days=32)
        day_id = day.id
    login(client, "boss")
    client.get("/lang/en")
    url = f"/attendance/days/{day_id}/deadline"
    response = post_form(client, url, {"makeup_until": "2026-11-01"}, form_url=f"/attendance/days/{day_id}/makeup",
                         follow_redirects=True)
    assert "cannot be before the check-up day" in response.get_data(as_text=True)
    post_form(client, url, {"makeup_until": "2027-01-15"}, form_url=f"/attendance/days/{day_id}/makeup")
    with app.app_context():
        assert db.session.get(CheckupDay, day_id).makeup_until == date(2027, 1, 15)
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "makeup_deadline")) is not None
    worker = app.test_client()
    login(worker, "w1")
    token = csrf_token_for(worker, "/")
    assert worker.post(url, data={"csrf_token": token, "makeup_until": "2027-02-01"}).status_code == 403


def test_history_charts_and_ranks_villages_over_past_days(app, client):
    with app.app_context():
        town = _town_with_sizes("T01", [10, 10])
        make_user("boss", "supervisor", [town])
        v1, v2 = town.children
        first = schedule(town, DAY)
        second = schedule(town, DAY + timedelta(days=90))
        _mark(first, _invited(first, v1)[:9], signed_in_on=DAY)
        _mark(first, _invited(first, v2)[:6], signed_in_on=DAY)
        _mark(second, _invited(second, v1)[:7], signed_in_on=second.date)
        _mark(second, _invited(second, v2)[:10], signed_in_on=second.date)
        town_id, ids = town.id, (v1.id, v2.id)
    with time_machine.travel(datetime(2027, 3, 10, 2, 0, tzinfo=UTC), tick=False):
        login(client, "boss")
        html = client.get(f"/attendance/towns/{town_id}/history").get_data(as_text=True)
    ranking = html.split("data-ranking")[1].split("</ol>")[0]
    # V02: 16 / 20 = 80.0 %; V01: 16 / 20 = 80.0 % too: they share first place.
    assert ranking.count("<span class=\"att-rate\">80.0 %") == 2 and ranking.count("<strong>1.") == 2
    series = html.split(f'data-series="{ids[1]}"')[1].split("</section>")[0]
    assert "<polyline" in series and "60.0 %" in series and "100.0 %" in series


def test_county_user_sees_every_town_of_the_county_ranked_and_nothing_outside(app, client, runner):
    with app.app_context():
        t1 = _town_with_sizes("T01", [10])
        t2 = _town_with_sizes("T02", [10])
        t3 = _town_with_sizes("T03", [10])
        boss = make_user("boss", "supervisor", [t1])
        d1, d2, d3 = schedule(t1, DAY, user=boss), schedule(t2, DAY, user=boss), schedule(t3, DAY, user=boss)
        _mark(d1, _invited(d1, t1.children[0])[:8], signed_in_on=DAY)
        _mark(d2, _invited(d2, t2.children[0])[:9], signed_in_on=DAY)
        _mark(d3, _invited(d3, t3.children[0])[:1], signed_in_on=DAY)
        ids, d3_id = (t1.id, t2.id, t3.id), d3.id
        t3_village = t3.children[0].id
    result = runner.invoke(args=["area", "county", "C01", "示范县", "T01", "T02"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["area", "county", "C01", "示范县", "T09"]).exit_code != 0
    with app.app_context():
        make_user("county", "supervisor", [area("C01")])
    with time_machine.travel(datetime(2026, 12, 20, 2, 0, tzinfo=UTC), tick=False):
        login(client, "county")
        html = client.get("/attendance/county").get_data(as_text=True)
        assert client.get(f"/attendance/towns/{ids[0]}/history").status_code == 200
        assert client.get(f"/attendance/towns/{ids[2]}/history").status_code == 404
        assert client.get(f"/attendance/days/{d3_id}").status_code == 404
    towns = html.split("data-towns")[1]
    assert towns.index(f'data-town="{ids[1]}"') < towns.index(f'data-town="{ids[0]}"')  # 90 % before 80 %
    assert ids[2] not in html and t3_village not in html
    assert "<strong>1." in towns and "90.0 %" in towns and "80.0 %" in towns


def test_the_demo_town_has_past_days_with_attendance_make_ups_and_certificates(app, runner, client):
    result = runner.invoke(args=["demo", "--people", "900"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from webapp.merging import local_today

        with app.test_request_context():
            today = local_today()
        past = list(db.session.scalars(sa.select(CheckupDay).where(CheckupDay.date < today)
                                       .order_by(CheckupDay.date)))
        assert len(past) == 2
        counts = queries.counts_by_day_village([d.id for d in past], None)
        total = sum(counts.values(), type(next(iter(counts.values())))())
        assert total.on_day > 0 and total.makeup > 0 and total.certificate > 0
        recent = past[-1]
        # Made through the merge like any desk's records: each counted sign-in has its stored record.
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance).where(
            Attendance.signin_record_id.is_not(None))) == db.session.scalar(
            sa.select(sa.func.count()).select_from(SyncEvent).where(SyncEvent.type == "signin",
                                                                     SyncEvent.counted.is_(True)))
    login(client, "zhanzhang", "demo1234")
    assert client.get(f"/attendance/days/{recent.id}").status_code == 200
