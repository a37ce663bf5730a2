"""live and relay broadcasts: a stream instead of a stored file; per-person source passwords

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 15:10:00
"""
from alembic import op
import sqlalchemy as sa

import controller.db.models

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.alter_column('media_sha256', existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column('stream', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('ended_at', controller.db.models.UtcDateTime(), nullable=True))
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('source_password_hash', sa.String(length=200),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('source_password_hash')
    with op.batch_alter_table('broadcasts') as batch:
        batch.drop_column('ended_at')
        batch.drop_column('stream')
        batch.alter_column('media_sha256', existing_type=sa.String(length=64), nullable=False)
