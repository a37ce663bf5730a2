"""pinned_messages, sms_orders, devices.phone: emergency messages every cluster keeps, and
the SMS orders that sound them when the data link is gone

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 17:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('phone', sa.String(20), nullable=True))
    op.create_table(
        'pinned_messages',
        sa.Column('id', sa.String(16), nullable=False),
        sa.Column('title', sa.String(200), nullable=False),
        sa.Column('media_sha256', sa.String(64), sa.ForeignKey('media.sha256'), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('updated_at', UtcDateTime(), nullable=False),
        sa.Column('updated_by', sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'sms_orders',
        sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('device_id', sa.String(64), sa.ForeignKey('devices.id'), nullable=False),
        sa.Column('phone', sa.String(20), nullable=False),
        sa.Column('action', sa.String(10), nullable=False),
        sa.Column('message', sa.String(20), nullable=False),
        sa.Column('broadcast_id', sa.String(80), nullable=True),
        sa.Column('text', sa.String(160), nullable=False),
        sa.Column('channel', sa.String(20), nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('detail', sa.String(300), nullable=False),
        sa.Column('sends', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('sent_at', UtcDateTime(), nullable=True),
        sa.Column('valid_until', UtcDateTime(), nullable=False),
        sa.Column('reported_at', UtcDateTime(), nullable=True),
        sa.Column('played_at', UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('seq'),
    )
    op.create_index('ix_sms_orders_device_id', 'sms_orders', ['device_id'])
    op.create_index('ix_sms_orders_broadcast_id', 'sms_orders', ['broadcast_id'])
    op.create_index('ix_sms_orders_created_at', 'sms_orders', ['created_at'])


def downgrade() -> None:
    op.drop_table('sms_orders')
    op.drop_table('pinned_messages')
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('phone')
