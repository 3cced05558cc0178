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

from wenulake.contracts import warehouse as contract
from wenulake.errors import ConfigError, WenulakeError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from wenulake.settings import Settings

#: table -> columns of the analysts' tables (load order: dimensions first), from the contract
COLUMNS: dict[str, tuple[str, ...]] = {t.name: t.column_names for t in contract.TABLES if not t.schema}


@dataclass(frozen=True)
class LoadSpec:
    """How a table is replaced: `keys` = delete the rows matching the staged keys, then insert;
    `all` = the staged rows are the whole table."""

    table: str
    key_columns: tuple[str, ...]
    mode: str  # "keys" | "all"


LOADS: tuple[LoadSpec, ...] = tuple(
    LoadSpec(t.name, t.load.keys, t.load.mode) for t in contract.TABLES if t.load is not None
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
OPS_TABLES = tuple(t.short_name for t in contract.TABLES if t.schema == "ops")


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
