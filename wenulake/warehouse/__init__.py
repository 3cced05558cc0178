"""The warehouse: a star schema loaded the Redshift way (stage files -> temporary staging table -> COPY -> one
transaction replacing exactly the touched keys). DuckDB file by default; see `duckdb_backend`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: table -> columns (load order: dimensions first)
COLUMNS: dict[str, tuple[str, ...]] = {
    "dim_company": ("company_id", "name"),
    "dim_site": ("site_id", "company_id", "name", "timezone"),
    "dim_device": ("device_id", "site_id", "company_id", "installed_at", "retired_at"),
    "dim_sensor": (
        "sensor_id",
        "device_id",
        "site_id",
        "company_id",
        "channel",
        "metric",
        "raw_unit",
        "unit",
        "kind",
        "scale",
        "offset",
        "valid_from",
        "valid_to",
    ),
    "dim_threshold": ("threshold_id", "sensor_id", "metric", "min_value", "max_value", "severity"),
    "dim_date": ("date_key", "year", "quarter", "month", "day", "iso_week", "day_of_week", "is_weekend"),
    "fact_reading": (
        "sensor_id",
        "ts",
        "local_date",
        "value",
        "raw_value",
        "device_id",
        "site_id",
        "company_id",
        "metric",
        "unit",
        "message_id",
        "received_at",
    ),
}


@dataclass(frozen=True)
class LoadSpec:
    """How a table is replaced: `keys` = delete the rows matching the staged keys, then insert;
    `all` = the staged rows are the whole table."""

    table: str
    key_columns: tuple[str, ...]
    mode: str  # "keys" | "all"


LOADS: tuple[LoadSpec, ...] = (
    LoadSpec("dim_company", ("company_id",), "all"),
    LoadSpec("dim_site", ("site_id",), "all"),
    LoadSpec("dim_device", ("device_id",), "all"),
    LoadSpec("dim_sensor", ("sensor_id",), "all"),
    LoadSpec("dim_threshold", ("threshold_id",), "all"),
    LoadSpec("dim_date", ("date_key",), "keys"),
    LoadSpec("fact_reading", ("sensor_id", "local_date"), "keys"),
)

WAREHOUSE_TABLES = tuple(COLUMNS)


@dataclass
class LoadResult:
    table: str
    rows_deleted: int
    rows_inserted: int
    seconds: float
