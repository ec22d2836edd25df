"""Every HTML form route under garbage: never a 5xx, never a change to the audit table; and every
state-changing form route refuses a POST without a CSRF token.

The routes come from the URL map (every rule taking POST, outside the token-authenticated
/api/), so a form added later is fuzzed without editing this file. Each role of the town (admin,
supervisor, desk, worker) posts random values under the field names its form pages use, plus
wrong types, huge strings, SQL and script payloads, odd dates and random files, with a valid
CSRF token. ``DOORSTEP_FUZZ_FORM_EXAMPLES`` sets the examples per route and role (default 4).
"""
from __future__ import annotations

import io
import os
import re
import time
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_user
from tests.helpers import csrf_token_for, login
from tests.test_scope_routes import _entities, _url_for_rule
from webapp.extensions import db

EXAMPLES = int(os.environ.get("DOORSTEP_FUZZ_FORM_EXAMPLES", "4"))
FORM_FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))
ROLES = {"admin": "root", "supervisor": "super_1", "desk": "desk_1", "worker": "worker_b"}
NOT_FORMS = {"auth.logout"}  # fuzzed by every other test's logout; posting it here ends the session
PAYLOADS = ["'; DROP TABLE person; --", "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
            "\x00", "x" * 5000, "名" * 400, "-1", "0", "99999999999999999999", "1e309", "NaN", "2026-02-30",
            "0001-01-01", "9999-12-31", "", " ", "on", "true", "../../etc/passwd", "%00", "{{7*7}}"]
EXTRA_NAMES = ["date", "start", "end", "areas", "villages", "groups", "station", "services", "bring", "reason",
               "person_id", "invitation_id", "value", "choice", "form_id", "confirm", "skip_errors",
               "role", "password", "username", "email", "name", "next"]
FILE_INPUTS = {"file", "upload", "definition"}
AUDIT_WRITE = re.compile(r"^\s*(UPDATE\s+\"?audit_entry|DELETE\s+FROM\s+\"?audit_entry|TRUNCATE)", re.I)


class _FieldNames(HTMLParser):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        name = dict(attrs).get("name")
        if tag in ("input", "select", "textarea", "button") and name and name != "csrf_token":
            self.names.add(name)


def _field_names(client, url) -> list[str]:
    parser = _FieldNames()
    response = client.get(url)
    if response.status_code == 200 and response.mimetype == "text/html":
        parser.feed(response.get_data(as_text=True))
    return sorted(parser.names)


def _form_routes(app, ids):
    routes = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/") or rule.endpoint in NOT_FORMS:
            continue
        url = _url_for_rule(rule, ids) if rule.arguments else rule.rule
        if url is not None:
            routes.append((rule, url))
    return routes


def _values():
    text = st.sampled_from(PAYLOADS) | st.text(max_size=40) | st.integers().map(str) | st.dates().map(str)
    return st.lists(text, min_size=1, max_size=3)


def _fuzz_route(client, token, label, url, names, errors, sent, files):
    uploads = st.none()
    if files:  # random bytes under a file input's name, with names that claim every accepted format
        uploads = st.none() | st.tuples(st.sampled_from(files), st.binary(max_size=2000),
                                        st.sampled_from(["a.csv", "a.xlsx", "a.yaml", "a.json", "x", ""]))

    @FORM_FUZZ
    @given(fields=st.dictionaries(st.sampled_from(names) | st.text(min_size=1, max_size=12), _values(),
                                  max_size=10),
           upload=uploads)
    def post(fields, upload):
        data = dict(fields)
        if upload is not None:
            data[upload[0]] = (io.BytesIO(upload[1]), upload[2])
        data["csrf_token"] = token
        response = client.post(url, data=data, content_type="multipart/form-data")
        sent["requests"] += 1
        if response.status_code >= 500:
            shown = {k: [x[:40] for x in v] for k, v in fields.items()}
            errors.append(f"{label} → {response.status_code} with {shown}")
        assert response.status_code < 500, errors[-1]

    post()


