"""zones.languages: the languages a village hears, in order, so a bulletin's language
versions are routed by village (a Hmong village the Hmong version, a mixed village both)

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


def downgrade() -> None:
    with op.batch_alter_table('zones') as batch:
        batch.drop_column('languages')
