"""audit entries are append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)

Revision ID: 0007
Revises: 0011
Create Date: 2026-11-23 16:30:00

The SQL is copied here from webapp/audit_lock.py on purpose: a migration must keep doing
what it did when it was written.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0011'
branch_labels = None
depends_on = None

MESSAGE = "audit entries are append-only"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        op.execute("CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
                   "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()")
        op.execute("CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()")
    else:
        op.execute("CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry "
                   f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
        op.execute("CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry "
                   f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
