"""Redshift warehouse: `WENULAKE_WAREHOUSE_URL=redshift://USER@HOST:5439/DB` (Redshift Serverless in AWS).

The PostgreSQL backend's load, gate and publish steps with Redshift's own bulk path:
- `load`: one transaction creates the run's staging schema (`wenulake_stage_<hash>`, as on PostgreSQL) with one
  table per staged table, created from the target's columns in the load contract's order
  (`create table ... as select <COLUMNS> from public.<t> where 1 = 0`), and fills each with
  `copy <staging> from 's3://<stage>/...' iam_role <WENULAKE_WAREHOUSE_COPY_ROLE> format as parquet`:
  Redshift's compute nodes read the stage files (the Parquet columns map by position, so the file's columns
  are checked against the contract's order first);
- `publish`: ONE transaction per load, statements generated per table from the same definitions the PostgreSQL
  backend uses (`wenulake.warehouse.COLUMNS`, `LOADS`, the primary keys of `sql/warehouse/ddl/`):
  * a table whose staged rows are the whole table (`all`: the dimensions) -> `delete` + `insert`;
  * a table replaced by key whose key is its primary key and whose keys are the staged rows' own (`dim_date`)
    -> Redshift's `merge ... when matched then update ... when not matched then insert`;
  * any other keyed table (partitions of facts and stats, where a touched key may have lost all its rows) ->
    `delete ... using <keys>` + `insert`: MERGE cannot delete target rows the source no longer has.
  then ops.warehouse_load / ops.warehouse_coverage and `drop schema`.

The gold gate reads the staged fact and sensor rows over the connection in batches (DuckDB's postgres extension,
which the PostgreSQL backend uses, needs COPY TO STDOUT: Redshift has none) and runs its DuckDB SQL on them.

Not run against Redshift (none is reachable here): the COPY statement, the DDL and every other statement on
Redshift itself. The tests check the generated statements word for word and run everything but the COPY on
PostgreSQL 15 (which has MERGE), comparing the result with the PostgreSQL backend's on the same load.
See docs/adr/0017-emr-serverless-and-redshift.md.
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from wenulake.errors import ConfigError, WenulakeError
from wenulake.settings import Settings, is_s3
from wenulake.storage import open_parquet
from wenulake.warehouse import (
    COLUMNS,
    LOADS,
    LoadResult,
    LoadSpec,
    SchemaDrift,
    Staged,
    WarehouseUnavailable,
    check_drift,
)
from wenulake.warehouse.postgres_backend import PUBLIC, PostgresWarehouse, _quote, stage_schema

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("redshift",)
GATE_BATCH_ROWS = 50_000
DEFAULT_PORT = 5439


def connection_url(url: str) -> str:
    """redshift://user@host[:port]/db?... -> the libpq URL psycopg connects with (Redshift speaks its protocol)."""
    scheme, rest = url.split("://", 1)
    if scheme not in SCHEMES:
        raise ConfigError(f"not a Redshift URL: {scheme}://...")
    head, _, tail = rest.partition("/")
    if not re.search(r":\d+$", head):
        head = f"{head}:{DEFAULT_PORT}"
    return f"postgresql://{head}/{tail}"


# -- the table definitions the statements are generated from -------------------------------------------------
_INLINE_PK = re.compile(r"^[ \t]*(\w+)[ \t]+[^,\n]*\bprimary key\b", re.IGNORECASE | re.MULTILINE)
_TABLE_PK = re.compile(r"\bprimary key\s*\(([^)]*)\)", re.IGNORECASE)
_TABLE = re.compile(r"create table if not exists (\w+(?:\.\w+)?)", re.IGNORECASE)


