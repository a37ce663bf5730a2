"""fleet online-ratio samples

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 01:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fleet_samples',
        sa.Column('ts', UtcDateTime(), nullable=False),
        sa.Column('online', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('ts'),
    )


def downgrade() -> None:
    op.drop_table('fleet_samples')
