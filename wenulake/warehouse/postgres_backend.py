"""PostgreSQL warehouse (the Redshift-compatible server stand-in): `WENULAKE_WAREHOUSE_URL=postgresql://...`.

A load never touches what analysts see:
- `load` (task `load_warehouse`): one transaction creates the run's staging schema (`wenulake_stage_<hash>`)
  with an unlogged copy of every target table (`like`: same columns, types and not-null constraints) and bulk
  copies the stage files in with `COPY ... FROM STDIN (format csv)`, streamed batch by batch from Parquet;
- `gate_query` (task `gate_warehouse`): the gold suite reads the staged state with the staging schema first on
  the search path. The staged fact rows are whole partitions, so they are exactly what fact_reading will hold
  for the touched keys after the merge;
- `publish`: ONE transaction deletes the touched keys (all rows for whole-table dimensions), inserts the staged
  rows, records ops.warehouse_load and ops.warehouse_coverage, and drops the staging schema. PostgreSQL's MVCC
  gives every analyst query a committed state, before or after, never between;
- `discard`: drops the staging schema (a failed gate).
See docs/adr/0008-postgres-warehouse.md.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.csv as pacsv

from wenulake.errors import ConfigError, WenulakeError
from wenulake.lakefiles import sql_literal
from wenulake.settings import Settings
from wenulake.storage import open_parquet
from wenulake.warehouse import (
    COLUMNS,
    LOADS,
    LoadResult,
    Staged,
    WarehouseUnavailable,
    check_drift,
    type_family,
)
from wenulake.warehouse.urls import plain_url as plain_url
from wenulake.warehouse.urls import redacted as redacted

if TYPE_CHECKING:
    import duckdb
    import psycopg

PUBLIC = "public"
COPY_BATCH_ROWS = 200_000


def stage_schema(run_id: str) -> str:
    return "wenulake_stage_" + hashlib.sha1(run_id.encode()).hexdigest()[:16]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(table: str) -> str:
    return ", ".join(_quote(c) for c in COLUMNS[table])


def with_login(url: str, user: str, password: str) -> str:
    """The URL logging in as `user` with `password`, both percent-encoded (an IAM user is `IAMR:<role>`)."""
    parts = urlsplit(plain_url(url))
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class IamLogin:
    """Redshift Serverless temporary database credentials of this process's IAM role (GetCredentials on
    WENULAKE_WAREHOUSE_IAM_WORKGROUP): user `IAMR:<role>`, a password that expires. Asked again when less than
    `REFRESH_BEFORE` is left, so no password is ever configured, exported or stored."""

    REFRESH_BEFORE = timedelta(minutes=5)
    DURATION_SECONDS = 3600

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self.settings = settings
        self.workgroup = settings.warehouse_iam_workgroup
        self._client = client
        self._cache: dict[str, tuple[str, datetime]] = {}

    def url(self, url: str) -> str:
        """`url` with the role's current temporary user and password (unchanged when no workgroup is set)."""
        if not self.workgroup:
            return plain_url(url)
        cached = self._cache.get(url)
        if cached is None or cached[1] - datetime.now(UTC) < self.REFRESH_BEFORE:
            if self._client is None:
                import boto3

                self._client = boto3.client("redshift-serverless", region_name=self.settings.s3_region)
            request: dict[str, Any] = {
                "workgroupName": self.workgroup,
                "durationSeconds": self.DURATION_SECONDS,
            }
            database = urlsplit(plain_url(url)).path.lstrip("/")
            if database:
                request["dbName"] = database
            answer = self._client.get_credentials(**request)
            cached = (with_login(url, answer["dbUser"], answer["dbPassword"]), answer["expiration"])
            self._cache[url] = cached
        return cached[0]


