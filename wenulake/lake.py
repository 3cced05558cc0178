"""The lake: Delta tables through delta-rs, local or on S3. All lake I/O of jobs goes through here.

Spark computes, Arrow carries, delta-rs commits (no Delta jars can be had on these machines; see
docs/adr/0002-delta-through-delta-rs.md). Writes say what they replace: `replace(..., predicate)` swaps exactly the
rows an interval owns, in one Delta commit. One writer per table at a time (the DAGs serialise publishers).

Staging (write-audit-publish): a job writes its candidate output to `<lake>/_staging/<batch>/<table>`, a gate
validates it, and `publish` moves it into the published tables. Nothing staged is visible to readers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from wenulake.contracts.tables import TABLES, TableSpec
from wenulake.errors import StorageError
from wenulake.settings import Settings, is_s3, join

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
        return join(self.root, spec.layer, spec.short_name)

    def staging_uri(self, batch: str, spec: TableSpec) -> str:
        return join(self.root, "_staging", batch, spec.name)

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
        try:
            existing = DeltaTable(uri, storage_options=self.options)
        except TableNotFoundError:
            existing = None
        if existing is not None:
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

    def replace(self, spec: TableSpec, data: pa.Table, predicate: str) -> None:
        """Replace the rows matching `predicate` by `data`, in one commit (an empty `data` deletes them)."""
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
        write_deltalake(
            self.uri(spec),
            conform(data, spec),
            mode="append",
            partition_by=list(spec.partition_by) or None,
            storage_options=self.options,
        )

    # -- staging -----------------------------------------------------------------------------------------
    def stage(self, batch: str, spec: TableSpec, data: pa.Table) -> None:
        write_deltalake(
            self.staging_uri(batch, spec), conform(data, spec), mode="overwrite", storage_options=self.options
        )

    def stage_raw(self, batch: str, name: str, data: pa.Table) -> None:
        """Stage a helper table that has no contract (keys a publish step needs)."""
        write_deltalake(
            join(self.root, "_staging", batch, name), data, mode="overwrite", storage_options=self.options
        )

    def read_staged_raw(self, batch: str, name: str) -> pa.Table:
        return DeltaTable(
            join(self.root, "_staging", batch, name), storage_options=self.options
        ).to_pyarrow_table()

    def read_staged(self, batch: str, spec: TableSpec) -> pa.Table:
        try:
            staged = DeltaTable(self.staging_uri(batch, spec), storage_options=self.options)
        except TableNotFoundError:
            raise StorageError(
                f"no staged {spec.name} for batch {batch!r}: run its ingest task first"
            ) from None
        return staged.to_pyarrow_table().select(spec.schema.names).cast(spec.schema)

    def drop_staging(self, batch: str) -> None:
        from wenulake.storage import remove_tree

        remove_tree(join(self.root, "_staging", batch), self.settings)


def constant(value: Any, n: int, kind: pa.DataType) -> pa.Array:
    """An array of `n` copies of `value` (built by Arrow: no Python list of n objects)."""
    return pa.repeat(pa.scalar(value, kind), n)


def conform(data: pa.Table, spec: TableSpec) -> pa.Table:
    """Columns in contract order and types; a missing nullable column becomes nulls. The select is the schema."""
    columns = []
    for field in spec.schema:
        if field.name in data.column_names:
            columns.append(data.column(field.name).cast(field.type))
        elif field.nullable:
            columns.append(pa.nulls(data.num_rows, field.type))
        else:
            raise ValueError(f"{spec.name}: column {field.name} is required")
    return pa.Table.from_arrays(columns, schema=spec.schema)
