"""DuckDB warehouse with readers that never wait for the loader.

The loader works on a private file (`.warehouse-loader.duckdb`); after a load passes its gate, a checkpointed
copy is atomically renamed over `$WENULAKE_HOME/warehouse.duckdb`, the file analysts open (read-only). A reader
keeps the snapshot it opened (the old inode) and the next one gets the new one: no lock errors, and every query
sees a committed state. A load that fails its gate is discarded by copying the published file back.
See docs/adr/0007-warehouse-snapshots.md.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from wenulake.errors import WenulakeError
from wenulake.lakefiles import sql_literal
from wenulake.settings import Settings
from wenulake.storage import atomic_copy, open_parquet
from wenulake.warehouse import COLUMNS, LOADS, LoadResult, LoadSpec, Staged, check_drift, type_family

_LOCKS: dict[Path, tuple[int, int]] = {}


@contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Serialise the processes that write the loader's file or publish it (re-entrant within a process): a
    sensors load, its gate's publish or discard, and the alarms DAG's table replacement."""
    import fcntl

    path = (settings.home / ".warehouse.lock").absolute()
    fd, depth = _LOCKS.get(path, (-1, 0))
    if depth == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
    _LOCKS[path] = (fd, depth + 1)
    try:
        yield
    finally:
        fd, depth = _LOCKS[path]
        if depth == 1:
            del _LOCKS[path]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        else:
            _LOCKS[path] = (fd, depth - 1)


def published_path(settings: Settings) -> Path:
    return (settings.home / "warehouse.duckdb").absolute()


def loader_path(settings: Settings) -> Path:
    return (settings.home / ".warehouse-loader.duckdb").absolute()


def ddl_statements(settings: Settings) -> list[str]:
    return [path.read_text() for path in sorted((settings.sql_dir / "warehouse" / "ddl").glob("*.sql"))]


