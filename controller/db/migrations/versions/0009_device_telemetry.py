"""telemetry history for plots

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 23:50:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'device_telemetry',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('event_id', sa.String(length=80), nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('ts', UtcDateTime(), nullable=False),
        sa.Column('load_1m', sa.Float(), nullable=True),
        sa.Column('mem_available_mb', sa.Integer(), nullable=True),
        sa.Column('disk_free_mb', sa.Integer(), nullable=True),
        sa.Column('outbox_pending', sa.Integer(), nullable=True),
        sa.Column('battery_v', sa.Float(), nullable=True),
        sa.Column('temperature_c', sa.Float(), nullable=True),
        sa.Column('signal_dbm', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id'),
    )
    op.create_index('ix_device_telemetry_device_id', 'device_telemetry', ['device_id'])
    op.create_index('ix_device_telemetry_ts', 'device_telemetry', ['ts'])


def downgrade() -> None:
    op.drop_table('device_telemetry')
