"""broadcast titles without accents, so the history finds "tiem" in "Tiêm phòng"

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 14:00:00
"""
from alembic import op
import sqlalchemy as sa

from controller.domain.text import fold

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.add_column(
            sa.Column('title_folded', sa.String(200), nullable=False, server_default='')
        )
    broadcasts = sa.table(
        'broadcasts', sa.column('id', sa.String), sa.column('title', sa.String),
        sa.column('title_folded', sa.String),
    )
    bind = op.get_bind()
    for row_id, title in bind.execute(sa.select(broadcasts.c.id, broadcasts.c.title)).all():
        bind.execute(
            broadcasts.update()
            .where(broadcasts.c.id == row_id)
            .values(title_folded=fold(title or '')[:200])
        )


def downgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.drop_column('title_folded')
