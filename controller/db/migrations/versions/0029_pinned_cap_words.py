"""pinned_messages.cap_words: the words of a CAP alert's event or headline that select a
pinned message, so an alert on an automatic feed sounds it at once

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 18:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pinned_messages') as batch:
        batch.add_column(sa.Column('cap_words', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('pinned_messages') as batch:
        batch.drop_column('cap_words')
