"""Catalog schema (SQLAlchemy Core). Alembic migrations in `migrations/` create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

companies = Table(
    "companies",
    metadata,
    Column("company_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default=text("1")),
)

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("company_id", String(64), ForeignKey("companies.company_id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default=text("1")),
)

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("site_id", String(64), ForeignKey("sites.site_id"), nullable=False),
    Column("installed_at", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # the device's expected reporting interval, seconds; null = the gap rule learns it (sql/alarms/cadence.sql)
    Column("report_interval_s", Integer),
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
    Column("version", Integer, nullable=False, server_default=text("1")),
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
    Column("retired_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default=text("1")),
)

technicians = Table(
    "technicians",
    metadata,
    Column("technician_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("company", String(256), nullable=False),  # the contractor they work for
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1")),
)

materials = Table(
    "materials",
    metadata,
    Column("material_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("unit", String(32), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default=text("1")),
)

# -- the catalog service: people, tokens, the audit log and the work changes queue ----------------------------
users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(16), nullable=False),  # admin | operator | viewer
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the token: the token itself is never kept
    Column("username", String(64), ForeignKey("users.username"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # create | update | version | retire | load-*
    Column("resource", String(32), nullable=False),
    Column("object_id", String(160), nullable=False),
    Column("before", Text),  # JSON of the row before, null for a creation
    Column("after", Text),  # JSON of the row after, null for a removal
    Index("ix_audit_object", "resource", "object_id"),
)

catalog_jobs = Table(
    "catalog_jobs",
    metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # replay
    Column("params", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # queued | running | done | failed
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("result", Text),
)

#: Load order (parents first); deletes go in reverse.
TABLES = (companies, sites, devices, sensors, thresholds, technicians, materials)

#: Tables whose CSV may be absent from a catalog directory: the table is then left as it is (a sensors-only
#: catalog sync does not wipe the field-service catalog).
OPTIONAL_TABLES = ("technicians", "materials")

#: CSV columns a file may leave out (read as empty: the column's default).
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"devices": ("report_interval_s",)}

#: CSV columns per table (contract v1), in file order. `threshold_id` is derived, not in the CSV.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "companies": ("company_id", "name"),
    "sites": ("site_id", "company_id", "name", "timezone"),
    "devices": ("device_id", "site_id", "installed_at", "retired_at", "report_interval_s"),
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
