"""scheduled plays: the record a device's report of a plan-only play is checked against

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 13:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'scheduled_plays',
        sa.Column('play_id', sa.String(80), nullable=False),
        sa.Column('start_at', UtcDateTime(), nullable=False),
        sa.Column('latest_start', UtcDateTime(), nullable=False),
        sa.Column('ends_by', UtcDateTime(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=True),
        sa.Column('targets', sa.JSON(), nullable=False),
        sa.Column('planned_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('play_id'),
    )
    op.create_index('ix_scheduled_plays_ends_by', 'scheduled_plays', ['ends_by'])


def downgrade() -> None:
    op.drop_index('ix_scheduled_plays_ends_by', 'scheduled_plays')
    op.drop_table('scheduled_plays')