class PostgresWarehouse:
    kind = "postgres"

    def __init__(self, settings: Settings, url: str, iam: IamLogin | None = None) -> None:
        self.settings = settings
        self.base_url = plain_url(url)
        self.iam = iam or IamLogin(settings)
        self._ensured = False

    @property
    def url(self) -> str:
        """The loader's URL; with WENULAKE_WAREHOUSE_IAM_WORKGROUP, with its IAM temporary credentials."""
        return self.iam.url(self.base_url)

    # -- connections -------------------------------------------------------------------------------------------
    def connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(
                self.url,
                connect_timeout=max(1, int(self.settings.warehouse_connect_timeout)),
                application_name="wenulake",
            )
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> WenulakeError:
        from wenulake.failures import warehouse_failure

        return warehouse_failure(
            exc, self.url, "WENULAKE_WAREHOUSE_URL", "rerun the interval (the next run catches up)"
        )

    @contextmanager
    def _transaction(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        """One transaction; a database error becomes one clear line, and everything is rolled back."""
        import psycopg

        con = self.connect()
        try:
            with con.transaction():
                yield con
        except psycopg.OperationalError as exc:
            raise WarehouseUnavailable(
                f"warehouse connection lost during {what}, nothing changed: {' '.join(str(exc).split())}"
            ) from exc
        except psycopg.Error as exc:
            raise WenulakeError(f"{what} failed, nothing changed: {' '.join(str(exc).split())}") from exc
        finally:
            con.close()

    # -- schema ------------------------------------------------------------------------------------------------
    def ensure(self) -> None:
        if self._ensured:
            return
        from wenulake.warehouse.duckdb_backend import ddl_statements

        with self._transaction("creating the warehouse tables") as con:
            # DDL of concurrent first runs must not race: one at a time
            con.execute("select pg_advisory_xact_lock(hashtext('wenulake warehouse ddl'))")
            con.execute("create schema if not exists ops")
            for statement in ddl_statements(self.settings):
                con.execute(statement)
            for path in sorted((self.settings.sql_dir / "warehouse" / "postgres").glob("*.sql")):
                con.execute(path.read_text())  # the dialect's own: indexes, the analysts' role and its grants
            if self.settings.warehouse_reader_url:
                self._grant_reader(con, self.settings.warehouse_reader_url)
        self._ensured = True

    def _grant_reader(self, con: psycopg.Connection[Any], reader_url: str) -> None:
        """The login of WENULAKE_WAREHOUSE_READER_URL: created when missing (with the URL's password), a member
        of wenulake_reader (SELECT on the published tables, sql/warehouse/postgres/9*_reader_*.sql), read-only
        by default. It must not be the loader's own role."""
        from psycopg import sql

        reader = urlsplit(plain_url(reader_url))
        name = reader.username
        if not name:
            raise ConfigError("WENULAKE_WAREHOUSE_READER_URL names no user (postgresql://USER@host/db)")
        if name == urlsplit(self.url).username:
            raise ConfigError(
                "WENULAKE_WAREHOUSE_READER_URL must name a read-only role of its own, not the loader's user "
                f"{name!r}"
            )
        user = sql.Identifier(name)
        create = sql.SQL("create role {} login").format(user)
        if reader.password:
            create += sql.SQL(" password {}").format(sql.Literal(reader.password))
        con.execute(
            sql.SQL(
                "do $wenulake$ begin if not exists (select 1 from pg_roles where rolname = {name}) then "
                "execute {create}; end if; exception when duplicate_object or unique_violation then null; "
                "end $wenulake$"
            ).format(name=sql.Literal(name), create=sql.Literal(create.as_string(con)))
        )
        con.execute(sql.SQL("grant wenulake_reader to {}").format(user))
        con.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(user))

    def maintain(self, dry_run: bool = False) -> list[str]:
        """VACUUM (ANALYZE) every warehouse table (outside a transaction, as VACUUM requires)."""
        from psycopg import sql

        from wenulake.warehouse import COLUMNS, OPS_TABLES

        names = [(PUBLIC, t) for t in COLUMNS] + [("ops", t) for t in OPS_TABLES]
        actions = [f"{self.maintenance_verb} {schema}.{table}" for schema, table in names]
        if dry_run:
            return actions
        self.ensure()
        con = self.connect()
        try:
            con.autocommit = True
            for schema, table in names:
                con.execute(
                    sql.SQL(self.maintenance_verb + " {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
        finally:
            con.close()
        return actions

    #: PostgreSQL reclaims dead rows and refreshes the planner's statistics in one command
    maintenance_verb = "vacuum (analyze)"

    def table_columns(self) -> dict[str, dict[str, str]]:
        self.ensure()
        with self._transaction("reading the warehouse schema") as con:
            rows = con.execute(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = %s order by table_name, ordinal_position",
                [PUBLIC],
            ).fetchall()
        columns: dict[str, dict[str, str]] = {table: {} for table in COLUMNS}
        for table, column, data_type in rows:
            columns.setdefault(table, {})[column] = type_family(data_type)
        return columns

    def covered_runs(self) -> set[str]:
        self.ensure()
        with self._transaction("reading ops.warehouse_coverage") as con:
            rows = con.execute("select distinct source_run_id from ops.warehouse_coverage").fetchall()
        return {row[0] for row in rows}

    # -- load, gate, publish -----------------------------------------------------------------------------------
    def load(self, staged: Staged, run_id: str, sources: list[str]) -> list[LoadResult]:
        """COPY the stage files into the run's staging schema, in one transaction (a rerun starts afresh)."""
        columns = self.table_columns()
        for table, (rows, _) in staged.items():
            check_drift(table, open_parquet(rows, self.settings).schema_arrow, columns[table])
        schema = _quote(stage_schema(run_id))
        results: list[LoadResult] = []
        current = "?"
        try:
            with self._transaction("warehouse load") as con:
                con.execute(f"drop schema if exists {schema} cascade")
                con.execute(f"create schema {schema}")
                con.execute(f"create table {schema}.sources (source_run_id varchar(256) not null)")
                with con.cursor().copy(f"copy {schema}.sources from stdin") as copy:
                    for source in sources:
                        copy.write_row([source])
                for spec in LOADS:
                    if spec.table not in staged:
                        continue
                    current = spec.table
                    rows, keys = staged[spec.table]
                    started = time.perf_counter()
                    con.execute(f"create unlogged table {schema}.{spec.table} (like {PUBLIC}.{spec.table})")
                    inserted = self._copy(con, f"{schema}.{spec.table}", COLUMNS[spec.table], rows)
                    replaced = ""  # mode "all": publish deletes every row
                    if spec.mode == "keys":
                        key_source = keys or rows
                        key_columns = ", ".join(spec.key_columns)
                        con.execute(
                            f"create unlogged table {schema}.{spec.table}__keys as "
                            f"select {key_columns} from {PUBLIC}.{spec.table} limit 0"
                        )
                        self._copy(con, f"{schema}.{spec.table}__keys", spec.key_columns, key_source)
                        replaced = f" where ({key_columns}) in (select {key_columns} from {schema}.{spec.table}__keys)"
                    # the rows publish will delete (one writer at a time: the DAG serialises loads), as the
                    # DuckDB backend's load reports them
                    found = con.execute(f"select count(*) from {PUBLIC}.{spec.table}{replaced}").fetchone()
                    deleted = int(found[0]) if found else 0
                    results.append(
                        LoadResult(spec.table, deleted, inserted, round(time.perf_counter() - started, 3))
                    )
        except WenulakeError as exc:
            if isinstance(exc, WarehouseUnavailable | ConfigError):
                raise
            raise WenulakeError(f"warehouse load failed at {current}, nothing changed: {exc}") from exc
        return results

    def _copy(
        self, con: psycopg.Connection[Any], target: str, columns: tuple[str, ...], location: str
    ) -> int:
        """Stream a Parquet file into `target` with COPY FROM STDIN, one CSV chunk per record batch."""
        parquet = open_parquet(location, self.settings)
        names = ", ".join(_quote(c) for c in columns)
        total = 0
        options = pacsv.WriteOptions(include_header=False)
        with con.cursor().copy(f"copy {target} ({names}) from stdin (format csv)") as copy:
            for batch in parquet.iter_batches(batch_size=COPY_BATCH_ROWS, columns=list(columns)):
                buffer = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), buffer, options)
                copy.write(buffer.getbuffer())
                total += batch.num_rows
        return total

    def _staged(self, con: psycopg.Connection[Any], run_id: str) -> str:
        schema = stage_schema(run_id)
        found = con.execute(
            "select 1 from information_schema.schemata where schema_name = %s", [schema]
        ).fetchone()
        if not found:
            raise WenulakeError(
                f"nothing loaded for run {run_id} (no staging schema {schema}): run load_warehouse"
            )
        return _quote(schema)

    def gate_query(self, sql: str, run_id: str, keys: pa.Table) -> pa.Table:
        """Run a gate query (DuckDB SQL) on the run's staging schema, attached read-only through DuckDB's
        postgres extension (binary COPY, no Python objects per row)."""
        import duckdb

        from wenulake.duckdb_sessions import duckdb_session

        with self._transaction("warehouse gate") as con:
            self._staged(con, run_id)
        local = duckdb_session(self.settings)
        try:
            local.execute("load postgres_scanner")
            url, schema = sql_literal(self.url), sql_literal(stage_schema(run_id))
            local.execute(f"attach {url} as wh (type postgres, read_only, schema {schema})")
            local.execute(f"use wh.{stage_schema(run_id)}")
            local.register("touched_keys", keys)
            return local.execute(sql).fetch_arrow_table()
        except duckdb.Error as exc:
            raise WenulakeError(f"warehouse gate query failed: {' '.join(str(exc).split())}") from exc
        finally:
            local.close()

    def publish(self, run_id: str = "") -> list[LoadResult]:
        """ONE transaction: per table delete the touched keys, insert the staged rows, log; then drop the
        staging schema."""
        results = []
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
                target = f"{PUBLIC}.{spec.table}"
                if spec.mode == "all":
                    deleted = con.execute(f"delete from {target}").rowcount
                else:
                    key_list = ", ".join(spec.key_columns)
                    deleted = con.execute(
                        f"delete from {target} where ({key_list}) in "
                        f"(select {key_list} from {schema}.{spec.table}__keys)"
                    ).rowcount
                columns = _columns(spec.table)
                inserted = con.execute(
                    f"insert into {target} ({columns}) select {columns} from {schema}.{spec.table}"
                ).rowcount
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

    def replace_table(self, table: str, rows: str, run_id: str) -> LoadResult:
        return self.replace_tables({table: rows}, run_id)[0]

    def replace_tables(self, staged: dict[str, str], run_id: str) -> list[LoadResult]:
        """One transaction: per table, temporary staging table <- COPY, delete every row, insert, log. MVCC:
        analysts see the old tables or the new ones."""
        columns_of = self.table_columns()
        for table, rows in staged.items():
            check_drift(table, open_parquet(rows, self.settings).schema_arrow, columns_of[table])
        results = []
        with self._transaction(f"warehouse load of {', '.join(staged)}") as con:
            for table, rows in staged.items():
                started = time.perf_counter()
                columns = _columns(table)
                con.execute(f"create temporary table stage_{table} (like {PUBLIC}.{table}) on commit drop")
                self._copy(con, f"stage_{table}", COLUMNS[table], rows)
                deleted = con.execute(f"delete from {PUBLIC}.{table}").rowcount
                inserted = con.execute(
                    f"insert into {PUBLIC}.{table} ({columns}) select {columns} from stage_{table}"
                ).rowcount
                seconds = round(time.perf_counter() - started, 3)
                con.execute(
                    "insert into ops.warehouse_load values (%s, %s, %s, %s, %s, %s)",
                    [table, run_id, deleted, inserted, seconds, datetime.now(UTC)],
                )
                results.append(LoadResult(table, deleted, inserted, seconds))
        return results

    def discard(self, run_id: str = "") -> None:
        with self._transaction("discarding a warehouse load") as con:
            con.execute(f"drop schema if exists {_quote(stage_schema(run_id))} cascade")

    # -- readers -----------------------------------------------------------------------------------------------
    def attach(self, con: duckdb.DuckDBPyConnection) -> str:
        """Attach the server read-only through DuckDB's postgres extension (from the duckdb-ext-postgres wheel)."""
        import duckdb

        self.ensure()
        con.execute("load postgres_scanner")
        url = sql_literal(self.url)
        try:
            con.execute(f"attach {url} as warehouse (type postgres, read_only)")
        except duckdb.Error as exc:
            raise self._unavailable(exc) from exc
        return f"warehouse.{PUBLIC}"
