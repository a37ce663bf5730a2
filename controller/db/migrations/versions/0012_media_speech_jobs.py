"""media: loudness after encoding, a warning, language and the text it was spoken from; jobs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.db.models import UtcDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('media') as batch:
        batch.add_column(sa.Column('true_peak_out_dbtp', sa.Float(), nullable=True))
        batch.add_column(sa.Column('loudness_warning', sa.String(60), nullable=True))
        batch.add_column(sa.Column('language', sa.String(16), nullable=False,
                                   server_default='vi'))
        batch.add_column(sa.Column('text', sa.Text(), nullable=True))
        batch.add_column(sa.Column('voice', sa.String(80), nullable=True))
        batch.add_column(sa.Column('parts', sa.JSON(), nullable=True))
    op.create_table(
        'media_jobs',
        sa.Column('id', sa.String(32), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('stage', sa.String(20), nullable=False),
        sa.Column('progress', sa.Float(), nullable=False),
        sa.Column('title', sa.String(200), nullable=False),
        sa.Column('media_sha256', sa.String(64), nullable=True),
        sa.Column('broadcast_id', sa.String(80), nullable=True),
        sa.Column('error_key', sa.String(80), nullable=True),
        sa.Column('error_params', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('updated_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_media_jobs_state', 'media_jobs', ['state'])


def downgrade() -> None:
    op.drop_index('ix_media_jobs_state', 'media_jobs')
    op.drop_table('media_jobs')
    with op.batch_alter_table('media') as batch:
        for column in ('parts', 'voice', 'text', 'language', 'loudness_warning',
                       'true_peak_out_dbtp'):
            batch.drop_column(column)
