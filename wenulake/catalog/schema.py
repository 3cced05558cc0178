"""Catalog schema (SQLAlchemy Core). Alembic migrations in `migrations/` create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

companies = Table(
    "companies",
    metadata,
    Column("company_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("company_id", String(64), ForeignKey("companies.company_id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("timezone", String(64), nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("site_id", String(64), ForeignKey("sites.site_id"), nullable=False),
    Column("installed_at", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True)),
)

sensors = Table(
    "sensors",
    metadata,
    Column("sensor_id", String(96), primary_key=True),
    Column("device_id", String(64), ForeignKey("devices.device_id"), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scale", Float, nullable=False),
    Column("offset", Float, nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    Index("ix_sensors_device_channel", "device_id", "channel"),
)

thresholds = Table(
    "thresholds",
    metadata,
    # natural key: (sensor_id or '*' for the metric's default, metric, severity)
    Column("threshold_id", String(160), primary_key=True),
    Column("sensor_id", String(96), ForeignKey("sensors.sensor_id")),
    Column("metric", String(32), nullable=False),
    Column("min_value", Float),
    Column("max_value", Float),
    Column("severity", String(16), nullable=False),
)

technicians = Table(
    "technicians",
    metadata,
    Column("technician_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("company", String(256), nullable=False),  # the contractor they work for
    Column("active", Boolean, nullable=False),
)

materials = Table(
    "materials",
    metadata,
    Column("material_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("unit", String(32), nullable=False),
)

#: Load order (parents first); deletes go in reverse.
TABLES = (companies, sites, devices, sensors, thresholds, technicians, materials)

#: Tables whose CSV may be absent from a catalog directory: the table is then left as it is (a sensors-only
#: catalog sync does not wipe the field-service catalog).
OPTIONAL_TABLES = ("technicians", "materials")

#: CSV columns per table (contract v1), in file order. `threshold_id` is derived, not in the CSV.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "companies": ("company_id", "name"),
    "sites": ("site_id", "company_id", "name", "timezone"),
    "devices": ("device_id", "site_id", "installed_at", "retired_at"),
    "sensors": (
        "sensor_id",
        "device_id",
        "channel",
        "metric",
        "unit",
        "kind",
        "scale",
        "offset",
        "valid_from",
        "valid_to",
    ),
    "thresholds": ("sensor_id", "metric", "min_value", "max_value", "severity"),
    "technicians": ("technician_id", "name", "company", "active"),
    "materials": ("material_id", "name", "unit"),
}

SEVERITIES = ("info", "warning", "critical")


def threshold_id(sensor_id: str | None, metric: str, severity: str) -> str:
    return f"{sensor_id or '*'}:{metric}:{severity}"
