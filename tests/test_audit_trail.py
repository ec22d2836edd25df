"""Every change, conflict resolution, export and device revocation leaves an audit entry.

Walks what can be walked: every record type the merge knows (changes from phones and from web
forms take the same path, webapp/merging.py), and every GET route of the app, plain and with
``?format=csv|xlsx``: whatever answers a download must have written an ``export`` entry naming
who took it.
"""
from __future__ import annotations

import sqlalchemy as sa

from tests.factories import make_user
from tests.helpers import login, post_form
from tests.test_conflicts import _conflict
from tests.test_scope_routes import _entities, _url_for_rule
from tests.test_sync_scope import BUILDERS, GOOD_SENDERS, _sync, _token, _world
from webapp.extensions import db
from webapp.models import AuditEntry, SyncConflict, User

# Downloads that hold no register data: blank import templates with made-up example rows.
NOT_EXPORTS = {"imports.template_csv", "imports.template_xlsx"}


def _entries(app, **where):
    with app.app_context():
        query = sa.select(AuditEntry)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return db.session.scalars(query.order_by(AuditEntry.id)).all()


def test_every_record_type_applied_leaves_an_audit_entry_naming_user_and_device(app, client):
    types, ids = _world(app)
    missing = []
    for type_ in sorted(types):
        sender = GOOD_SENDERS.get(type_, "worker_a")
        with app.app_context():
            sender_id = db.session.scalar(sa.select(User.id).where(User.username == sender))
        records = BUILDERS[type_](ids)
        for record, result in zip(records, _sync(client, _token(client, sender), records), strict=True):
            assert result["status"] in ("applied", "merged"), (type_, result)
            entries = _entries(app, entity_id=record["entity_id"])
            if not any(e.user_id == sender_id and e.device_id and e.action in ("create", "update") for e in entries):
                missing.append(f"{type_} {record['entity_id']}: {[(e.action, e.entity) for e in entries]}")
    assert missing == []


def test_a_conflict_resolution_is_audited(app, client):
    _conflict(app, client)
    login(client, "boss")
    with app.app_context():
        conflict = db.session.scalar(sa.select(SyncConflict).where(SyncConflict.is_conflict.is_(True)))
        conflict_id, record_id = conflict.id, next(iter(conflict.competitors))
    post_form(client, f"/conflicts/{conflict_id}/resolve", {"record_id": record_id}, form_url="/conflicts/")
    [entry] = _entries(app, action="resolve")
    assert entry.entity == "conflict" and entry.entity_id == str(conflict_id) and entry.user_id is not None


def test_every_download_of_register_data_is_audited_as_an_export(app):
    ids = _entities(app)
    client = app.test_client()
    login(client, "super_1")
    with app.app_context():
        super_id = db.session.scalar(sa.select(User.id).where(User.username == "super_1"))
    unaudited, downloads = [], 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_EXPORTS or rule.endpoint == "static":
            continue
        url = _url_for_rule(rule, ids) if rule.arguments else rule.rule
        if url is None:
            continue
        for query in ("", "?format=csv", "?format=xlsx"):
            before = len(_entries(app, action="export"))
            response = client.get(url + query)
            if "Content-Disposition" not in response.headers or response.status_code != 200:
                continue
            downloads += 1
            new = _entries(app, action="export")[before:]
            if not any(e.user_id == super_id for e in new):
                unaudited.append(f"{url}{query} ({rule.endpoint})")
    assert downloads >= 3  # notice slips, the change summary as CSV and as XLSX
    assert unaudited == []


def test_revoking_devices_on_the_admin_page_or_the_command_line_is_audited(app, client, runner):
    with app.app_context():
        make_user("li", "worker", [])
        make_user("root", "admin", [])
        li_id = db.session.scalar(sa.select(User.id).where(User.username == "li"))
    for _ in range(2):
        client.post("/api/login", json={"username": "li", "password": "pw", "device_name": "phone"})
    admin = app.test_client()
    login(admin, "root")
    post_form(admin, f"/admin/users/{li_id}/revoke-devices", {}, form_url=f"/admin/users/{li_id}")
    client.post("/api/login", json={"username": "li", "password": "pw", "device_name": "phone 3"})
    runner.invoke(args=["user", "revoke-devices", "li"])
    revoked = _entries(app, action="revoke")
    assert len(revoked) == 3 and {e.entity for e in revoked} == {"device"}
    assert sum(e.user_id is not None for e in revoked) == 2  # the admin on the page; the CLI has no user
