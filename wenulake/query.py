"""Analysts' SQL: a DuckDB session that sees every published lake table by its schema-qualified name.

Lake tables are read through DuckDB's delta extension (`delta_scan`, shipped by the `duckdb-ext-delta` wheel),
on a local lake or on S3 (httpfs + an S3 secret). The session's time zone is UTC.

`run_query` (`wenulake sql`) is the analysts' sandbox (docs/security.md): the session is built without any
write (no `Lake.ensure()`, no warehouse DDL: a table that does not exist yet is an empty view), then DuckDB
itself is closed around it: only the lake, the stage and the warehouse/stats files can be read
(`allowed_directories`, `allowed_paths`, `enable_external_access = false`) and the configuration is locked.
Each statement is checked with DuckDB's own parser first: only SELECT (and EXPLAIN of a SELECT) passes, and no
function that runs SQL elsewhere or hides a statement in a string (`postgres_execute`, `query`, ...). A
PostgreSQL warehouse is read as the read-only role of `WENULAKE_WAREHOUSE_READER_URL`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from wenulake.contracts.tables import TABLES
from wenulake.duckdb_sessions import _sql_string, duckdb_session

# the pipeline's sessions live in wenulake.duckdb_sessions; these names stay importable from here
from wenulake.duckdb_sessions import extension_directory as extension_directory
from wenulake.duckdb_sessions import load_extensions as load_extensions
from wenulake.duckdb_sessions import local_session as local_session
from wenulake.duckdb_sessions import run_local as run_local
from wenulake.errors import WenulakeError
from wenulake.settings import Settings, is_s3

if TYPE_CHECKING:
    import pyarrow as pa

READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN"}

#: Functions an analyst's query may not call: they run SQL on another system (`postgres_execute`'s
#: `commit;` escapes the read-only transaction), attach databases, hide a statement in a string that the
#: parser check cannot see (`query`), or show credentials.
REFUSED_FUNCTIONS = frozenset(
    {
        "postgres_execute",
        "postgres_query",
        "postgres_attach",
        "postgres_scan",
        "postgres_scan_pushdown",
        "postgres_configure_pool",
        "mysql_execute",
        "mysql_query",
        "sqlite_attach",
        "sqlite_scan",
        "query",
        "query_table",
        "duckdb_secrets",
        "which_secret",
        "load_aws_credentials",
    }
)
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_PRAGMA = re.compile(r"\Apragma\b", re.IGNORECASE)
_EXPLAIN = re.compile(r"\Aexplain\s*(?:analy[sz]e\b|\((?:[^()'\"]|'[^']*')*\))?", re.IGNORECASE)


def connect(settings: Settings, warehouse: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session with a view per lake table (`bronze.sensor_message`, `ops.quarantine`, ...)
    and, with `warehouse`, the published warehouse tables by plain name (`fact_reading`, `dim_sensor`, ...)."""
    from wenulake.lake import Lake

    lake = Lake(settings)
    lake.ensure()
    con = duckdb_session(settings, [lake.root] if is_s3(lake.root) else [])
    for spec in TABLES.values():
        con.execute(f"create schema if not exists {spec.layer}")
        con.execute(
            f"create or replace view {spec.name} as select * from delta_scan({_sql_string(lake.uri(spec))})"
        )
    for macro in sorted((settings.sql_dir / "lake" / "macros").glob("*.sql")):
        con.execute(macro.read_text())
    if warehouse:
        _attach_warehouse(con, settings)
    return con


