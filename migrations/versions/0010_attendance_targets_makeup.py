"""attendance: town targets, make-up deadline per check-up day, counties

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-23 16:40:00

Counties need no schema change: an area of kind "county" above towns (area.kind is free text).
"""
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('attendance_target',
    sa.Column('town_id', sa.String(length=36), nullable=False),
    sa.Column('floor', sa.Integer(), nullable=False),
    sa.Column('aim', sa.Integer(), nullable=False),
    sa.Column('high', sa.Integer(), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=False),
    sa.Column('updated_by', sa.String(length=36), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['town_id'], ['area.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('town_id')
    )
    with op.batch_alter_table('checkup_day', schema=None) as batch_op:
        batch_op.add_column(sa.Column('makeup_until', sa.Date(), nullable=True))
    # Covering indexes for the attendance counts (see webapp/attendance/models.py).
    op.create_index('ix_invitation_day_person_cover', 'invitation', ['day_id', 'person_id'],
                    postgresql_include=['village_id', 'kind', 'active'])
    op.create_index('ix_attendance_day_person_cover', 'attendance', ['day_id', 'person_key'],
                    postgresql_include=['signed_in_on', 'certificate_on', 'absence_reason'])
    # Days made before this revision get the default period (30 days; MAKEUP_DAYS applies to new days).
    conn = op.get_bind()
    day = sa.table('checkup_day', sa.column('id', sa.String), sa.column('date', sa.Date),
                   sa.column('makeup_until', sa.Date))
    for day_id, on in conn.execute(sa.select(day.c.id, day.c.date)).all():
        on = on if isinstance(on, date) else date.fromisoformat(on)
        conn.execute(day.update().where(day.c.id == day_id).values(makeup_until=on + timedelta(days=30)))


def downgrade():
    op.drop_index('ix_attendance_day_person_cover', table_name='attendance')
    op.drop_index('ix_invitation_day_person_cover', table_name='invitation')
    with op.batch_alter_table('checkup_day', schema=None) as batch_op:
        batch_op.drop_column('makeup_until')
    op.drop_table('attendance_target')
