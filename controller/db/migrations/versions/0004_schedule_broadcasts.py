"""broadcasts of schedule occurrences: longer play ids, schedule name

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 21:15:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.alter_column('broadcast_id', type_=sa.String(length=80),
                              existing_type=sa.String(length=40), existing_nullable=False)
    with op.batch_alter_table('commands') as batch_op:
        batch_op.alter_column('broadcast_id', type_=sa.String(length=80),
                              existing_type=sa.String(length=40), existing_nullable=True)
    with op.batch_alter_table('broadcasts') as batch_op:
        batch_op.alter_column('id', type_=sa.String(length=80),
                              existing_type=sa.String(length=40), existing_nullable=False)
        batch_op.add_column(sa.Column('schedule', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_broadcasts_schedule', ['schedule'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch_op:
        batch_op.drop_index('ix_broadcasts_schedule')
        batch_op.drop_column('schedule')
