"""Analysts' SQL: a DuckDB session that sees every published lake table by its schema-qualified name.

Lake tables are read through DuckDB's delta extension (`delta_scan`, shipped by the `duckdb-ext-delta` wheel),
on a local lake or on S3 (httpfs + an S3 secret). The session's time zone is UTC. Sessions are read-only:
only SELECT-like statements are accepted.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from wenulake.contracts.tables import TABLES
from wenulake.errors import WenulakeError
from wenulake.lake import Lake
from wenulake.settings import Settings, is_s3
from wenulake.storage import split_s3_url

READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN"}


def extension_directory() -> str:
    import duckdb_ext

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def load_extensions(con: duckdb.DuckDBPyConnection, settings: Settings, s3_locations: list[str]) -> None:
    """Extensions from the duckdb-ext-* wheels (nothing downloads), and an S3 secret per bucket used."""
    con.execute(f"set extension_directory = {_sql_string(extension_directory())}")
    con.execute("set TimeZone = 'UTC'")
    con.execute("load delta")
    for location in dict.fromkeys(s3_locations):
        _s3_secret(con, settings, location)


def duckdb_session(settings: Settings, s3_locations: list[str] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session with the wheels' extensions, UTC, and S3 secrets for `s3_locations`."""
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    load_extensions(con, settings, s3_locations or [])
    return con


def run_local(frames: dict[str, Any], sql: str, params: dict[str, Any] | None = None) -> Any:
    """Run SQL over in-memory Arrow tables (registered by name) in a fresh DuckDB session in UTC; return a
    pyarrow Table."""
    with local_session(frames) as con:
        return con.execute(sql, params or {}).fetch_arrow_table()


@contextmanager
def local_session(frames: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory DuckDB session in UTC with the given Arrow tables registered by name: for several
    queries over the same tables, or over views of them that need not be materialised."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        for name, frame in frames.items():
            con.register(name, frame)
        yield con
    finally:
        con.close()


def connect(settings: Settings, warehouse: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session with a view per lake table (`bronze.sensor_message`, `ops.quarantine`, ...)
    and, with `warehouse`, the published warehouse tables by plain name (`fact_reading`, `dim_sensor`, ...)."""
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


def _s3_secret(con: duckdb.DuckDBPyConnection, settings: Settings, location: str) -> None:
    """delta_scan ignores `SET s3_*`: it needs a secret. Credentials come from the standard AWS variables."""
    import boto3

    con.execute("load httpfs")
    con.execute("load aws")
    credentials = boto3.session.Session().get_credentials()
    parts = ["type s3", f"region {_sql_string(settings.s3_region)}"]
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        parts += [
            f"key_id {_sql_string(frozen.access_key or '')}",
            f"secret {_sql_string(frozen.secret_key or '')}",
        ]
        if frozen.token:
            parts.append(f"session_token {_sql_string(frozen.token)}")
    if settings.s3_endpoint_url:
        endpoint = settings.s3_endpoint_url
        use_ssl = endpoint.startswith("https://")
        host = endpoint.split("://", 1)[-1].rstrip("/")
        parts += [f"endpoint {_sql_string(host)}", "url_style 'path'", f"use_ssl {str(use_ssl).lower()}"]
    bucket, _ = split_s3_url(location)
    parts.append(f"scope {_sql_string('s3://' + bucket)}")
    name = "s3_" + "".join(c if c.isalnum() else "_" for c in bucket)
    con.execute(f"create or replace secret {name} ({', '.join(parts)})")


@dataclass
class Result:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> None:
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise WenulakeError(f"SQL error: {_one_line(exc)}") from exc
    if not statements:
        raise WenulakeError("no SQL statement given")
    for statement in statements:
        kind = statement.type.name
        if kind not in READ_ONLY_STATEMENTS:
            raise WenulakeError(
                f"wenulake sql is read-only: {kind} statements are refused (the pipeline owns all writes)"
            )


def run_query(settings: Settings, query: str, params: dict[str, Any] | None = None) -> Result:
    """Run an analyst's read-only query over the lake and the published warehouse."""
    con = connect(settings, warehouse=True)
    try:
        return execute(con, query, params)
    finally:
        con.close()


def execute(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None) -> Result:
    check_read_only(con, query)
    try:
        cursor = con.execute(query, params) if params else con.execute(query)
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise WenulakeError(f"SQL error: {_one_line(exc)}") from exc
    description = cursor.description or []
    return Result([d[0] for d in description], [str(d[1]) for d in description], rows)


def query_arrow(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None) -> Any:
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
    console = Console(file=io.StringIO(), width=200, color_system=None, force_terminal=False)
    console.print(table)
    console.print(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")
    return console.file.getvalue()  # type: ignore[attr-defined]


FORMATTERS = {"table": to_table, "csv": to_csv, "json": to_json}