def _attach_warehouse(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Warehouse tables by plain name: views over its published state, attached read-only."""
    from wenulake.warehouse import WAREHOUSE_TABLES, backend

    schema = backend(settings).attach(con)
    catalog = schema.split(".", 1)[0]
    for table in WAREHOUSE_TABLES:
        con.execute(f"create or replace view main.{table} as select * from {schema}.{table}")
    for table in ("warehouse_load", "warehouse_coverage"):
        con.execute(f"create or replace view ops.{table} as select * from {catalog}.ops.{table}")
    from wenulake.stats_store.duckdb_store import DuckDBStatsStore

    DuckDBStatsStore(settings).attach(con)


@dataclass
class Result:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


def check_read_only(con: duckdb.DuckDBPyConnection | None, query: str) -> None:
    """Refuse anything but SELECT statements (and EXPLAIN of one), and the REFUSED_FUNCTIONS anywhere in them,
    with DuckDB's own parser (`extract_statements`, `json_serialize_sql`): one clear line."""
    del con  # the parser needs no session; kept for callers that pass one
    for kind, text in _statements(query):
        if _PRAGMA.match(_LEADING_COMMENTS.sub("", text, count=1)):
            kind = (
                "PRAGMA"  # DuckDB rewrites some pragmas (`pragma version`) into a SELECT: refused as written
            )
        if kind == "EXPLAIN":
            kind, text = _explained(text)
            under = ", under EXPLAIN too"
        else:
            under = ""
        if kind not in ("SELECT",):
            raise WenulakeError(
                f"wenulake sql is read-only: {kind} statements are refused{under} (the pipeline owns all writes)"
            )
        functions = _functions(text)
        if any(name.startswith("pragma_") for name in functions):
            raise WenulakeError(
                f"wenulake sql is read-only: PRAGMA statements are refused{under} (the pipeline owns the "
                "session's configuration)"
            )
        refused = sorted(functions & REFUSED_FUNCTIONS)
        if refused:
            raise WenulakeError(
                f"wenulake sql is read-only: {refused[0]}() is refused{under} (it runs SQL outside the "
                "analysts' sandbox or reveals credentials)"
            )


def _statements(query: str) -> list[tuple[str, str]]:
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise WenulakeError(f"SQL error: {_one_line(exc)}") from exc
    if not statements:
        raise WenulakeError("no SQL statement given")
    return [(statement.type.name, statement.query) for statement in statements]


def _explained(text: str) -> tuple[str, str]:
    """The statement under an EXPLAIN [ANALYZE | (options)]: its type and text, parsed again."""
    body = _LEADING_COMMENTS.sub("", text, count=1)
    match = _EXPLAIN.match(body)
    if match is None:
        return "EXPLAIN", text  # not understood: refused
    inner = _statements(body[match.end() :])
    if len(inner) != 1:
        return "EXPLAIN", text
    return inner[0]


_SERIALIZER: duckdb.DuckDBPyConnection | None = None


def _functions(select: str) -> set[str]:
    """Every function a SELECT calls (table or scalar, however nested), lowercased, from DuckDB's own parse
    tree (`json_serialize_sql`); a SELECT it cannot serialise is refused."""
    global _SERIALIZER
    if _SERIALIZER is None:
        _SERIALIZER = duckdb.connect()
    try:
        # the statement as a quoted literal, not a bound parameter: binding a Python value makes DuckDB import
        # pandas to check its type (seconds of a one-line query's time)
        literal = "'" + select.replace("'", "''") + "'"
        tree = json.loads(_SERIALIZER.execute(f"select json_serialize_sql({literal})").fetchone()[0])  # type: ignore[index]
    except duckdb.Error as exc:
        raise WenulakeError(f"SQL error: {_one_line(exc)}") from exc
    if tree.get("error"):
        raise WenulakeError(
            f"wenulake sql is read-only: this statement cannot be checked ({tree.get('error_message', '')})"
        )
    names: set[str] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("function_name")
            if isinstance(name, str):
                names.add(name.lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def run_query(settings: Settings, query: str, params: dict[str, Any] | None = None) -> Result:
    """Run an analyst's read-only query over the lake and the published warehouse, in the sandbox."""
    check_read_only(None, query)  # before any connection: a refused query touches nothing
    con = analyst_session(settings)
    try:
        return execute(con, query, params)
    finally:
        con.close()


def analyst_session(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The analysts' sandbox: lake views, the warehouse and the stats serving store, attached read-only and
    built without writing anything; then DuckDB may read only the lake, the stage and those files, and its
    configuration is locked."""
    root = settings.lake_uri  # no wenulake.lake (delta-rs): a read needs only the tables' locations
    s3 = [root] if is_s3(root) else []
    if is_s3(settings.stage_uri):
        s3.append(settings.stage_uri)
    con = duckdb_session(settings, s3, spill_under_home=False)  # a read writes nothing in the home
    try:
        for spec in TABLES.values():
            con.execute(f"create schema if not exists {spec.layer}")
            uri = spec.location(root)
            if _is_delta_table(uri, settings.delta_storage_options()):
                source = f"delta_scan({_sql_string(uri)})"
            else:  # not created yet: an empty relation of the contract's schema, nothing written
                source = f"(select {_empty_columns(spec.schema)} where false)"
            con.execute(f"create or replace view {spec.name} as select * from {source}")
        for macro in sorted((settings.sql_dir / "lake" / "macros").glob("*.sql")):
            con.execute(macro.read_text())
        paths = _attach_warehouse_read_only(con, settings)
        directories = [d.rstrip("/") + "/" for d in dict.fromkeys([root, settings.stage_uri])]
        # literal lists, not bound parameters: binding a Python value makes DuckDB import pandas
        con.execute(f"set allowed_directories = [{', '.join(_sql_string(d) for d in directories)}]")
        con.execute(f"set allowed_paths = [{', '.join(_sql_string(p) for p in paths)}]")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _duckdb_type(arrow_type: Any) -> str:
    """DuckDB's name of a contract column's Arrow type (the types wenulake.contracts uses)."""
    import pyarrow as pa

    simple = {
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.float64(): "DOUBLE",
        pa.string(): "VARCHAR",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
        pa.binary(): "BLOB",
    }
    if arrow_type in simple:
        return simple[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_map(arrow_type):
        return f"MAP({_duckdb_type(arrow_type.key_type)}, {_duckdb_type(arrow_type.item_type)})"
    if pa.types.is_list(arrow_type):
        return f"{_duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f'"{f.name}" {_duckdb_type(f.type)}' for f in arrow_type)
        return f"STRUCT({fields})"
    raise ValueError(f"no DuckDB type for Arrow {arrow_type}")


def _empty_columns(schema: Any) -> str:
    """The select list of an empty relation with `schema`'s columns and types, written in SQL (registering an
    empty Arrow table would make DuckDB import pandas: seconds of a one-line query's time)."""
    return ", ".join(f'cast(null as {_duckdb_type(f.type)}) as "{f.name}"' for f in schema)


def _is_delta_table(uri: str, options: dict[str, str]) -> bool:
    """Whether a Delta table exists at `uri`, read only (opening it releases the GIL, unlike
    `DeltaTable.is_deltatable`, which would stall an in-process S3 server)."""
    if not is_s3(uri):
        return (Path(uri) / "_delta_log").is_dir()
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        DeltaTable(uri, storage_options=options or None)
    except TableNotFoundError:
        return False
    return True


def _attach_warehouse_read_only(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """Warehouse tables by plain name and `serving.*` from the published files (or the reader role), without
    DDL: a table that does not exist yet is an empty one in memory. Returns the files attached."""
    from wenulake.stats_store.duckdb_store import DDL as STATS_DDL
    from wenulake.stats_store.duckdb_store import DuckDBStatsStore
    from wenulake.warehouse import WAREHOUSE_TABLES, backend
    from wenulake.warehouse.duckdb_backend import ddl_statements

    paths: list[str] = []
    warehouse = backend(settings)
    if warehouse.kind == "postgres":
        schema = _attach_postgres_reader(con, settings)
    else:
        published = warehouse.published  # type: ignore[attr-defined]
        if published.exists():
            con.execute(f"attach {_sql_string(str(published))} as warehouse (read_only)")
            paths.append(str(published))
        schema = "warehouse.main"
    con.execute("attach ':memory:' as blank")
    con.execute("use blank")
    con.execute("create schema ops")
    con.execute("create schema serving")
    for statement in ddl_statements(settings):
        con.execute(statement)
    for statement in STATS_DDL.values():
        con.execute(statement)
    con.execute("use memory")
    catalog = schema.split(".", 1)[0]
    for table in WAREHOUSE_TABLES:
        source = f"{schema}.{table}" if _exists(con, f"{schema}.{table}") else f"blank.main.{table}"
        con.execute(f"create or replace view main.{table} as select * from {source}")
    for table in ("warehouse_load", "warehouse_coverage"):
        source = f"{catalog}.ops.{table}" if _exists(con, f"{catalog}.ops.{table}") else f"blank.ops.{table}"
        con.execute(f"create or replace view ops.{table} as select * from {source}")
    stats = DuckDBStatsStore(settings).published
    if stats.exists():
        con.execute(f"attach {_sql_string(str(stats))} as stats_store (read_only)")
        paths.append(str(stats))
    con.execute("create schema if not exists serving")
    for table in STATS_DDL:
        name = f"stats_store.serving.{table}"
        source = name if _exists(con, name) else f"blank.serving.{table}"
        con.execute(
            f"create or replace view serving.{table} as select * from {source} where expires_at > now()"
        )
    return paths


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    try:
        con.execute(f"select * from {name} limit 0")
    except duckdb.CatalogException:
        return False
    except duckdb.BinderException:
        return False
    return True


def _attach_postgres_reader(con: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    from wenulake.errors import ConfigError
    from wenulake.failures import warehouse_failure
    from wenulake.warehouse.postgres_backend import PUBLIC, IamLogin

    url = settings.warehouse_reader_url
    if not url:
        raise ConfigError(
            "WENULAKE_WAREHOUSE_READER_URL is not set: wenulake sql reads a PostgreSQL warehouse only as its "
            "read-only role (see docs/security.md), never with the loader's WENULAKE_WAREHOUSE_URL"
        )
    con.execute("load postgres_scanner")
    login = IamLogin(settings).url(url)  # the analyst's own IAM role's reader user, when so configured
    try:
        con.execute(f"attach {_sql_string(login)} as warehouse (type postgres, read_only)")
    except duckdb.Error as exc:
        raise warehouse_failure(exc, login, "WENULAKE_WAREHOUSE_READER_URL") from exc
    return f"warehouse.{PUBLIC}"


def execute(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None) -> Result:
    check_read_only(con, query)
    try:
        cursor = con.execute(query, params) if params else con.execute(query)
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise WenulakeError(f"SQL error: {_one_line(exc)}") from exc
    description = cursor.description or []
    return Result([d[0] for d in description], [str(d[1]) for d in description], rows)


def query_arrow(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run a (pipeline-owned) query and return a pyarrow Table: no Python objects per row."""
    try:
        relation = con.execute(query, params) if params else con.execute(query)
        return relation.fetch_arrow_table()
    except duckdb.Error as exc:
        raise WenulakeError(f"SQL error: {_one_line(exc)}") from exc


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


# -- output ----------------------------------------------------------------------------------------------------
def json_value(value: Any) -> Any:
    """SQL value -> JSON value: timestamps ISO 8601 in UTC, dates YYYY-MM-DD, NULL/NaN -> null."""
    if value is None:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def to_json(result: Result) -> str:
    return json.dumps([dict(zip(result.columns, map(json_value, row), strict=True)) for row in result.rows])


def to_csv(result: Result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else _text(v) for v in row])
    return buffer.getvalue()


def _text(value: Any) -> str:
    converted = json_value(value)
    return json.dumps(converted) if isinstance(converted, dict | list) else str(converted)


def to_table(result: Result) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    for name, kind in zip(result.columns, result.types, strict=True):
        numeric = any(t in kind.upper() for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "NUMBER"))
        table.add_column(name, justify="right" if numeric else "left")
    for row in result.rows:
        table.add_row(*("NULL" if v is None else _text(v) for v in row))
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None, force_terminal=False)
    console.print(table)
    console.print(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")
    return out.getvalue()


FORMATTERS = {"table": to_table, "csv": to_csv, "json": to_json}
