"""desk search keys (webapp/desk/search_index.py) instead of the covering person index

Revision ID: 0012
Revises: 0007
Create Date: 2026-11-23 20:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0007'
branch_labels = None
depends_on = None

CHUNK = 2000


def _ordered(length):
    return sa.String(length=length).with_variant(sa.String(length=length, collation='C'), 'postgresql')


def upgrade():
    from webapp.desk.search_index import key_rows  # a pure function of the person's columns

    keys = op.create_table('desk_search_key',
                           sa.Column('key', _ordered(220), nullable=False),
                           sa.Column('pinyin', _ordered(200), nullable=False),
                           sa.Column('name', _ordered(50), nullable=False),
                           sa.Column('person_id', sa.String(length=36), nullable=False),
                           sa.Column('village_id', sa.String(length=36), nullable=True),
                           sa.Column('group_id', sa.String(length=36), nullable=True),
                           sa.Column('status', sa.String(length=16), nullable=False),
                           sa.PrimaryKeyConstraint('key', 'pinyin', 'name', 'person_id'),
                           sqlite_with_rowid=False)
    op.create_index(op.f('ix_desk_search_key_person_id'), 'desk_search_key', ['person_id'], unique=False)
    op.drop_index('ix_person_desk_search', table_name='person')
    conn = op.get_bind()
    people = conn.execute(sa.text('SELECT id, name, name_pinyin, name_initials, id_number, phone, village_id, '
                                  'group_id, status FROM person')).all()
    for start in range(0, len(people), CHUNK):
        rows = [row for person in people[start:start + CHUNK] for row in key_rows(*person)]
        if rows:
            conn.execute(keys.insert(), rows)


def downgrade():
    op.create_index('ix_person_desk_search', 'person',
                    ['village_id', 'status', 'name', 'name_pinyin', 'name_initials', 'id_number', 'phone',
                     'group_id', 'id'], unique=False)
    op.drop_index(op.f('ix_desk_search_key_person_id'), table_name='desk_search_key')
    op.drop_table('desk_search_key')
