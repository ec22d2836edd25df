"""A supervisor sees two phones' disagreeing edits and can keep the other value."""
import sqlalchemy as sa

from tests.factories import make_town, make_user
from tests.helpers import login, post_form
from tests.test_api_sync import _new_family, _rec, _setup, _sync, _token
from webapp.extensions import db
from webapp.models import AuditEntry, Person, SyncConflict


def _conflict(app, client):
    ids = _setup(app)
    with app.app_context():
        from tests.factories import area

        make_user("boss", "supervisor", [area("T01")])
    a1, a2 = _token(client, "worker_a"), _token(client, "worker_a2")
    _hid, pid, records = _new_family(ids["group_a"])
    _sync(client, a1, records)
    _sync(client, a1, [_rec("person", pid, {"phone": "13800000001"}, base=1, when="2026-11-22T10:00:00+08:00")])
    _sync(client, a2, [_rec("person", pid, {"phone": "13800000002"}, base=1, when="2026-11-22T10:05:00+08:00")])
    return pid


def test_supervisor_keeps_the_earlier_value_and_it_becomes_a_new_audited_change(app, client):
    pid = _conflict(app, client)
    login(client, "boss")
    html = client.get("/conflicts/").get_data(as_text=True)
    assert "陈秀英" in html and "手机号" in html
    assert "13800000001" in html and "13800000002" in html and "正在使用" in html
    assert "?" not in html.split("<main", 1)[1]  # each value names who made it
    with app.app_context():
        conflict = db.session.scalar(sa.select(SyncConflict).where(SyncConflict.is_conflict.is_(True)))
        earlier = next(rid for rid, c in conflict.competitors.items() if c["value"] == "13800000001")
        conflict_id = conflict.id
    response = post_form(client, f"/conflicts/{conflict_id}/resolve", {"record_id": earlier}, form_url="/conflicts/")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Person, pid).phone == "13800000001"
        assert db.session.get(SyncConflict, conflict_id).resolved_at is not None
        actions = set(db.session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.entity.in_(("conflict", "person")), AuditEntry.action.in_(("resolve", "update")))))
        assert actions == {"resolve", "update"}
    assert "没有冲突的修改" in client.get("/conflicts/").get_data(as_text=True)


def test_workers_and_other_towns_cannot_see_or_resolve_conflicts(app, client):
    _conflict(app, client)
    with app.app_context():
        make_user("boss2", "supervisor", [make_town("T02", villages=1)])
        conflict_id = db.session.scalar(sa.select(SyncConflict.id).where(SyncConflict.is_conflict.is_(True)))
    login(client, "worker_a")
    assert client.get("/conflicts/").status_code == 404
    client.post("/logout", data={"csrf_token": ""})
    client2 = app.test_client()
    login(client2, "boss2")
    assert "没有冲突的修改" in client2.get("/conflicts/").get_data(as_text=True)
    response = post_form(client2, f"/conflicts/{conflict_id}/resolve", {"record_id": "x"}, form_url="/conflicts/")
    assert response.status_code == 404
