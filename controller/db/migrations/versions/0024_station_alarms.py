"""station alarms: an alarm without a device (a service the controller runs keeps dying)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.alter_column('device_id', existing_type=sa.String(64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM alarms WHERE device_id IS NULL")
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.alter_column('device_id', existing_type=sa.String(64), nullable=False)
