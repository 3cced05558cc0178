"""The warehouse: a star schema loaded the Redshift way (stage files -> staging table -> COPY -> one transaction
replacing exactly the touched keys). Three backends behind one interface (`Warehouse`, `backend(settings)`):

- `duckdb_backend`: the embedded default, `$WENULAKE_HOME/warehouse.duckdb`; loads go to a private loader file
  and are published as an atomic snapshot (ADR 0007);
- `postgres_backend`: `WENULAKE_WAREHOUSE_URL=postgresql://...`; loads COPY into a run's staging schema and
  are published by one merge transaction (ADR 0008);
- `redshift_backend`: `WENULAKE_WAREHOUSE_URL=redshift://...`; the PostgreSQL backend's steps with COPY from the
  S3 stage (`format as parquet`) and MERGE or delete + insert generated from the same definitions (ADR 0017).

In both, `load` leaves the analysts' state untouched, the gold gate validates the loaded state through
`gate_query`, and `publish` or `discard` ends the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wenulake.errors import ConfigError, WenulakeError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from wenulake.settings import Settings

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
    **{
        f"stats_{grain}": (
            "sensor_id",
            period,
            "n",
            "min_value",
            "max_value",
            "avg_value",
            "consumption",
            "device_id",
            "site_id",
            "company_id",
            "metric",
            "unit",
            "kind",
            "period_end",
        )
        for grain, period in (("hourly", "hour_utc"), ("daily", "local_date"))
    },
    "stats_daily_site": (
        "site_id",
        "local_date",
        "metric",
        "unit",
        "sensors",
        "n",
        "min_value",
        "max_value",
        "avg_value",
        "consumption",
        "company_id",
    ),
    "stats_daily_company": (
        "company_id",
        "local_date",
        "metric",
        "unit",
        "sensors",
        "n",
        "min_value",
        "max_value",
        "avg_value",
        "consumption",
    ),
}

COLUMNS["fact_alarm"] = (
    "alarm_id",
    "rule",
    "severity",
    "sensor_id",
    "device_id",
    "site_id",
    "company_id",
    "started_at",
    "ended_at",
    "peak_value",
    "status",
    "opened_run",
    "closed_run",
)

COLUMNS["dim_technician"] = ("technician_id", "name", "company", "active")
COLUMNS["dim_material"] = ("material_id", "name", "unit")
COLUMNS["fact_work_order"] = (
    "order_id",
    "status",
    "client_id",
    "site_id",
    "device_id",
    "alarm_id",
    "source",
    "priority",
    "description",
    "sla_hours",
    "created_at",
    "assigned_at",
    "started_at",
    "completed_at",
    "cancelled_at",
    "cancel_reason",
    "technician_id",
    "resolution",
    "sla_due_at",
    "sla_met",
    "time_to_assign",
    "time_to_repair",
    "materials",
    "material_quantity",
    "evidence_count",
    "events",
    "last_event_at",
)
COLUMNS["fact_work_order_event"] = (
    "event_id",
    "order_id",
    "event_type",
    "occurred_at",
    "technician_id",
    "status",
    "sequence",
    "delivery",
    "arrival_hour",
)


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
    LoadSpec("stats_hourly", ("sensor_id", "hour_utc"), "keys"),
    LoadSpec("stats_daily", ("company_id", "local_date"), "keys"),
    LoadSpec("stats_daily_site", ("company_id", "local_date"), "keys"),
    LoadSpec("stats_daily_company", ("company_id", "local_date"), "keys"),
)

WAREHOUSE_TABLES = tuple(COLUMNS)
#: the tables the sensors DAG loads (fact_alarm is loaded by the alarms DAG, the work-order tables by the workorders
#: DAG: `Warehouse.replace_tables`)
SENSORS_TABLES = tuple(spec.table for spec in LOADS)


@dataclass
class LoadResult:
    table: str
    rows_deleted: int
    rows_inserted: int
    seconds: float


#: {table: (rows file, keys file or None)}: the stage files of one load
Staged = dict[str, tuple[str, str | None]]


class SchemaDrift(ConfigError):
    """The staged rows and the warehouse's tables disagree on a column; detected before anything is loaded
    (a retry cannot fix it: the task fails at once)."""


class WarehouseUnavailable(WenulakeError):
    """The warehouse server cannot be reached (the task retries; the lake keeps its state)."""


class Warehouse(Protocol):
    """What the pipeline and the readers need from a warehouse backend."""

    kind: str

    def ensure(self) -> None:
        """Every table of sql/warehouse/ddl exists (a query never fails for a table no load has filled)."""

    def table_columns(self) -> dict[str, dict[str, str]]:
        """{table: {column: type family}} of the tables loads write to (see `type_family`)."""

    def covered_runs(self) -> set[str]:
        """The runs whose touched partitions the published warehouse already holds (ops.warehouse_coverage)."""

    def load(self, staged: Staged, run_id: str, sources: list[str]) -> list[LoadResult]:
        """Bulk-load the stage files without changing what analysts see; all or nothing."""

    def gate_query(self, sql: str, run_id: str, keys: pa.Table) -> pa.Table:
        """Run a gate query (DuckDB SQL) on run_id's loaded, unpublished state, with `fact_reading` and
        `dim_sensor` by plain name and `touched_keys` holding the replaced partitions."""

    def replace_table(self, table: str, rows: str, run_id: str) -> LoadResult:
        """Replace a whole table with a stage file, visible to analysts at once, in one transaction and
        without publishing any other load in progress (the alarms DAG's fact_alarm)."""

    def replace_tables(self, staged: dict[str, str], run_id: str) -> list[LoadResult]:
        """`replace_table` for several tables ({table: stage file}) in one transaction (the work orders)."""

    def publish(self, run_id: str) -> list[LoadResult]:
        """Make the loaded state the analysts' state, atomically."""

    def discard(self, run_id: str) -> None:
        """Throw the loaded, unpublished state away (a failed gate)."""

    def attach(self, con: duckdb.DuckDBPyConnection) -> str:
        """Attach the published warehouse read-only to a DuckDB session; return the schema holding its tables."""

    def maintain(self, dry_run: bool = False) -> list[str]:
        """The backend's own upkeep (statistics, space); returns what it did (or would do)."""


def backend(settings: Settings) -> Warehouse:
    """The warehouse WENULAKE_WAREHOUSE_URL names: unset = the DuckDB file, postgresql:// = that server."""
    url = settings.warehouse_url
    if not url:
        from wenulake.warehouse.duckdb_backend import DuckDBWarehouse

        return DuckDBWarehouse(settings)
    if url.split("://", 1)[0] in ("postgresql", "postgres", "postgresql+psycopg"):
        from wenulake.warehouse.postgres_backend import PostgresWarehouse

        return PostgresWarehouse(settings, url)
    if url.split("://", 1)[0] == "redshift":
        from wenulake.warehouse.redshift_backend import RedshiftWarehouse

        return RedshiftWarehouse(settings, url)
    raise ConfigError(
        f"WENULAKE_WAREHOUSE_URL: unsupported scheme {url.split(':', 1)[0]!r}; use postgresql://..., "
        "redshift://... or unset it for the DuckDB file"
    )


#: tables of the warehouse's ops schema (the rest are in the default schema, by plain name)
OPS_TABLES = ("warehouse_load", "warehouse_coverage")


# -- schema drift ----------------------------------------------------------------------------------------------
_FAMILIES = (
    ("timestamptz", ("timestamp with time zone", "timestamptz", "timestamp[us, tz=", "timestamp[ns, tz=")),
    ("timestamp", ("timestamp",)),
    ("text", ("varchar", "character varying", "text", "string", "large_string", "char")),
    ("float", ("double", "float", "real")),
    ("integer", ("integer", "bigint", "smallint", "int", "tinyint", "hugeint")),
    ("decimal", ("decimal", "numeric")),
    ("date", ("date",)),
    ("boolean", ("bool",)),
)


def type_family(declared: str) -> str:
    """A SQL or Arrow type name -> the family loads care about: `character varying(64)`, `VARCHAR` and Arrow
    `string` are all `text`; `double precision`, `DOUBLE` and `double` are `float`."""
    name = declared.strip().lower()
    for family, prefixes in _FAMILIES:
        if name.startswith(prefixes):
            return family
    return name


def check_drift(table: str, staged: pa.Schema, warehouse: dict[str, str]) -> None:
    """Raise SchemaDrift naming the first column where the staged rows (from silver and the catalog), the
    contract (`COLUMNS`) and the warehouse table disagree."""
    staged_types = {field.name: type_family(str(field.type)) for field in staged}
    for column in COLUMNS[table]:
        if column not in warehouse:
            raise SchemaDrift(
                f"schema drift: column {table}.{column} is missing from the warehouse table "
                "(its DDL in sql/warehouse/ddl is newer than the table: migrate it), nothing loaded"
            )
        if column not in staged_types:
            raise SchemaDrift(
                f"schema drift: column {table}.{column} is missing from the staged rows, nothing loaded"
            )
        if staged_types[column] not in ("null", warehouse[column]):
            raise SchemaDrift(
                f"schema drift: column {table}.{column} is {staged_types[column]} in the staged rows but "
                f"{warehouse[column]} in the warehouse, nothing loaded"
            )
    extra = [c for c in warehouse if c not in COLUMNS[table]]
    if extra:
        raise SchemaDrift(
            f"schema drift: column {table}.{extra[0]} is in the warehouse table but not in the load contract "
            "(wenulake.warehouse.COLUMNS), nothing loaded"
        )
