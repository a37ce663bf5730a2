"""CAP alerts received (once each, with what was done), and zones' geocodes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 13:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('zones') as batch:
        batch.add_column(sa.Column('geocodes', sa.JSON(), nullable=False, server_default='[]'))
    op.create_table(
        'cap_alerts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('feed', sa.String(64), nullable=False),
        sa.Column('sender', sa.String(255), nullable=False),
        sa.Column('identifier', sa.String(255), nullable=False),
        sa.Column('sent', UtcDateTime(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('msg_type', sa.String(16), nullable=False),
        sa.Column('action', sa.String(32), nullable=False),
        sa.Column('broadcast_id', sa.String(80), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('received_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sender', 'identifier', name='uq_cap_alerts_sender_identifier'),
    )


def downgrade() -> None:
    op.drop_table('cap_alerts')
    with op.batch_alter_table('zones') as batch:
        batch.drop_column('geocodes')
