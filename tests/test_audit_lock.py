"""The audit table is append-only in the database: UPDATE and DELETE are refused by triggers
(made by migration 0007, and by create_all), on SQLite and on PostgreSQL."""
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from tests.factories import make_user
from webapp import audit
from webapp.extensions import db
from webapp.models import AuditEntry


def _one_entry():
    user = make_user("wang", "admin", [])
    audit.record("update", "person", "p-1", before={"name": "张三"}, after={"name": "李四"}, user=user)
    db.session.commit()


@pytest.mark.parametrize("statement", [
    sa.update(AuditEntry).values(action="nothing"),
    sa.update(AuditEntry).values(after=None),
    sa.delete(AuditEntry),
], ids=["update action", "update after", "delete"])
def test_audit_entries_cannot_be_changed_or_deleted(db_session, statement):
    _one_entry()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db_session.execute(statement)
        db_session.flush()
    db_session.rollback()
    [entry] = db_session.scalars(sa.select(AuditEntry)).all()
    assert entry.action == "update" and entry.after == {"name": "李四"}


def test_new_audit_entries_are_still_written(db_session):
    _one_entry()
    _one_more = audit.record("export", "notice_list", "l-1")
    db_session.commit()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 2


@pytest.mark.postgres_only
def test_audit_table_refuses_truncate_on_postgres(db_session):
    _one_entry()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db_session.execute(sa.text("TRUNCATE audit_entry"))
    db_session.rollback()


def test_a_migrated_database_refuses_changes_to_its_audit_table(make_app, fresh_database_url):
    app = make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url)
    with app.app_context():
        upgrade()
        _one_entry()
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            db.session.execute(sa.delete(AuditEntry))
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 1
        db.session.remove()
