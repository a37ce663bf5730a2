"""notices: what people were told, on which channel, once per condition

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notices',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('key', sa.String(120), nullable=False),
        sa.Column('rule', sa.String(40), nullable=False),
        sa.Column('channel', sa.String(20), nullable=False),
        sa.Column('subject', sa.String(300), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('sent_at', UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key', 'channel', name='uq_notices_key_channel'),
    )
    op.create_index('ix_notices_rule', 'notices', ['rule'])
    op.create_index('ix_notices_state', 'notices', ['state'])
    op.create_index('ix_notices_created_at', 'notices', ['created_at'])


def downgrade() -> None:
    for ix in ('ix_notices_created_at', 'ix_notices_state', 'ix_notices_rule'):
        op.drop_index(ix, 'notices')
    op.drop_table('notices')
