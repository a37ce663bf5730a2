"""controller_runs: when a controller was watching the fleet (the report counts the gaps as
the station's own downtime, not as clusters offline)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 14:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'controller_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('controller_id', sa.String(64), nullable=False),
        sa.Column('started_at', UtcDateTime(), nullable=False),
        sa.Column('alive_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_controller_runs_alive_at', 'controller_runs', ['alive_at'])


def downgrade() -> None:
    op.drop_index('ix_controller_runs_alive_at', 'controller_runs')
    op.drop_table('controller_runs')
