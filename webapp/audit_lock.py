"""The audit table is append-only in the database itself, not only by the app's good manners.

Triggers refuse UPDATE and DELETE on ``audit_entry`` (and TRUNCATE on PostgreSQL), so neither a
bug in a view nor someone with the app's database login can rewrite history. They are made by
migration 0007 on deployed databases and, for databases built with ``db.create_all()`` (tests,
the demo), by :func:`attach` when the table is created. Migration 0007 holds its own copy of
this SQL: a migration must not change when this module does.

Only the database owner can drop the triggers again (:func:`drop_triggers`), which is what the
test suite does to empty its tables between tests.
"""
from __future__ import annotations

import sqlalchemy as sa

MESSAGE = "audit entries are append-only"

SQLITE_CREATE = [
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
]

POSTGRES_CREATE = [
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry",
    "DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry",
    "DROP FUNCTION IF EXISTS audit_entry_append_only()",
]


def _statements(dialect: str, create: bool) -> list[str]:
    if dialect == "postgresql":
        return POSTGRES_CREATE if create else POSTGRES_DROP
    if dialect == "sqlite":
        return SQLITE_CREATE if create else SQLITE_DROP
    return []


def create_triggers(conn: sa.Connection) -> None:
    for statement in _statements(conn.dialect.name, create=True):
        conn.exec_driver_sql(statement)


def drop_triggers(conn: sa.Connection) -> None:
    for statement in _statements(conn.dialect.name, create=False):
        conn.exec_driver_sql(statement)


def attach(table: sa.Table) -> None:
    """Make the triggers whenever ``create_all`` makes the table; drop the PostgreSQL function with it."""
    sa.event.listen(table, "after_create", lambda _t, conn, **_kw: create_triggers(conn))
    sa.event.listen(table, "after_drop", _drop_function)


def _drop_function(_table, conn, **_kw) -> None:
    if conn.dialect.name == "postgresql":  # the triggers went with the table; their function did not
        conn.exec_driver_sql(POSTGRES_DROP[-1])
