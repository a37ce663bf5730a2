"""media_jobs: which controller runs a job (several controllers may share one database)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 21:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('media_jobs') as batch:
        batch.add_column(sa.Column('controller_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('media_jobs') as batch:
        batch.drop_column('controller_id')
