"""devices.kind (cluster, receiver, stream_only) and devices.household (a home receiver's
knob and switch); broadcasts.public and public_slug (the public page and feed);
listener_sessions (Icecast's listener records: a stream-only receiver's proof)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 23:00:00
"""
import secrets

from alembic import op
import sqlalchemy as sa

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.add_column(
            sa.Column('kind', sa.String(16), nullable=False, server_default='cluster')
        )
        batch.add_column(sa.Column('household', sa.JSON(), nullable=True))
    with op.batch_alter_table('broadcasts') as batch:
        batch.add_column(sa.Column('public', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('public_slug', sa.String(24), nullable=True))
    broadcasts = sa.table('broadcasts', sa.column('id', sa.String), sa.column('public_slug'))
    bind = op.get_bind()
    for (broadcast_id,) in bind.execute(sa.select(broadcasts.c.id)).all():
        bind.execute(
            broadcasts.update()
            .where(broadcasts.c.id == broadcast_id)
            .values(public_slug=secrets.token_urlsafe(12))
        )
    op.create_index('ix_broadcasts_public_slug', 'broadcasts', ['public_slug'], unique=True)
    op.create_table(
        'listener_sessions',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('mount', sa.String(120), nullable=False),
        sa.Column('client', sa.String(40), nullable=False),
        sa.Column('device_id', sa.String(64), sa.ForeignKey('devices.id'), nullable=True),
        sa.Column('connected_at', sa.DateTime(), nullable=False),
        sa.Column('disconnected_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_listener_sessions_client', 'listener_sessions', ['client'])
    op.create_index('ix_listener_sessions_device_id', 'listener_sessions', ['device_id'])
    op.create_index('ix_listener_sessions_connected_at', 'listener_sessions', ['connected_at'])


def downgrade() -> None:
    op.drop_table('listener_sessions')
    op.drop_index('ix_broadcasts_public_slug', 'broadcasts')
    with op.batch_alter_table('broadcasts') as batch:
        batch.drop_column('public_slug')
        batch.drop_column('public')
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('household')
        batch.drop_column('kind')