def _audit_watch(app):
    """Record every SQL statement that would change or remove audit entries."""
    seen: list[str] = []

    def watch(_conn, _cursor, statement, _params, _context, _many):
        if AUDIT_WRITE.match(statement):
            seen.append(statement[:200])

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", watch)
    return seen, lambda: sa.event.remove(engine, "before_cursor_execute", watch)


@pytest.mark.parametrize("role", list(ROLES))
def test_form_routes_survive_garbage_from_every_role(app, role):
    ids = _entities(app)
    with app.app_context():
        from tests.factories import area

        make_user("desk_1", "desk", [area("T01")])
        make_user("root", "admin", [])
    client = app.test_client()
    login(client, ROLES[role])
    routes = _form_routes(app, ids)
    assert len(routes) >= 15
    token = csrf_token_for(client, "/")
    audit_writes, stop_watching = _audit_watch(app)
    errors, sent = [], {"requests": 0}
    try:
        for rule, url in routes:
            on_page = _field_names(client, url)  # the form's own page, when the same URL serves one
            names = sorted(set(on_page) | set(EXTRA_NAMES))
            started = time.perf_counter()
            _fuzz_route(client, token, f"{role} POST {url} ({rule.endpoint})", url, names, errors, sent,
                        files=[n for n in on_page if n in FILE_INPUTS])
            if os.environ.get("DOORSTEP_FUZZ_TIMES"):
                print(f"{time.perf_counter() - started:6.2f}s {rule.endpoint}")
            # A post may have logged this user out (a password change): go on as them.
            if client.get("/").status_code != 200:
                login(client, ROLES[role])
                token = csrf_token_for(client, "/")
    finally:
        stop_watching()
    print(f"\nform fuzz as {role}: {sent['requests']} posts to {len(routes)} routes")
    assert errors == []
    assert audit_writes == []


def test_every_state_changing_form_route_refuses_a_post_without_csrf_token(app):
    ids = _entities(app)
    with app.app_context():
        make_user("root", "admin", [])
    client = app.test_client()
    accepted = []
    for username in ("root", "super_1", "worker_b"):
        login(client, username)
        for rule, url in _form_routes(app, ids):
            response = client.post(url, data={"name": "x"})
            if response.status_code != 400 or "CSRF 校验" not in response.get_data(as_text=True):
                accepted.append(f"{username} POST {url} ({rule.endpoint}) → {response.status_code}")
        client.post("/logout", data={"csrf_token": csrf_token_for(client, "/")})
    anonymous = app.test_client()
    for url in ("/login", "/logout"):
        if anonymous.post(url, data={"username": "root", "password": "pw"}).status_code != 400:
            accepted.append(f"anonymous POST {url}")
    assert accepted == []


def test_a_nul_character_in_a_form_is_refused_with_a_message_and_saves_nothing(app):
    ids = _entities(app)
    with app.app_context():
        make_user("root", "admin", [])
    client = app.test_client()
    login(client, "root")
    token = csrf_token_for(client, "/admin/users/new")
    response = client.post("/admin/users/new", data={
        "csrf_token": token, "username": "zhou", "display_name": "周\x00专干", "role": "worker",
        "areas": ["T01-V01"], "password": "longenough"})
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    assert "表单里有一个无法保存的字符" in response.get_data(as_text=True)
    login_as_worker = app.test_client()
    login(login_as_worker, "worker_b")
    edit = f"/households/{ids['households']}/edit"
    response = login_as_worker.post(edit, data={"csrf_token": csrf_token_for(login_as_worker, edit),
                                                "address": "东风村\x00", "number": "1"})
    assert response.status_code == 400
    with app.app_context():
        from webapp.models import Household, User

        assert db.session.scalar(sa.select(User).where(User.username == "zhou")) is None
        assert "\x00" not in db.session.get(Household, ids["households"]).address
