"""commands keep their signed bytes and state (queued while the broker is down); plans too

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('commands') as batch:
        batch.add_column(sa.Column('seq_key', sa.String(100), nullable=False, server_default=''))
        batch.add_column(sa.Column('topic', sa.String(200), nullable=False, server_default=''))
        batch.add_column(sa.Column('retain', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('data', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('state', sa.String(12), nullable=False,
                                   server_default='published'))
        batch.add_column(sa.Column('published_at', UtcDateTime(), nullable=True))
        batch.create_index('ix_commands_seq_key', ['seq_key'])
        batch.create_index('ix_commands_state', ['state'])
    with op.batch_alter_table('device_plans') as batch:
        batch.add_column(sa.Column('data', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('data_sha256', sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('device_plans') as batch:
        batch.drop_column('data_sha256')
        batch.drop_column('data')
    with op.batch_alter_table('commands') as batch:
        batch.drop_index('ix_commands_state')
        batch.drop_index('ix_commands_seq_key')
        for column in ('published_at', 'state', 'data', 'retain', 'topic', 'seq_key'):
            batch.drop_column(column)
