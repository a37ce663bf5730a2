"""device_status_changes: when each cluster went online or offline (the equipment report's
online ratio and uptime)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 15:30:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'device_status_changes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(64), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_device_status_changes_device_id', 'device_status_changes',
                    ['device_id'])
    op.create_index('ix_device_status_changes_at', 'device_status_changes', ['at'])


def downgrade() -> None:
    op.drop_index('ix_device_status_changes_at', 'device_status_changes')
    op.drop_index('ix_device_status_changes_device_id', 'device_status_changes')
    op.drop_table('device_status_changes')
