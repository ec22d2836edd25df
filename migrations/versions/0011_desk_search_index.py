"""person index for the desk's search (webapp/desk/search_index.py)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 17:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_person_desk_search', 'person',
                    ['village_id', 'status', 'name', 'name_pinyin', 'name_initials', 'id_number', 'phone',
                     'group_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_person_desk_search', table_name='person')
