"""broadcasts.state: room for 'pending_confirmation' (20 characters; PostgreSQL refused every
emergency into a column of 16, SQLite does not check lengths)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 22:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.alter_column('state', type_=sa.String(length=24),
                           existing_type=sa.String(length=16), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.alter_column('state', type_=sa.String(length=16),
                           existing_type=sa.String(length=24), existing_nullable=False)
