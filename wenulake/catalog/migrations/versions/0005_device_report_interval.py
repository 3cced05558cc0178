"""Devices get an optional expected reporting interval (`report_interval_s`, seconds) for the gap rule; null =
the alarms stage learns it from the device's messages.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("report_interval_s", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("report_interval_s")
