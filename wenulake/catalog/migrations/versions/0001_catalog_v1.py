"""Catalog contract v1: companies, sites, devices, sensors, thresholds.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("company_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
    )
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("company_id", sa.String(64), sa.ForeignKey("companies.company_id"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.site_id"), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True)),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "sensors",
        sa.Column("sensor_id", sa.String(96), primary_key=True),
        sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.device_id"), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scale", sa.Float, nullable=False),
        sa.Column("offset", sa.Float, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_sensors_device_channel", "sensors", ["device_id", "channel"])
    op.create_table(
        "thresholds",
        sa.Column("threshold_id", sa.String(160), primary_key=True),
        sa.Column("sensor_id", sa.String(96), sa.ForeignKey("sensors.sensor_id")),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("min_value", sa.Float),
        sa.Column("max_value", sa.Float),
        sa.Column("severity", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    for table in ("thresholds", "sensors", "devices", "sites", "companies"):
        op.drop_table(table)
