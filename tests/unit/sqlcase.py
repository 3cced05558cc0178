"""Run one SQL file of sql/ on a few Arrow rows in an in-memory DuckDB session (UTC), as the pipeline does:
`tables` are registered by name; a dotted name (`silver.reading`, `ops.touched_period`) becomes a view in
its schema, as wenulake.query.connect makes the lake's tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from wenulake.contracts.tables import TableSpec
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql

TS = pa.timestamp("us", "UTC")


def sql(name: str) -> str:
    return load_sql(Settings().sql_dir, name)


def t(text: str) -> datetime:
    """'2026-04-04 10:15' -> an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def table(rows: list[dict[str, Any]], schema: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Arrow rows; timestamps typed as the lake's (us, UTC); `schema` fixes the types of empty or null columns."""
    names = list(schema or rows[0])
    types = dict(schema or {})
    for name in names:
        if name not in types:
            sample = next((r[name] for r in rows if r.get(name) is not None), None)
            types[name] = TS if isinstance(sample, datetime) else pa.array([sample]).type
    arrow = pa.schema([(n, types[n]) for n in names])
    return pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=arrow)


def run(
    name: str, tables: dict[str, pa.Table], params: dict[str, Any] | None = None, macros: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Rows of sql/`name`.sql over `tables`, in a canonical order (every column, ascending, nulls first);
    `macros` (sql/lake/macros/<name>.sql) are created first, as wenulake.query.connect does."""
    return run_text(sql(name), tables, params, macros)


def lake(spec: TableSpec, rows: list[dict[str, Any]]) -> pa.Table:
    """A lake table of the contract's columns and types, from rows giving some of them (the rest null)."""
    schema = pa.schema([field.with_nullable(True) for field in spec.schema])
    return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)


def run_text(
    text: str, tables: dict[str, pa.Table], params: dict[str, Any] | None = None, macros: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        for key, frame in tables.items():
            con.register(key.replace(".", "__"), frame)
            if "." in key:
                con.execute(f"create schema if not exists {key.split('.')[0]}")
                con.execute(f"create view {key} as select * from {key.replace('.', '__')}")
        for macro in macros:
            con.execute(sql(f"lake/macros/{macro}"))
        result = con.execute(text, params or {}).fetch_arrow_table()
    finally:
        con.close()
    rows = result.to_pylist()
    return sorted(rows, key=lambda r: [(v is not None, v if v is not None else 0) for v in r.values()])
