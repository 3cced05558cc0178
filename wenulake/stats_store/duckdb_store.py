"""The DuckDB stats serving store: `$WENULAKE_HOME/stats.duckdb` (schema `serving`).

Written like the DuckDB warehouse (ADR 0007): changes go to a private writer file in one transaction, then a
copy replaces the readers' file atomically, so `wenulake sql` never meets a lock and every query sees a
committed state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from wenulake.contracts import warehouse as contract
from wenulake.lakefiles import sql_literal
from wenulake.settings import Settings
from wenulake.stats_store.serving import SERVING
from wenulake.storage import atomic_copy

_DUCKDB_TYPES = {"varchar": "varchar", "double precision": "double", "timestamptz": "timestamptz",
                 "bigint": "bigint", "date": "date"}  # fmt: skip


def _serving_ddl(table: str) -> str:
    """serving.<table>: the warehouse contract's columns (DuckDB types) plus expires_at, keyed by sensor and
    period."""
    period, _ = SERVING[table]
    columns = [
        f"{c.name} {_DUCKDB_TYPES[c.type.split('(')[0]]}" + ("" if c.null else " not null")
        for c in contract.BY_NAME[table].columns
    ]
    body = ", ".join([*columns, "expires_at timestamptz not null", f"primary key (sensor_id, {period})"])
    return f"create table if not exists serving.{table} ({body})"


DDL = {table: _serving_ddl(table) for table in SERVING}

#: serving table -> the columns of its replaced keys
KEYS = {"stats_hourly": ("sensor_id", "hour_utc"), "stats_daily": ("company_id", "local_date")}


class DuckDBStatsStore:
    kind = "duckdb"

    def __init__(self, settings: Settings) -> None:
        self.published = (settings.home / "stats.duckdb").absolute()
        self.writer = (settings.home / ".stats-writer.duckdb").absolute()

    def ensure(self) -> None:
        self.writer.parent.mkdir(parents=True, exist_ok=True)
        if self.published.exists() and not self.writer.exists():
            atomic_copy(self.published, self.writer)
        con = duckdb.connect(str(self.writer))
        try:
            con.execute("create schema if not exists serving")
            for statement in DDL.values():
                con.execute(statement)
            con.execute("checkpoint")
        finally:
            con.close()
        if not self.published.exists():
            atomic_copy(self.writer, self.published)

    def write(self, rows: dict[str, pa.Table], keys: dict[str, pa.Table]) -> dict[str, int]:
        """Replace the rows of the given keys with `rows` ({table: serving rows with expires_at}) in one
        transaction, then publish."""
        self.ensure()
        con = duckdb.connect(str(self.writer))
        written = {}
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute("begin transaction")
            for table, data in rows.items():
                key_list = ", ".join(KEYS[table])
                con.register("new_rows", data)
                con.register("new_keys", keys[table])
                con.execute(
                    f"delete from serving.{table} where ({key_list}) in (select ({key_list}) from new_keys)"
                )
                columns = ", ".join([*SERVING[table][1], "expires_at"])
                con.execute(f"insert into serving.{table} ({columns}) select {columns} from new_rows")
                con.unregister("new_rows")
                con.unregister("new_keys")
                written[table] = data.num_rows
            con.execute("commit")
            con.execute("checkpoint")
        finally:
            con.close()
        atomic_copy(self.writer, self.published)
        return written

    def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Delete the rows whose expires_at has passed; publish."""
        self.ensure()
        now = now or datetime.now(UTC)
        con = duckdb.connect(str(self.writer))
        purged = {}
        try:
            for table in SERVING:
                row = con.execute(f"delete from serving.{table} where expires_at <= ?", [now]).fetchone()
                purged[table] = int(row[0]) if row else 0
            con.execute("checkpoint")
        finally:
            con.close()
        atomic_copy(self.writer, self.published)
        return purged

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """serving.stats_hourly / serving.stats_daily in a reader's session: the published file, read-only,
        expired rows filtered out (they may wait for the next purge)."""
        if not self.published.exists():
            self.ensure()
        con.execute(f"attach {sql_literal(str(self.published))} as stats_store (read_only)")
        con.execute("create schema if not exists serving")
        for table in SERVING:
            con.execute(
                f"create or replace view serving.{table} as select * from stats_store.serving.{table} "
                "where expires_at > now()"
            )


def published_path(settings: Settings) -> Path:
    return DuckDBStatsStore(settings).published
