"""The lake: Delta tables through delta-rs, local or on S3. All lake I/O of jobs goes through here.

Spark computes, Arrow carries, delta-rs commits (no Delta jars can be had on these machines; see
docs/adr/0002-delta-through-delta-rs.md). Writes say what they replace: `replace(..., predicate)` swaps exactly the
rows an interval owns, in one Delta commit. One writer per table at a time (the DAGs serialise publishers).
Every commit first checks the lake lock's lease (`lakelock.check_lease`): a run that lost its S3 lock to another
raises LakeLockLost instead of committing.

Staging (write-audit-publish): a job writes its candidate output to `<lake>/_staging/<batch>/<table>`, a gate
validates it, and `publish` moves it into the published tables. Nothing staged is visible to readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from wenulake.contracts.tables import TABLES, TableSpec

if TYPE_CHECKING:
    import duckdb
from wenulake.errors import StorageError
from wenulake.lakefiles import (
    CommitReport,
    FileBatch,
    TableSink,
    Where,
    conform_schema,
    now_ms,
    read_file,
    write_files,
)
from wenulake.lakelock import check_lease
from wenulake.rowcount import count_rows_out
from wenulake.settings import Settings, is_s3, join
from wenulake.storage import StoreSpec

#: Table properties: no deletion vectors, so every reader (Spark without Delta jars, DuckDB, delta-rs) agrees.
TABLE_CONFIGURATION = {"delta.enableDeletionVectors": "false"}


def staging_batch(stage: str, run_id: str) -> str:
    """The staging folder name of one stage's batch in one run (file-system safe)."""
    return f"{stage}-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in run_id)


#: table locations this process has created or brought to the contract's schema (Lake.ensure skips them)
_ENSURED: set[str] = set()


