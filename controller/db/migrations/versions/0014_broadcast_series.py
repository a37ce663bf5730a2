"""broadcasts: repetitions of one broadcast as a series (each its own play and log rows)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.add_column(sa.Column('series_id', sa.String(80), nullable=True))
        batch.add_column(sa.Column('repeat_index', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('repeat_every_s', sa.Integer(), nullable=True))
        batch.create_index('ix_broadcasts_series_id', ['series_id'])


def downgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.drop_index('ix_broadcasts_series_id')
        batch.drop_column('repeat_every_s')
        batch.drop_column('repeat_index')
        batch.drop_column('series_id')
