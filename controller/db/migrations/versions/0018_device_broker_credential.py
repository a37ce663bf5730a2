"""devices: the broker credential's hash (Mosquitto's password file is made from it)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 15:55:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('mqtt_password_hash', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('mqtt_password_hash')