class Lake:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.lake_uri
        self.options = settings.delta_storage_options()

    # -- locations ---------------------------------------------------------------------------------------
    def uri(self, spec: TableSpec) -> str:
        return spec.location(self.root)

    # -- tables ------------------------------------------------------------------------------------------
    def ensure(self, specs: Iterable[TableSpec] | None = None) -> None:
        """Create every contract table that does not exist yet (empty), so queries never miss a table."""
        if not is_s3(self.root):
            Path(self.root).mkdir(parents=True, exist_ok=True)
        for spec in specs if specs is not None else TABLES.values():
            self._create(self.uri(spec), spec)

    def _create(self, uri: str, spec: TableSpec) -> None:
        if uri in _ENSURED and (is_s3(uri) or (Path(uri) / "_delta_log").is_dir()):
            return  # created or evolved by this process already
        self._create_or_evolve(uri, spec)
        _ENSURED.add(uri)

    def _create_or_evolve(self, uri: str, spec: TableSpec) -> None:
        check_lease(self.settings, spec.name)
        try:
            existing = DeltaTable(uri, storage_options=self.options)
        except TableNotFoundError:
            existing = None
        if existing is not None:
            if list(existing.metadata().partition_columns) != list(spec.partition_by):
                self._relayout(uri, existing, spec)
                return
            self._evolve(existing, spec)
            return
        try:
            DeltaTable.create(
                uri,
                schema=spec.schema,
                partition_by=list(spec.partition_by) or None,
                mode="ignore",
                configuration=TABLE_CONFIGURATION,
                storage_options=self.options,
            )
        except OSError as exc:
            raise StorageError(f"cannot create Delta table {spec.name} at {uri}: {exc}") from exc

    def _relayout(self, uri: str, existing: DeltaTable, spec: TableSpec) -> None:
        """Rewrite a table laid out by an older contract (other partition columns) in one overwrite commit:
        the same rows, derived columns filled, readers see the old table or the new one."""
        import logging

        logging.getLogger(__name__).warning(
            "%s: partitioned by %s, the contract says %s: rewriting it once (version %d)",
            spec.name,
            list(existing.metadata().partition_columns) or "nothing",
            list(spec.partition_by),
            existing.version(),
        )
        data = existing.to_pyarrow_table()
        write_deltalake(
            uri,
            conform(data, spec),
            mode="overwrite",
            schema_mode="overwrite",
            partition_by=list(spec.partition_by) or None,
            storage_options=self.options,
            configuration=TABLE_CONFIGURATION,
        )

    @staticmethod
    def _evolve(existing: DeltaTable, spec: TableSpec) -> None:
        """Add columns a newer contract version introduced (nullable, so old rows read as null)."""
        from deltalake.schema import Schema

        have = {f.name for f in existing.schema().fields}
        missing = [f for f in spec.schema if f.name not in have]
        if missing:
            new_fields = Schema.from_arrow(pa.schema([f.with_nullable(True) for f in missing])).fields
            existing.alter.add_columns(list(new_fields))

    def table(self, spec: TableSpec) -> DeltaTable:
        try:
            return DeltaTable(self.uri(spec), storage_options=self.options)
        except TableNotFoundError:
            self.ensure([spec])
            return DeltaTable(self.uri(spec), storage_options=self.options)

    def read(self, spec: TableSpec, filters: Any = None, columns: list[str] | None = None) -> pa.Table:
        """Read a table (optionally filtered: a pyarrow.dataset expression) with the contract schema."""
        dataset = self.table(spec).to_pyarrow_dataset()
        data = dataset.to_table(filter=filters, columns=columns)
        if columns is None:
            data = data.select(spec.schema.names).cast(spec.schema)
        return data

    def version(self, spec: TableSpec) -> int:
        return self.table(spec).version()

    def writable(self, spec: TableSpec) -> DeltaTable:
        """The table, for a commit made through delta-rs' own API (`delete`, `merge`): the lease checked first."""
        check_lease(self.settings, spec.name)
        return self.table(spec)

    def replace(self, spec: TableSpec, data: pa.Table, predicate: str) -> None:
        """Replace the rows matching `predicate` by `data`, in one commit (an empty `data` deletes them)."""
        count_rows_out(data.num_rows)
        check_lease(self.settings, spec.name)
        write_deltalake(
            self.uri(spec),
            conform(data, spec),
            mode="overwrite",
            predicate=predicate,
            partition_by=list(spec.partition_by) or None,
            storage_options=self.options,
            configuration=TABLE_CONFIGURATION,
        )

    def append(self, spec: TableSpec, data: pa.Table) -> None:
        count_rows_out(data.num_rows)
        check_lease(self.settings, spec.name)
        write_deltalake(
            self.uri(spec),
            conform(data, spec),
            mode="append",
            partition_by=list(spec.partition_by) or None,
            storage_options=self.options,
        )

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB session (UTC) that reads this lake's files, S3 included; the gates read staged files with it."""
        from wenulake.duckdb_sessions import duckdb_session

        return duckdb_session(self.settings, [self.root] if is_s3(self.root) else [])

    # -- staging: data files in the table's folder, listed by the batch's manifest -------------------------
    def sink(self, spec: TableSpec, batch: str, split_by: str | None = None) -> TableSink:
        """Where a batch's data files of `spec` go (handed to executors by value)."""
        return TableSink(
            table=spec.name,
            store=StoreSpec.from_settings(self.root, self.settings),
            folder=f"{spec.layer}/{spec.short_name}",
            schema=spec.schema,
            partition_by=spec.partition_by,
            split_by=split_by,
            prefix=f"part-{batch}",
        )

    def stage(self, batch: str, spec: TableSpec, data: pa.Table, split_by: str | None = None) -> None:
        """Stage rows written here (the driver holds them): data files + the batch's manifest of them."""
        self.stage_files(batch, spec, write_files(self.sink(spec, batch, split_by), conform(data, spec)))

    def stage_files(self, batch: str, spec: TableSpec, files: list[dict[str, Any]]) -> None:
        """Record the data files written for `spec` in this batch (by executors or by `stage`), replacing what
        the batch staged for it before (those files are deleted unless a commit references them)."""
        store = self._root_store()
        key = self._manifest_key(batch, spec)
        previous = self._manifest(batch, spec)
        store.put(key, json.dumps({"table": spec.name, "files": files}).encode())
        count_rows_out(sum(int(f.get("rows") or 0) for f in files))
        if previous is not None:
            kept = {f["path"] for f in files}
            self._delete_uncommitted(spec, [f for f in previous if f["path"] not in kept])

    def staged_files(self, batch: str, spec: TableSpec) -> list[dict[str, Any]]:
        files = self._manifest(batch, spec)
        if files is None:
            raise StorageError(f"no staged {spec.name} for batch {batch!r}: run its ingest task first")
        return files

    def staged_batch(self, batch: str, spec: TableSpec) -> FileBatch:
        """The staged files of `spec` as a batch a gate reads through DuckDB (no rows in this process)."""
        files = self.staged_files(batch, spec)
        return FileBatch(
            table=spec.name,
            schema=spec.schema,
            uris=tuple(self.file_uri(spec, f["path"]) for f in files),
            rows=sum(int(f["rows"]) for f in files),
            partition_by=spec.partition_by,
        )

    def read_staged(self, batch: str, spec: TableSpec) -> pa.Table:
        """The staged rows of `spec`, in memory (for stages whose batches are small)."""
        parts = [
            read_file(
                self.file_uri(spec, f["path"]), json.loads(f["partition_values"]), spec.schema, self.settings
            )
            for f in self.staged_files(batch, spec)
        ]
        return pa.concat_tables(parts) if parts else spec.schema.empty_table()

    def publish_staged(self, batch: str, spec: TableSpec, replace: Where | None) -> CommitReport:
        """Commit the batch's files of `spec` in one Delta transaction that also removes what `replace` owns."""
        report = self.commit_files(spec, self.staged_files(batch, spec), replace, batch)
        self._root_store().delete(self._manifest_key(batch, spec))
        return report

    def file_uri(self, spec: TableSpec, path: str) -> str:
        from urllib.parse import unquote

        return join(self.uri(spec), unquote(path))

    def _root_store(self) -> Any:
        return StoreSpec.from_settings(self.root, self.settings).open()

    def _manifest_key(self, batch: str, spec: TableSpec) -> str:
        return f"_staging/{batch}/{spec.name}.files.json"

    def _manifest(self, batch: str, spec: TableSpec) -> list[dict[str, Any]] | None:
        store = self._root_store()
        key = self._manifest_key(batch, spec)
        if not store.exists(key):
            return None
        files: list[dict[str, Any]] = json.loads(store.get(key))["files"]
        return files

    def _delete_uncommitted(self, spec: TableSpec, files: list[dict[str, Any]]) -> None:
        """Delete staged data files, except any a commit references (a crash between commit and cleanup)."""
        if not files:
            return
        live = set(pa.table(self.table(spec).get_add_actions(flatten=True))["path"].to_pylist())
        store = self._root_store()
        for f in files:
            if f["path"] not in live:
                store.delete(f"{spec.layer}/{spec.short_name}/{f['path']}")

    # -- commits ---------------------------------------------------------------------------------------------
    def commit_files(
        self,
        spec: TableSpec,
        files: list[dict[str, Any]],
        replace: Where | None = None,
        batch: str = "commit",
    ) -> CommitReport:
        """One Delta transaction: add `files` (already in the table's folder) and remove the files holding rows
        that `replace` matches. A file only partly matched is rewritten without those rows (read here: one
        file at a time), in the same transaction."""
        from deltalake.transaction import AddAction, RemoveAction

        table = self.table(spec)
        report = CommitReport(spec.name)
        actions: list[Any] = []
        files = list(files)
        stamp = now_ms()
        if replace is not None:
            for current in self._current_files(table, spec, replace):
                verdict = replace.classify(current["stats"])
                if verdict == "none":
                    continue
                actions.append(
                    RemoveAction(
                        path=current["path"],
                        data_change=True,
                        deletion_timestamp=stamp,
                        size=current["size"],
                        partition_values=current["partition_values"],
                    )
                )
                report.removed += 1
                if verdict == "some":
                    rows = read_file(
                        self.file_uri(spec, current["path"]),
                        current["partition_values"],
                        spec.schema,
                        self.settings,
                    )
                    keep = rows.filter(~replace.expression())
                    files += write_files(self.sink(spec, f"rewrite-{batch}"), keep)
                    report.rewritten += 1
        for f in files:
            actions.append(
                AddAction(
                    path=f["path"],
                    size=int(f["size"]),
                    partition_values=json.loads(f["partition_values"]),
                    modification_time=stamp,
                    data_change=True,
                    stats=f["stats"],
                )
            )
            report.added += 1
            report.rows_added += int(f["rows"])
        if not actions:
            report.version = table.version()
            return report
        check_lease(self.settings, spec.name)
        table.create_write_transaction(
            actions, mode="append", schema=spec.schema, partition_by=list(spec.partition_by) or None
        )
        count_rows_out(report.rows_added)
        report.version = table.version()
        return report

    @staticmethod
    def _current_files(table: DeltaTable, spec: TableSpec, where: Where) -> list[dict[str, Any]]:
        """The table's live files with (min, max) of the columns `where` reads (partition columns from their
        values)."""
        actions = pa.table(table.get_add_actions(flatten=True))
        names = set(actions.column_names)
        columns = [c for c, _ in where.equals] + ([where.column] if where.column else [])
        out = []
        for row in actions.to_pylist():
            partition = {c: row.get(f"partition.{c}") for c in spec.partition_by}
            stats: dict[str, tuple[Any, Any]] = {}
            for column in columns:
                if column in spec.partition_by:
                    value = _typed(partition[column], spec.schema.field(column).type)
                    stats[column] = (value, value)
                elif f"min.{column}" in names:
                    stats[column] = (row[f"min.{column}"], row[f"max.{column}"])
            out.append(
                {
                    "path": row["path"],
                    "size": int(row["size_bytes"]),
                    "partition_values": {c: None if v is None else str(v) for c, v in partition.items()},
                    "stats": stats,
                }
            )
        return out

    def stage_raw(self, batch: str, name: str, data: pa.Table) -> None:
        """Stage a helper table that has no contract (keys a publish step needs)."""
        write_deltalake(
            join(self.root, "_staging", batch, name), data, mode="overwrite", storage_options=self.options
        )

    def read_staged_raw(self, batch: str, name: str) -> pa.Table:
        return DeltaTable(
            join(self.root, "_staging", batch, name), storage_options=self.options
        ).to_pyarrow_table()

    def drop_staging(self, batch: str) -> None:
        """Forget a batch: its uncommitted data files and its staging folder."""
        from wenulake.storage import remove_tree

        for spec in TABLES.values():
            files = self._manifest(batch, spec)
            if files:
                self._delete_uncommitted(spec, files)
        remove_tree(join(self.root, "_staging", batch), self.settings)


def _typed(value: Any, kind: pa.DataType) -> Any:
    """A partition value (text in the Delta log) as the column's Python value, for comparisons."""
    if value is None or not isinstance(value, str) or pa.types.is_string(kind):
        return value
    return pa.scalar(value).cast(kind).as_py()


def constant(value: Any, n: int, kind: pa.DataType) -> pa.Array:
    """An array of `n` copies of `value` (built by Arrow: no Python list of n objects)."""
    return pa.repeat(pa.scalar(value, kind), n)


def conform(data: pa.Table, spec: TableSpec) -> pa.Table:
    """Columns in contract order and types; a missing derived column is computed, a missing nullable one becomes
    nulls. The select is the schema."""
    for name, derive in spec.derived:
        if name not in data.column_names:
            data = data.append_column(name, derive(data))
    return conform_schema(data, spec.schema, spec.name)
