"""DuckDB sessions of the pipeline and of the warehouse backends: the wheels' extensions, UTC, S3 secrets
(`duckdb_session`), and plain in-memory sessions over Arrow tables (`local_session`, `run_local`).

Split from `wenulake.query` (the analysts' front, which re-exports these) so that the warehouse backends use
them without importing `query`, which imports the warehouse: no import cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from wenulake.lakefiles import sql_literal
from wenulake.settings import Settings
from wenulake.storage import split_s3_url


def extension_directory() -> str:
    import duckdb_ext

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def _sql_string(value: str) -> str:
    return sql_literal(value)


def load_extensions(con: duckdb.DuckDBPyConnection, settings: Settings, s3_locations: list[str]) -> None:
    """Extensions from the duckdb-ext-* wheels (nothing downloads), and an S3 secret per bucket used."""
    con.execute(f"set extension_directory = {_sql_string(extension_directory())}")
    con.execute("set TimeZone = 'UTC'")
    con.execute("load delta")
    for location in dict.fromkeys(s3_locations):
        _s3_secret(con, settings, location)


def duckdb_session(
    settings: Settings, s3_locations: list[str] | None = None, spill_under_home: bool = True
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session with the wheels' extensions, UTC, S3 secrets for `s3_locations`, and
    `memory_limit`; the pipeline's sessions spill under the home (`spill_under_home`: the analysts' sandbox
    writes nothing there, and keeps DuckDB's own spill location)."""
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    # no progress bar: DuckDB draws it on stdout for a query past 2 s, which `wenulake sql --format json` owns
    con.execute("set enable_progress_bar = false")
    # bounded memory: a large batch spills to disk instead of growing this process (DuckDB's default: 80% of RAM)
    con.execute(f"set memory_limit = {_sql_string(settings.duckdb_memory_limit)}")
    if spill_under_home:
        spill = settings.home.absolute() / "tmp" / "duckdb"
        spill.mkdir(parents=True, exist_ok=True)  # DuckDB makes the last folder only
        con.execute(f"set temp_directory = {_sql_string(str(spill))}")
    load_extensions(con, settings, s3_locations or [])
    return con


def run_local(frames: dict[str, Any], sql: str, params: dict[str, Any] | None = None) -> pa.Table:
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
