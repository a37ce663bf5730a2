"""deliveries.hearing: what the cluster's microphone made of the play (verdict, level, delay);
devices.hearing: its calibration and its latest verdict (the "heard" map)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 21:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('hearing', sa.JSON(), nullable=True))
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('hearing', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('hearing')
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('hearing')
