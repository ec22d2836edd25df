"""Several app servers behind one balancer: whichever server answers, a user is the same user.

Two apps made from the same settings stand for two gunicorn servers on one database (the real
thing, with nginx and gunicorn, is tests/test_scaleout.py). Sessions, CSRF tokens and device
tokens must work on both; a change made through one must be seen by the very next request on
the other (no per-process cache of scope or register data); the shared secret key is required
wherever several servers are possible; addresses from X-Forwarded-For are believed only when
PROXY_HOPS says a proxy is there.
"""
from __future__ import annotations

import os
import threading
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from tests.factories import make_family, make_id_number, make_town, make_user
from tests.helpers import csrf_token, login
from webapp import create_app
from webapp.config import ConfigError, machine_secret_key
from webapp.extensions import db
from webapp.models import LoginFailure, User


@pytest.fixture
def two_servers(make_app):
    return make_app(), make_app()


def _village_with_family(app) -> dict:
    with app.app_context():
        town = make_town("T01", villages=2)
        village_a, village_b = town.children
        family = make_family(village_a.children[0], size=2)
        make_user("worker_a", "worker", [village_a])
        return {"household": family.id, "village_b": village_b.id, "group_a": village_a.children[0].id}


def _move_session(source, target) -> None:
    target.set_cookie("session", source.get_cookie("session").value)


def test_a_user_signed_in_on_one_server_stays_signed_in_and_can_save_on_the_other(two_servers):
    one, two = two_servers
    ids = _village_with_family(one)
    on_one, on_two = one.test_client(), two.test_client()
    login(on_one, "worker_a")
    page = on_one.get(f"/households/{ids['household']}")
    assert page.status_code == 200
    _move_session(on_one, on_two)  # the balancer sends the next request to the other server
    assert on_two.get(f"/households/{ids['household']}").status_code == 200
    # The CSRF token of a page from server one is good on server two (a sync from the browser).
    token = csrf_token(page.get_data(as_text=True))
    answer = on_two.post("/api/sync", json={"records": [], "cursor": None}, headers={"X-CSRFToken": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_a_server_with_another_secret_key_does_not_know_the_user(make_app):
    one, other = make_app(), make_app(SECRET_KEY="a key made on another machine")
    ids = _village_with_family(one)
    on_one, on_other = one.test_client(), other.test_client()
    login(on_one, "worker_a")
    _move_session(on_one, on_other)
    answer = on_other.get(f"/households/{ids['household']}")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_a_phone_token_from_one_server_syncs_on_the_other_and_an_id_number_taken_there_is_refused(two_servers):
    one, two = two_servers
    ids = _village_with_family(one)
    body = one.test_client().post("/api/login", json={"username": "worker_a", "password": "pw",
                                                      "device_name": "phone"}).get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    number = make_id_number(date(1988, 3, 2))

    def person(name: str) -> dict:
        return {"id": str(uuid.uuid4()), "type": "person", "entity_id": str(uuid.uuid4()), "base_version": 0,
                "client_time": "2026-11-22T09:14:03+08:00",
                "data": {"household_id": ids["household"], "name": name, "sex": "F", "birth_date": "1988-03-02",
                         "id_number": number, "phone": None, "relation": "女儿", "status": "resident",
                         "away_place": "", "away_contact": "", "enrolled": False}}

    # Server two checks the number first (its caches now know the number is well formed) ...
    first = two.test_client().post("/api/sync", json={"records": [person("陈一")]}, headers=headers).get_json()
    assert [r["status"] for r in first["results"]] == ["applied"]
    # ... server one has never seen it, and still finds it taken: "taken" is never cached.
    second = one.test_client().post("/api/sync", json={"records": [person("陈二")]}, headers=headers).get_json()
    assert second["results"][0]["status"] == "rejected" and "id_number" in second["results"][0]["errors"]
    # And server two, whose cache holds the number, refuses it too.
    third = two.test_client().post("/api/sync", json={"records": [person("陈三")]}, headers=headers).get_json()
    assert third["results"][0]["status"] == "rejected" and "id_number" in third["results"][0]["errors"]


def test_a_village_taken_from_a_worker_on_one_server_is_out_of_reach_on_the_other_at_once(two_servers):
    one, two = two_servers
    ids = _village_with_family(one)
    on_two = two.test_client()
    login(on_two, "worker_a")
    assert on_two.get(f"/households/{ids['household']}").status_code == 200
    with one.app_context():  # an admin on server one gives the worker the other village instead
        from webapp.models import Area

        user = db.session.scalar(sa.select(User).where(User.username == "worker_a"))
        user.areas = [db.session.get(Area, ids["village_b"])]
        db.session.commit()
    assert on_two.get(f"/households/{ids['household']}").status_code == 404


def test_a_new_visit_form_version_loaded_on_one_server_is_the_current_one_on_the_other(two_servers):
    from webapp.visits.definitions import current_form
    from webapp.visits.models import VisitForm

    one, two = two_servers
    with two.app_context():
        before = current_form("household_visit")
    with one.app_context():
        newer = {**before, "version": before["version"] + 1}
        db.session.add(VisitForm(form_id="household_visit", version=newer["version"], definition=newer))
        db.session.commit()
    with two.app_context():
        assert current_form("household_visit")["version"] == before["version"] + 1


# -- the shared secret key ------------------------------------------------------------------------

def test_an_app_on_postgresql_without_a_shared_secret_key_refuses_to_start(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://doorstep@db.example.org/doorstep")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_the_secret_key_can_come_from_a_file(monkeypatch, tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("kept in a credential file\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(key_file))
    monkeypatch.setenv("DATABASE_URL", "postgresql://doorstep@db.example.org/doorstep")
    assert create_app().config["SECRET_KEY"] == "kept in a credential file"


def test_workers_starting_together_on_one_machine_make_one_key(tmp_path):
    keys: list[str] = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        keys.append(machine_secret_key(tmp_path / "instance"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert [p.name for p in (tmp_path / "instance").iterdir()] == ["secret_key"]
    assert os.stat(tmp_path / "instance" / "secret_key").st_mode & 0o777 == 0o600


def test_an_app_on_sqlite_without_a_key_keeps_one_in_instance(tmp_path):
    from flask import Flask

    from webapp import _settle_secret_key

    app = Flask("one_machine", instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY=None, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'one.sqlite'}")
    _settle_secret_key(app)
    assert app.config["SECRET_KEY"] == (tmp_path / "instance" / "secret_key").read_text().strip()


# -- addresses behind the proxy ---------------------------------------------------------------------

@pytest.mark.parametrize("hops, forwarded, recorded", [
    (0, "10.1.2.3", "127.0.0.1"),  # no proxy configured: a client cannot pick its own address
    (1, "10.1.2.3", "10.1.2.3"),  # behind nginx: the phone's address
    (1, "6.6.6.6, 10.1.2.3", "10.1.2.3"),  # a forged entry before nginx's own is not believed
])
def test_failed_logins_are_counted_by_the_phones_address_only_behind_a_configured_proxy(
        make_app, hops, forwarded, recorded):
    app = make_app(PROXY_HOPS=hops)
    with app.app_context():
        make_user("worker_a", "worker")
    answer = app.test_client().post("/api/login", json={"username": "worker_a", "password": "wrong"},
                                    headers={"X-Forwarded-For": forwarded})
    assert answer.status_code == 401
    with app.app_context():
        assert db.session.scalars(sa.select(LoginFailure.remote_addr)).all() == [recorded]
