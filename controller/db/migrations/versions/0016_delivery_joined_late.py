"""deliveries: how far into its audio a device joined that was not ready at the start

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 14:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('joined_late_ms', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('joined_late_ms')