@functools.cache
def primary_keys(ddl_dir: Path) -> dict[str, tuple[str, ...]]:
    """{table: primary key columns} as `sql/warehouse/ddl/*.sql` declare them (inline or as a table constraint)."""
    keys: dict[str, tuple[str, ...]] = {}
    for path in sorted(ddl_dir.glob("*.sql")):
        text = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
        table = _TABLE.search(text)
        if not table:
            continue
        constraint = _TABLE_PK.search(text)
        inline = _INLINE_PK.search(text)
        if constraint:
            keys[table[1]] = tuple(c.strip() for c in constraint[1].split(","))
        elif inline:
            keys[table[1]] = (inline[1],)
    return keys


def _names(columns: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(prefix + _quote(c) for c in columns)


def _on(columns: tuple[str, ...], left: str, right: str) -> str:
    return " and ".join(f"{left}.{_quote(c)} = {right}.{_quote(c)}" for c in columns)


def create_staging_sql(target: str, table: str, columns: tuple[str, ...] | None = None) -> str:
    """An empty staging table with the target's column types, in the contract's column order."""
    return f"create table {target} as select {_names(columns or COLUMNS[table])} from {PUBLIC}.{table} where 1 = 0"


def copy_sql(target: str, location: str, copy_role: str) -> str:
    """Redshift's bulk load of one stage file (Parquet columns by position)."""
    role = "default" if copy_role == "default" else "'" + copy_role.replace("'", "''") + "'"
    uri = location.replace("'", "''")
    return f"copy {target} from '{uri}' iam_role {role} format as parquet"


def load_strategy(spec: LoadSpec, pk: tuple[str, ...] | None, has_keys_file: bool) -> str:
    """`replace` (delete all + insert), `merge` (MERGE on the primary key) or `delete_insert` (by key)."""
    if spec.mode == "all":
        return "replace"
    if pk is not None and set(pk) == set(spec.key_columns) and not has_keys_file:
        return "merge"
    return "delete_insert"


def publish_sql(spec: LoadSpec, staged: str, strategy: str) -> list[str]:
    """The statements that make the rows of the staging table `staged` (keys in `<staged>__keys`) the published
    rows of `spec.table`, run inside one transaction."""
    table = spec.table
    target = f"{PUBLIC}.{table}"
    columns = COLUMNS[table]
    insert = f"insert into {target} ({_names(columns)}) select {_names(columns)} from {staged}"
    if strategy == "replace":
        return [f"delete from {target}", insert]
    if strategy == "delete_insert":
        return [
            f"delete from {target} using {staged}__keys k where {_on(spec.key_columns, target, 'k')}",
            insert,
        ]
    if strategy == "merge":
        others = [c for c in columns if c not in spec.key_columns]
        update = ", ".join(f"{_quote(c)} = s.{_quote(c)}" for c in others)
        return [
            f"merge into {target} using {staged} s on {_on(spec.key_columns, target, 's')} "
            f"when matched then update set {update} "
            f"when not matched then insert ({_names(columns)}) values ({_names(columns, 's.')})"
        ]
    raise ValueError(f"unknown load strategy {strategy!r}")


class RedshiftWarehouse(PostgresWarehouse):
    kind = "redshift"
    #: Redshift vacuums (sorts and reclaims) automatically in the background; maintenance refreshes statistics
    maintenance_verb = "analyze"

    def __init__(self, settings: Settings, url: str) -> None:
        super().__init__(settings, connection_url(url))  # IAM temporary credentials apply as for PostgreSQL
        self.copy_role = settings.warehouse_copy_role

    # -- schema ------------------------------------------------------------------------------------------------
    def ensure(self) -> None:
        """The DDL of sql/warehouse/ddl (Redshift reads its keys as informational); no PostgreSQL indexes,
        no advisory lock (Redshift serialises DDL itself)."""
        if self._ensured:
            return
        from wenulake.warehouse.duckdb_backend import ddl_statements

        with self._transaction("creating the warehouse tables") as con:
            con.execute("create schema if not exists ops")
            for statement in ddl_statements(self.settings):
                con.execute(statement)
        self._ensured = True

    def _primary_keys(self) -> dict[str, tuple[str, ...]]:
        return primary_keys(self.settings.sql_dir / "warehouse" / "ddl")

    # -- load --------------------------------------------------------------------------------------------------
    def _fill(
        self, con: psycopg.Connection[Any], target: str, columns: tuple[str, ...], location: str
    ) -> int:
        """COPY one stage file from S3 into `target` (its columns already in the file's order)."""
        if not is_s3(location):
            raise ConfigError(
                f"the Redshift warehouse loads stage files from S3: {location} is local (set WENULAKE_STAGE to an "
                "s3:// URL the COPY role can read)"
            )
        con.execute(copy_sql(target, location, self.copy_role))
        row = con.execute(f"select count(*) from {target}").fetchone()
        return int(row[0]) if row else 0

    def _check_order(self, table: str, columns: tuple[str, ...], location: str) -> None:
        names = tuple(open_parquet(location, self.settings).schema_arrow.names)
        if names != columns:
            raise SchemaDrift(
                f"schema drift: the stage file of {table} has columns {list(names)}, COPY ... format as parquet "
                f"maps them by position onto {list(columns)}, nothing loaded"
            )

    def load(self, staged: Staged, run_id: str, sources: list[str]) -> list[LoadResult]:
        columns_of = self.table_columns()
        specs = {spec.table: spec for spec in LOADS}
        for table, (rows, keys) in staged.items():
            check_drift(table, open_parquet(rows, self.settings).schema_arrow, columns_of[table])
            self._check_order(table, COLUMNS[table], rows)
            if keys:
                self._check_order(table, specs[table].key_columns, keys)
        schema = _quote(stage_schema(run_id))
        results: list[LoadResult] = []
        current = "?"
        try:
            with self._transaction("warehouse load") as con:
                con.execute(f"drop schema if exists {schema} cascade")
                con.execute(f"create schema {schema}")
                con.execute(f"create table {schema}.sources (source_run_id varchar(256) not null)")
                for source in sources:
                    con.execute(f"insert into {schema}.sources values (%s)", [source])
                for spec in LOADS:
                    if spec.table not in staged:
                        continue
                    current = spec.table
                    rows, keys = staged[spec.table]
                    started = time.perf_counter()
                    con.execute(create_staging_sql(f"{schema}.{spec.table}", spec.table))
                    inserted = self._fill(con, f"{schema}.{spec.table}", COLUMNS[spec.table], rows)
                    if spec.mode == "keys":
                        target = f"{schema}.{spec.table}__keys"
                        con.execute(create_staging_sql(target, spec.table, spec.key_columns))
                        if keys:
                            self._fill(con, target, spec.key_columns, keys)
                            con.execute(f"create table {schema}.{spec.table}__has_keys_file (x integer)")
                        else:
                            key_list = _names(spec.key_columns)
                            con.execute(
                                f"insert into {target} ({key_list}) select distinct {key_list} "
                                f"from {schema}.{spec.table}"
                            )
                    results.append(
                        LoadResult(spec.table, 0, inserted, round(time.perf_counter() - started, 3))
                    )
        except WenulakeError as exc:
            if isinstance(exc, WarehouseUnavailable | ConfigError):
                raise
            raise WenulakeError(f"warehouse load failed at {current}, nothing changed: {exc}") from exc
        return results

    # -- gate --------------------------------------------------------------------------------------------------
    #: the staged tables the gold gate's queries read by plain name (sql/warehouse/gate)
    GATE_TABLES = ("fact_reading", "dim_sensor")

    def gate_query(self, sql: str, run_id: str, keys: pa.Table) -> pa.Table:
        """Run a gate query (DuckDB SQL) on the run's staged rows: DuckDB's postgres extension needs COPY TO
        STDOUT, which Redshift does not serve, so the staged gate tables (the touched partitions' facts and the
        sensors) are fetched in batches over the connection and registered in a DuckDB session."""
        import duckdb

        from wenulake.duckdb_sessions import duckdb_session

        local = duckdb_session(self.settings)
        try:
            with self._transaction("warehouse gate") as con:
                schema = self._staged(con, run_id)
                for table in self.GATE_TABLES:
                    local.register(table, self._fetch(con, f"{schema}.{table}", COLUMNS[table]))
            local.register("touched_keys", keys)
            return local.execute(sql).fetch_arrow_table()
        except duckdb.Error as exc:
            raise WenulakeError(f"warehouse gate query failed: {' '.join(str(exc).split())}") from exc
        finally:
            local.close()

    @staticmethod
    def _fetch(con: psycopg.Connection[Any], table: str, columns: tuple[str, ...]) -> pa.Table:
        cursor = con.cursor()
        cursor.execute(f"select {_names(columns)} from {table}")
        batches = []
        while rows := cursor.fetchmany(GATE_BATCH_ROWS):
            batches.append(pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows]))
        if not batches:
            return pa.table({c: pa.array([], pa.null()) for c in columns})
        return pa.concat_tables(batches, promote_options="default")

    # -- publish -----------------------------------------------------------------------------------------------
    def publish(self, run_id: str = "") -> list[LoadResult]:
        """ONE transaction: per table the generated statements (MERGE or delete + insert), the load log, the
        coverage; then the staging schema goes."""
        results = []
        keys_of = self._primary_keys()
        with self._transaction("warehouse publish") as con:
            schema = self._staged(con, run_id)
            staged = {
                row[0]
                for row in con.execute(
                    "select table_name from information_schema.tables where table_schema = %s",
                    [stage_schema(run_id)],
                ).fetchall()
            }
            now = datetime.now(UTC)
            for spec in LOADS:
                if spec.table not in staged:
                    continue
                started = time.perf_counter()
                strategy = load_strategy(
                    spec, keys_of.get(spec.table), f"{spec.table}__has_keys_file" in staged
                )
                before = self._count(con, f"{PUBLIC}.{spec.table}")
                inserted = self._count(con, f"{schema}.{spec.table}")
                for statement in publish_sql(spec, f"{schema}.{spec.table}", strategy):
                    con.execute(statement)
                after = self._count(con, f"{PUBLIC}.{spec.table}")
                deleted = before + inserted - after
                seconds = round(time.perf_counter() - started, 3)
                con.execute(
                    "insert into ops.warehouse_load values (%s, %s, %s, %s, %s, %s)",
                    [spec.table, run_id, deleted, inserted, seconds, now],
                )
                results.append(LoadResult(spec.table, deleted, inserted, seconds))
            con.execute(
                f"insert into ops.warehouse_coverage select source_run_id, %s, %s from {schema}.sources",
                [run_id, now],
            )
            con.execute(f"drop schema {schema} cascade")
        return results

    @staticmethod
    def _count(con: psycopg.Connection[Any], table: str) -> int:
        row = con.execute(f"select count(*) from {table}").fetchone()
        return int(row[0]) if row else 0

    def replace_tables(self, staged: dict[str, str], run_id: str) -> list[LoadResult]:
        """One transaction: per table, a temporary staging table <- COPY from S3, delete every row, insert."""
        columns_of = self.table_columns()
        for table, rows in staged.items():
            check_drift(table, open_parquet(rows, self.settings).schema_arrow, columns_of[table])
            self._check_order(table, COLUMNS[table], rows)
        results = []
        with self._transaction(f"warehouse load of {', '.join(staged)}") as con:
            for table, rows in staged.items():
                started = time.perf_counter()
                target = f"stage_{table}"
                con.execute(create_staging_sql(target, table).replace("create table", "create temp table", 1))
                inserted = self._fill(con, target, COLUMNS[table], rows)
                deleted = self._count(con, f"{PUBLIC}.{table}")
                for statement in publish_sql(LoadSpec(table, (), "all"), target, "replace"):
                    con.execute(statement)
                seconds = round(time.perf_counter() - started, 3)
                con.execute(
                    "insert into ops.warehouse_load values (%s, %s, %s, %s, %s, %s)",
                    [table, run_id, deleted, inserted, seconds, datetime.now(UTC)],
                )
                results.append(LoadResult(table, deleted, inserted, seconds))
        return results