def _apply_ddl(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.execute("create schema if not exists ops")
    for statement in ddl_statements(settings):
        con.execute(statement)


class DuckDBWarehouse:
    kind = "duckdb"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loader = loader_path(settings)
        self.published = published_path(settings)

    def ensure(self) -> None:
        """Both files exist with every table (so a query never fails for a table no load has filled yet)."""
        self.loader.parent.mkdir(parents=True, exist_ok=True)
        if not self.loader.exists() and self.published.exists():
            shutil.copyfile(self.published, self.loader)
        con = duckdb.connect(str(self.loader))
        try:
            _apply_ddl(con, self.settings)
            con.execute("checkpoint")
        finally:
            con.close()
        if not self.published.exists():
            self.publish()
        elif self._missing_tables(self.published):
            self._upgrade_published()

    def ensure_published(self) -> None:
        """The readers' side of `ensure`: never opens the loader's file (a load may hold it)."""
        if not self.published.exists():
            self.ensure()
        elif self._missing_tables(self.published):
            self._upgrade_published()

    def _missing_tables(self, path: Path) -> set[str]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            have = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
        finally:
            con.close()
        return set(COLUMNS) - have

    def _upgrade_published(self) -> None:
        """New tables of a newer DDL reach the analysts' snapshot without publishing unvalidated loads:
        copy, apply the DDL to the copy, swap it in."""
        tmp = self.published.with_name(self.published.name + f".{os.getpid()}.upgrade")
        try:
            shutil.copyfile(self.published, tmp)
            con = duckdb.connect(str(tmp))
            try:
                _apply_ddl(con, self.settings)
                con.execute("checkpoint")
            finally:
                con.close()
            os.replace(tmp, self.published)
        finally:
            tmp.unlink(missing_ok=True)

    def connect_loader(self) -> duckdb.DuckDBPyConnection:
        from wenulake.duckdb_sessions import load_extensions
        from wenulake.settings import is_s3

        self.ensure()
        con = duckdb.connect(
            str(self.loader),
            config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"},
        )
        stage = self.settings.stage_uri
        load_extensions(con, self.settings, [stage] if is_s3(stage) else [])
        return con

    def table_columns(self) -> dict[str, dict[str, str]]:
        self.ensure()
        return _table_columns(self.loader)

    def covered_runs(self) -> set[str]:
        self.ensure_published()
        con = duckdb.connect(str(self.published), read_only=True)
        try:
            rows = con.execute("select distinct source_run_id from ops.warehouse_coverage").fetchall()
        finally:
            con.close()
        return {row[0] for row in rows}

    def load(self, staged: Staged, run_id: str, sources: list[str]) -> list[LoadResult]:
        with writer_lock(self.settings):
            return self._load(staged, run_id, sources)

    def _load(self, staged: Staged, run_id: str, sources: list[str]) -> list[LoadResult]:
        """Load staged Parquet files in ONE transaction on the loader's file: per table, a temporary staging view
        over the COPY source, delete the touched keys, insert, record ops.warehouse_load; then ops.warehouse_coverage. Any
        failure rolls everything back: the previous state stays whole. Analysts see it after `publish`."""
        columns = self.table_columns()
        for table, (rows, _) in staged.items():
            check_drift(table, open_parquet(rows, self.settings).schema_arrow, columns[table])
        con = self.connect_loader()
        results = []
        try:
            con.execute("begin transaction")
            try:
                for spec in LOADS:
                    if spec.table in staged:
                        rows, keys = staged[spec.table]
                        results.append(_load_table(con, spec, rows, keys, run_id))
                now = datetime.now(UTC)
                con.executemany(
                    "insert into ops.warehouse_coverage values (?, ?, ?)",
                    [[source, run_id, now] for source in sources],
                )
                con.execute("commit")
            except duckdb.Error as exc:
                con.execute("rollback")
                table = _current_table(results, staged)
                raise WenulakeError(
                    f"warehouse load failed at {table}, nothing changed: {' '.join(str(exc).split())}"
                ) from exc
            con.execute("checkpoint")
        finally:
            con.close()
        return results

    def gate_query(self, sql: str, run_id: str, keys: pa.Table) -> pa.Table:
        con = duckdb.connect(str(self.loader), read_only=True)
        try:
            con.register("touched_keys", keys)
            return con.execute(sql).fetch_arrow_table()
        finally:
            con.close()

    def publish(self, run_id: str = "") -> list[LoadResult]:
        """Atomically replace the analysts' file with a checkpointed copy of the loader's."""
        with writer_lock(self.settings):
            atomic_copy(self.loader, self.published)
        return []

    def replace_table(self, table: str, rows: str, run_id: str) -> LoadResult:
        return self.replace_tables({table: rows}, run_id)[0]

    def replace_tables(self, staged: dict[str, str], run_id: str) -> list[LoadResult]:
        """Replace each table whole in the loader's file (so a later publish keeps them) and in the analysts'
        file (a copy changed in one transaction, swapped in atomically), without publishing a load in
        progress."""
        with writer_lock(self.settings):
            self.ensure()
            columns = self.table_columns()
            for table, rows in staged.items():
                check_drift(table, open_parquet(rows, self.settings).schema_arrow, columns[table])
            specs = {table: LoadSpec(table, (), "all") for table in staged}
            con = self.connect_loader()
            try:
                con.execute("begin transaction")
                results = [_load_table(con, specs[t], rows, None, run_id) for t, rows in staged.items()]
                con.execute("commit")
                con.execute("checkpoint")
            finally:
                con.close()
            tmp = self.published.with_name(self.published.name + f".{os.getpid()}.replace")
            try:
                shutil.copyfile(self.published, tmp)
                con = duckdb.connect(str(tmp), config={"autoinstall_known_extensions": "false"})
                try:
                    from wenulake.duckdb_sessions import load_extensions
                    from wenulake.settings import is_s3

                    load_extensions(con, self.settings, [r for r in staged.values() if is_s3(r)][:1])
                    con.execute("begin transaction")
                    for table, rows in staged.items():
                        _load_table(con, specs[table], rows, None, run_id)
                    con.execute("commit")
                    con.execute("checkpoint")
                finally:
                    con.close()
                os.replace(tmp, self.published)
            finally:  # a failed copy or load (a disk full) leaves no half-written copy behind
                tmp.unlink(missing_ok=True)
        return results

    def maintain(self, dry_run: bool = False) -> list[str]:
        """ANALYZE and CHECKPOINT the loader's file and the analysts' (a copy swapped in atomically: readers keep
        the snapshot they opened), under the writer lock."""
        actions = [f"analyze + checkpoint {self.loader.name}", f"analyze + checkpoint {self.published.name}"]
        if dry_run:
            return actions
        with writer_lock(self.settings):
            self.ensure()
            con = duckdb.connect(str(self.loader))
            try:
                con.execute("analyze")
                con.execute("checkpoint")
            finally:
                con.close()
            tmp = self.published.with_name(self.published.name + f".{os.getpid()}.maintain")
            shutil.copyfile(self.published, tmp)
            con = duckdb.connect(str(tmp))
            try:
                con.execute("analyze")
                con.execute("checkpoint")
            finally:
                con.close()
            os.replace(tmp, self.published)
        return actions

    def attach(self, con: duckdb.DuckDBPyConnection) -> str:
        self.ensure_published()
        con.execute(f"attach {sql_literal(str(self.published))} as warehouse (read_only)")
        return "warehouse.main"

    def discard(self, run_id: str = "") -> None:
        """Throw the loader's unpublished changes away (a failed gate)."""
        with writer_lock(self.settings):
            if self.published.exists():
                atomic_copy(self.published, self.loader)


def _load_table(
    con: duckdb.DuckDBPyConnection, spec: LoadSpec, rows: str, keys: str | None, run_id: str
) -> LoadResult:
    """One table's part of the load transaction (the caller begins and commits)."""
    started = time.perf_counter()
    columns = ", ".join(f'"{c}"' for c in COLUMNS[spec.table])
    stage = f"stage_{spec.table}"
    # the stage is a view over the COPY source: DuckDB reads the Parquet once, straight into the target (a
    # staging table would write every row twice); the transaction keeps delete + insert atomic all the same
    source = sql_literal(rows)
    con.execute(
        f"create or replace temporary view {stage} as "
        f"select {columns} from read_parquet({source}, union_by_name = true)"
    )
    if spec.mode == "all":
        deleted = _count(con.execute(f"delete from {spec.table}"))
    else:
        key_list = ", ".join(spec.key_columns)
        deleted = _count(
            con.execute(
                f"delete from {spec.table} where ({key_list}) in (select ({key_list}) from read_parquet(?))",
                [keys or rows],
            )
        )
    inserted = _count(con.execute(f"insert into {spec.table} ({columns}) select {columns} from {stage}"))
    seconds = round(time.perf_counter() - started, 3)
    con.execute(
        "insert into ops.warehouse_load values (?, ?, ?, ?, ?, ?)",
        [spec.table, run_id, deleted, inserted, seconds, datetime.now(UTC)],
    )
    con.execute(f"drop view {stage}")
    return LoadResult(spec.table, deleted, inserted, seconds)


def _table_columns(path: Path) -> dict[str, dict[str, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'main' order by table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, dict[str, str]] = {table: {} for table in COLUMNS}
    for table, column, data_type in rows:
        columns.setdefault(table, {})[column] = type_family(data_type)
    return columns


def _current_table(done: list[LoadResult], staged: Staged) -> str:
    """The table whose load failed: the first staged one not done yet."""
    finished = {r.table for r in done}
    return next((spec.table for spec in LOADS if spec.table in staged and spec.table not in finished), "?")


def _count(relation: duckdb.DuckDBPyConnection) -> int:
    row = relation.fetchone()
    return int(row[0]) if row else 0
