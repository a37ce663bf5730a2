"""zones.languages: the languages a village hears, in order, so a bulletin's language
versions are routed by village (a Hmong village the Hmong version, a mixed village both);
media.variants: the versions joined per choice; deliveries.media_sha256: what each device plays

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 20:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('zones') as batch:
        batch.add_column(sa.Column('languages', sa.JSON(), nullable=False, server_default='["vi"]'))
    with op.batch_alter_table('media') as batch:
        batch.add_column(sa.Column('variants', sa.JSON(), nullable=True))
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('media_sha256', sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('media_sha256')
    with op.batch_alter_table('media') as batch:
        batch.drop_column('variants')
    with op.batch_alter_table('zones') as batch:
        batch.drop_column('languages')
