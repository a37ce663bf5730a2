"""agent releases and their rollouts in waves (signed updates)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 12:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agent_releases',
        sa.Column('version', sa.String(40), nullable=False),
        sa.Column('filename', sa.String(200), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('notes', sa.String(500), nullable=False),
        sa.Column('uploaded_by', sa.String(80), nullable=False),
        sa.Column('uploaded_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('version'),
        sa.UniqueConstraint('filename'),
    )
    op.create_table(
        'rollouts',
        sa.Column('id', sa.String(40), nullable=False),
        sa.Column('version', sa.String(40), nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('wave', sa.Integer(), nullable=False),
        sa.Column('waves', sa.Integer(), nullable=False),
        sa.Column('wave_at', UtcDateTime(), nullable=False),
        sa.Column('zone_id', sa.String(64), nullable=True),
        sa.Column('confirm_s', sa.Integer(), nullable=False),
        sa.Column('wave_timeout_s', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(300), nullable=False),
        sa.Column('created_by', sa.String(80), nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('finished_at', UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['version'], ['agent_releases.version']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_rollouts_version', 'rollouts', ['version'])
    op.create_index('ix_rollouts_state', 'rollouts', ['state'])
    op.create_table(
        'rollout_targets',
        sa.Column('rollout_id', sa.String(40), nullable=False),
        sa.Column('device_id', sa.String(64), nullable=False),
        sa.Column('wave', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('from_version', sa.String(40), nullable=False),
        sa.Column('cmd_id', sa.String(80), nullable=True),
        sa.Column('sent_at', UtcDateTime(), nullable=True),
        sa.Column('done_at', UtcDateTime(), nullable=True),
        sa.Column('reason', sa.String(40), nullable=False),
        sa.Column('detail', sa.String(300), nullable=False),
        sa.ForeignKeyConstraint(['rollout_id'], ['rollouts.id']),
        sa.PrimaryKeyConstraint('rollout_id', 'device_id'),
    )


def downgrade() -> None:
    op.drop_table('rollout_targets')
    op.drop_index('ix_rollouts_state', 'rollouts')
    op.drop_index('ix_rollouts_version', 'rollouts')
    op.drop_table('rollouts')
    op.drop_table('agent_releases')
