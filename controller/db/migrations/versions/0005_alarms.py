"""alarms per device, line checks in deliveries, device volume

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alarms',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.Integer(), nullable=True),
        sa.Column('raised_at', UtcDateTime(), nullable=False),
        sa.Column('cleared_at', UtcDateTime(), nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('occurrences', sa.Integer(), nullable=False),
        sa.Column('acknowledged_at', UtcDateTime(), nullable=True),
        sa.Column('acknowledged_by', sa.String(length=80), nullable=True),
        sa.Column('ack_note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_alarms_device_id', 'alarms', ['device_id'])
    op.create_index('ix_alarms_code', 'alarms', ['code'])
    op.create_index('ix_alarms_raised_at', 'alarms', ['raised_at'])
    op.create_index('ix_alarms_cleared_at', 'alarms', ['cleared_at'])
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.add_column(sa.Column('line_check', sa.JSON(), nullable=True))
    with op.batch_alter_table('devices') as batch_op:
        batch_op.add_column(sa.Column('volume', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('devices') as batch_op:
        batch_op.drop_column('volume')
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_column('line_check')
    op.drop_table('alarms')
