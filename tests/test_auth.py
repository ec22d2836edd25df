"""Logging in on the page and from a phone, rate limits, CSRF, device tokens."""
import sqlalchemy as sa

from tests.factories import make_town, make_user
from tests.helpers import login, post_form
from webapp.extensions import db
from webapp.models import AuditEntry, Device


def test_login_page_is_chinese_by_default(client):
    html = client.get("/login").get_data(as_text=True)
    assert "登录" in html
    assert 'lang="zh-CN"' in html


def test_register_needs_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_says_so_and_right_one_gets_in(client, app):
    with app.app_context():
        make_user("wang", "admin", [])
    response = post_form(client, "/login", {"username": "wang", "password": "nope"})
    assert response.status_code == 200
    assert "用户名或密码不对" in response.get_data(as_text=True)
    login(client, "wang")


def test_login_failures_are_rate_limited(client, app):
    with app.app_context():
        make_user("wang", "admin", [])
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_form(client, "/login", {"username": "wang", "password": "nope"})
    response = post_form(client, "/login", {"username": "wang", "password": "pw"})
    assert response.status_code == 429
    assert "尝试次数太多" in response.get_data(as_text=True)


def test_form_post_without_csrf_token_is_refused(client, app):
    with app.app_context():
        make_user("wang", "admin", [])
    response = client.post("/login", data={"username": "wang", "password": "pw"})
    assert response.status_code == 400


def test_logout_keeps_the_chosen_language(client, app):
    with app.app_context():
        make_user("wang", "admin", [])
    login(client, "wang")
    client.get("/lang/en?next=/")
    assert "Log out" in client.get("/").get_data(as_text=True)
    post_form(client, "/logout", {}, form_url="/")
    assert "Log in" in client.get("/login").get_data(as_text=True)


def test_language_switch_never_redirects_off_site(client):
    response = client.get("/lang/en?next=//evil.example/x")
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"]


def test_api_login_gives_a_device_token_that_works_until_revoked(client, app, runner):
    with app.app_context():
        town = make_town("T01", villages=1)
        make_user("li", "worker", [town.children[0]])
    response = client.post("/api/login", json={"username": "li", "password": "pw", "device_name": "红米 9A"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["role"] == "worker" and body["user"]["areas"][0]["code"] == "T01-V01"
    token = body["token"]
    with app.app_context():
        device = db.session.get(Device, body["device_id"])
        assert device.name == "红米 9A" and token not in device.token_hash  # only the hash is stored

    fresh = app.test_client()
    me = fresh.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["device_id"] == body["device_id"]

    result = runner.invoke(args=["user", "revoke-devices", "li"])
    assert "1 device(s)" in result.output
    assert fresh.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.entity == "device")).all()
        assert sorted(actions) == ["login", "revoke"]


def test_api_login_refuses_bad_json_and_bad_passwords(client, app):
    with app.app_context():
        make_user("li", "admin", [])
    assert client.post("/api/login", data="not json", content_type="application/json").status_code == 400
    wrong = client.post("/api/login", json={"username": "li", "password": "x"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]


def test_security_headers_are_set(client):
    headers = client.get("/login").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_offline_page_fetched_during_login_does_not_sign_the_user_out(client, app):
    """The service worker fetches /offline with the login page's (signed-out) cookie; when its
    answer lands after the login's, it must not put that cookie back: it sets no session."""
    with app.app_context():
        make_user("w1", "worker", [make_town("T01")])
    client.get("/login")
    worker = app.test_client()  # the service worker's fetch, sent before the login
    worker.set_cookie("session", client.get_cookie("session").value)
    login(client, "w1")
    late = worker.get("/offline")
    assert late.status_code == 200
    assert not [c for c in late.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert client.get("/").status_code == 200


def test_the_offline_page_never_takes_the_users_messages(client, app):
    """/offline is kept once for every user: a message waiting for the user's next page (which may
    name a person) is neither shown in it nor used up by it."""
    with app.app_context():
        make_user("w1", "worker", [make_town("T01")])
    login(client, "w1")
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "已为张红梅签到")]
    assert "张红梅" not in client.get("/offline").get_data(as_text=True)
    assert "已为张红梅签到" in client.get("/").get_data(as_text=True)
