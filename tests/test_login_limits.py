"""Login rate limits, session cookies and device revocation: what an attacker trying passwords,
or holding a stolen phone, runs into.

Failures are rows in the database, so the limit holds across app servers: the tests use two
apps on one database the way two gunicorn hosts would."""
from datetime import timedelta

import sqlalchemy as sa

from tests.factories import make_town, make_user
from tests.helpers import csrf_token_for, login, post_form
from webapp.config import load_config
from webapp.extensions import db
from webapp.models import AuditEntry, LoginFailure, User, utcnow


def _api_login(client, username, password, **kwargs):
    return client.post("/api/login", json={"username": username, "password": password, "device_name": "x"}, **kwargs)


def _lockouts(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "lockout")).all()


def test_a_phone_guessing_passwords_is_locked_out_on_every_server_with_a_clear_message(make_app):
    server_1, server_2 = make_app(), make_app()
    with server_1.app_context():
        make_user("li", "worker", [])
    limit = server_1.config["LOGIN_MAX_FAILURES"]
    phone = server_1.test_client()
    for _ in range(limit):
        assert _api_login(phone, "li", "guess").status_code == 401
    # The right password, on the other server, is refused until the window has passed.
    locked = _api_login(server_2.test_client(), "li", "pw")
    assert locked.status_code == 429
    assert "尝试次数太多" in locked.get_json()["error"] and "15" in locked.get_json()["error"]
    assert locked.headers["Retry-After"] == str(server_1.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    # The login page shares the same count.
    page = post_form(server_2.test_client(), "/login", {"username": "li", "password": "pw"})
    assert page.status_code == 429 and "尝试次数太多" in page.get_data(as_text=True)
    [entry] = _lockouts(server_1)  # audited once, when the limit was reached
    assert entry.entity == "login" and entry.after["username"] == "li" and entry.user_id is not None


def test_the_lock_lifts_after_the_window_and_a_good_login_clears_the_count(app, client):
    with app.app_context():
        make_user("li", "worker", [])
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _api_login(client, "li", "guess")
    assert _api_login(client, "li", "pw").status_code == 429
    with app.app_context():
        window = timedelta(seconds=app.config["LOGIN_FAILURE_WINDOW_SECONDS"] + 1)
        db.session.execute(sa.update(LoginFailure).values(at=utcnow() - window))
        db.session.commit()
    assert _api_login(client, "li", "pw").status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)
                                 .where(LoginFailure.username == "li")) == 0


def test_one_address_trying_many_names_is_locked_out_too(app):
    with app.app_context():
        make_user("li", "worker", [])
    limit = app.config["LOGIN_MAX_FAILURES"]
    attacker = app.test_client()
    address = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}
    for n in range(4 * limit):  # a station's desks share one address: it gets four times the room
        assert _api_login(attacker, f"nobody{n}", "guess", **address).status_code == 401
    assert _api_login(attacker, "li", "pw", **address).status_code == 429
    # Someone at another address is not locked out by it.
    assert _api_login(app.test_client(), "li", "pw", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200
    [entry] = _lockouts(app)
    assert entry.user_id is None and entry.after["remote_addr"] == "203.0.113.9"


def test_absurd_user_names_get_a_plain_refusal(app, client):
    for name in ("x" * 5000, "名" * 65, "' OR 1=1 --", "\x00"):
        assert _api_login(client, name, "pw").status_code == 401
        page = post_form(client, "/login", {"username": name, "password": "pw"})
        assert page.status_code == (400 if "\x00" in name else 200)  # a NUL is refused before any query


def test_session_cookie_is_httponly_and_samesite(app, client):
    with app.app_context():
        make_user("wang", "admin", [])
    cookie = login(client, "wang").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in development: a Secure cookie would never come back


def test_session_cookie_is_secure_when_configured(make_app, monkeypatch, tmp_path):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    assert load_config(str(tmp_path))["SESSION_COOKIE_SECURE"] is True
    app = make_app(SESSION_COOKIE_SECURE=True)
    with app.app_context():
        make_user("wang", "admin", [])
    client = app.test_client()
    token = csrf_token_for(client, "https://localhost/login")
    response = client.post("https://localhost/login", data={"username": "wang", "password": "pw",
                                                           "csrf_token": token},
                           headers={"Referer": "https://localhost/login"})  # Flask-WTF checks it on HTTPS
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_phone_revoked_by_the_admin_stops_syncing_at_once(app, client):
    with app.app_context():
        town = make_town("T01", villages=1)
        make_user("li", "worker", [town.children[0]])
        make_user("root", "admin", [])
    token = _api_login(client, "li", "pw").get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    phone = app.test_client()
    assert phone.post("/api/sync", json={"records": []}, headers=bearer).status_code == 200
    admin = app.test_client()
    login(admin, "root")
    with app.app_context():
        li_id = db.session.scalar(sa.select(User.id).where(User.username == "li"))
    post_form(admin, f"/admin/users/{li_id}/revoke-devices", {}, form_url=f"/admin/users/{li_id}")
    answer = phone.post("/api/sync", json={"records": []}, headers=bearer)
    assert answer.status_code == 401 and answer.get_json()["error"]
    assert phone.get("/api/me", headers=bearer).status_code == 401
    with app.app_context():
        [revoked] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "revoke")).all()
        assert revoked.entity == "device" and revoked.user_id is not None  # who revoked it


def test_a_deactivated_users_phone_stops_at_once(app, client):
    with app.app_context():
        make_user("li", "worker", [])
    token = _api_login(client, "li", "pw").get_json()["token"]
    with app.app_context():
        db.session.execute(sa.update(User).where(User.username == "li").values(active=False))
        db.session.commit()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_every_page_and_api_answer_carries_the_security_headers(app):
    """Walks the URL map: no page is served without the policy, and the policy allows no inline code."""
    with app.app_context():
        town = make_town("T01", villages=1)
        make_user("boss", "supervisor", [town])
    client = app.test_client()
    login(client, "boss")
    urls = [rule.rule for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and not rule.arguments] + ["/static/js/app.js", "/nowhere"]
    missing = []
    for url in urls:
        headers = client.get(url).headers
        policy = headers.get("Content-Security-Policy", "")
        if ("script-src 'self'" not in policy or "unsafe-inline" in policy or "frame-ancestors 'none'" not in policy
                or "object-src 'none'" not in policy or headers.get("X-Content-Type-Options") != "nosniff"
                or headers.get("X-Frame-Options") != "DENY" or headers.get("Referrer-Policy") != "same-origin"):
            missing.append(url)
    response = client.post("/api/login", json={"username": "boss", "password": "nope"})
    if "script-src 'self'" not in response.headers.get("Content-Security-Policy", ""):
        missing.append("/api/login")
    assert len(urls) > 15 and missing == []
