"""Executors write, the driver commits: Parquet data files of a Delta table, their descriptors, and the commit.

A stage's output never travels through one process. Whoever holds the rows (a Spark executor inside
`mapInArrow`, or the driver for small stages) writes them as Parquet files straight into the target table's
folder with `write_files`, and hands back only descriptors: path, size, rows, partition values and Delta
statistics (`FILE_SCHEMA`). Files that no Delta commit references are invisible to every reader (delta-rs, DuckDB's
delta_scan, Spark), so a staged batch can sit in the table's folder while its gate runs; a crash before the commit
leaves only unreferenced files (VACUUM removes them).

The batch's descriptors are its manifest (`<lake>/_staging/<batch>/<table>.files.json`, see `wenulake.lake`);
the gate reads the files through DuckDB; `commit` turns them into one Delta transaction with delta-rs
(`create_write_transaction` with `AddAction`s, and `RemoveAction`s for the files a `Where` replaces). Files that
only partly match a `Where` are rewritten without the matching rows in the same transaction, so readers see the
old snapshot or the new one, never a mix. Everything here is picklable and imports no Spark.
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from wenulake.storage import StoreSpec

if TYPE_CHECKING:
    import pyarrow.compute as pc

#: One row per data file written: what the driver needs to gate and commit it (no data).
FILE_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),  # schema-qualified table name
        pa.field("path", pa.string(), nullable=False),  # relative to the table's folder, '/'-separated
        pa.field("size", pa.int64(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("partition_values", pa.string(), nullable=False),  # JSON object column -> value (or null)
        pa.field("stats", pa.string(), nullable=False),  # Delta statistics JSON
    ]
)

#: Delta truncates string statistics; longer values get no min/max (readers then keep the file).
STRING_STATS_LIMIT = 32
#: Rows per Parquet row group (readers skip row groups by their statistics).
ROW_GROUP_ROWS = 256 * 1024


@dataclass(frozen=True)
class TableSink:
    """Where one table's data files go; small and picklable (sent to Spark executors)."""

    table: str  # schema-qualified name, e.g. "bronze.sensor_message"
    store: StoreSpec  # the lake root
    folder: str  # the table's folder relative to the lake root, e.g. "bronze/sensor_message"
    schema: pa.Schema  # the contract schema, partition columns included
    partition_by: tuple[str, ...] = ()
    #: a column whose distinct values get files of their own (arrival_hour: an hour's rows never share a file
    #: with another hour's, so replacing an hour removes whole files and rewrites none)
    split_by: str | None = None
    prefix: str = "part"  # file name prefix (the batch: files of one batch are recognisable)

    def uri(self, path: str) -> str:
        return f"{self.store.root.rstrip('/')}/{self.folder}/{path}"


# -- writing (executors or driver) ---------------------------------------------------------------------------
def write_files(sink: TableSink, data: pa.Table) -> list[dict[str, Any]]:
    """Write `data` (the sink's schema) as Parquet files under the table's folder: one file per partition (and
    `split_by` value). Returns one descriptor per file (FILE_SCHEMA as dicts); nothing for no rows."""
    if data.num_rows == 0:
        return []
    data = conform_schema(data, sink.schema, sink.table)
    keys = [*sink.partition_by, *([sink.split_by] if sink.split_by else [])]
    out = []
    for values, part in _groups(data, keys):
        partition = {c: _partition_text(values[c]) for c in sink.partition_by}
        body = part.drop_columns(list(sink.partition_by))
        out.append(_write_one(sink, body, partition))
    return out


def conform_schema(data: pa.Table, schema: pa.Schema, name: str) -> pa.Table:
    """Columns in contract order and types; a missing nullable column becomes nulls. The select is the schema."""
    columns = []
    for f in schema:
        if f.name in data.column_names:
            columns.append(data.column(f.name).cast(f.type))
        elif f.nullable:
            columns.append(pa.nulls(data.num_rows, f.type))
        else:
            raise ValueError(f"{name}: column {f.name} is required")
    return pa.Table.from_arrays(columns, schema=schema)


def _groups(data: pa.Table, keys: list[str]) -> Iterable[tuple[dict[str, Any], pa.Table]]:
    import pyarrow.compute as pc

    if not keys:
        yield {}, data
        return
    distinct = data.select(keys).group_by(keys).aggregate([]).to_pylist()
    for values in distinct:
        mask = None
        for column, value in values.items():
            test = pc.is_null(data[column]) if value is None else pc.equal(data[column], value)
            mask = test if mask is None else pc.and_(mask, test)
        yield values, data.filter(mask)


def _partition_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)


def _partition_dir(partition: dict[str, str | None]) -> str:
    from urllib.parse import quote

    return "/".join(
        f"{c}={quote(v, safe='') if v is not None else '__HIVE_DEFAULT_PARTITION__'}"
        for c, v in partition.items()
    )


def _write_one(sink: TableSink, body: pa.Table, partition: dict[str, str | None]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    folder = _partition_dir(partition)
    name = f"{sink.prefix}-{uuid.uuid4()}.snappy.parquet"
    path = f"{folder}/{name}" if folder else name
    buffer = io.BytesIO()
    pq.write_table(body, buffer, compression="snappy", row_group_size=ROW_GROUP_ROWS)
    payload = buffer.getvalue()
    sink.store.open().put(f"{sink.folder}/{path}", payload)
    return {
        "table": sink.table,
        "path": path,
        "size": len(payload),
        "rows": body.num_rows,
        "partition_values": json.dumps(partition),
        "stats": json.dumps(statistics(body)),
    }


def statistics(data: pa.Table) -> dict[str, Any]:
    """Delta file statistics (numRecords, minValues, maxValues, nullCount) as delta-rs writes them: timestamps
    truncated to milliseconds, NaN left out of float ranges, nested and long string columns without a range."""
    import pyarrow.compute as pc

    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name, column in zip(data.column_names, data.columns, strict=True):
        kind = column.type
        if pa.types.is_nested(kind):
            continue
        nulls[name] = column.null_count
        values = column
        if pa.types.is_floating(kind):
            values = pc.filter(column, pc.invert(pc.fill_null(pc.is_nan(column), True)))
        if pa.types.is_boolean(kind) or len(values) == values.null_count:
            continue
        low, high = pc.min_max(values).values()
        low, high = low.as_py(), high.as_py()
        if pa.types.is_timestamp(kind):
            mins[name], maxs[name] = _ts_text(low), _ts_text(high)
        elif pa.types.is_date(kind):
            mins[name], maxs[name] = low.isoformat(), high.isoformat()
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if len(low) <= STRING_STATS_LIMIT and len(high) <= STRING_STATS_LIMIT:
                mins[name], maxs[name] = low, high
        elif (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and all(
            math.isfinite(v) for v in (low, high)
        ):
            mins[name], maxs[name] = low, high
    return {"numRecords": data.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}


def _ts_text(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# -- what a commit replaces -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Where:
    """Rows a commit replaces: every `equals` column equal to its value, and `column` in [low, high).

    One definition serves file pruning (Delta statistics), row filtering (pyarrow) and SQL (delta-rs and
    DuckDB predicates, values quoted by `sql_literal`)."""

    equals: tuple[tuple[str, str], ...] = ()
    column: str | None = None
    low: datetime | None = None
    high: datetime | None = None

    @classmethod
    def hours(cls, column: str, low: datetime, high: datetime, **equals: str) -> Where:
        return cls(tuple(sorted(equals.items())), column, low, high)

    def expression(self) -> pc.Expression:
        """The matching rows, as a pyarrow compute expression."""
        import pyarrow.compute as pc

        parts = [pc.field(c) == v for c, v in self.equals]
        if self.column is not None:
            ts = pa.timestamp("us", tz="UTC")
            parts += [
                pc.field(self.column) >= pa.scalar(self.low, ts),
                pc.field(self.column) < pa.scalar(self.high, ts),
            ]
        expression = parts[0]
        for part in parts[1:]:
            expression = expression & part
        return expression

    def sql(self) -> str:
        parts = [f"{c} = {sql_literal(v)}" for c, v in self.equals]
        if self.column is not None and self.low is not None and self.high is not None:
            parts += [
                f"{self.column} >= {sql_literal(self.low)}",
                f"{self.column} < {sql_literal(self.high)}",
            ]
        return " AND ".join(parts) or "true"

    def classify(self, stats: dict[str, tuple[Any, Any]]) -> str:
        """'all' (every row of the file matches), 'none' or 'some', from (min, max) per column; a column
        without statistics gives 'some' (the file is read to find out)."""
        verdict = "all"
        for column, value in self.equals:
            low, high = stats.get(column, (None, None))
            if low is None or high is None:
                verdict = "some"
            elif value < low or value > high:
                return "none"
            elif not (low == value == high):
                verdict = "some"
        if self.column is not None and self.low is not None and self.high is not None:
            low, high = stats.get(self.column, (None, None))
            if low is None or high is None:
                return "some"
            high = high + MAX_TRUNCATION  # timestamps' max is truncated to the millisecond
            if high < self.low or low >= self.high:
                return "none"
            if not (low >= self.low and high < self.high):
                verdict = "some"
        return verdict


#: a timestamp maximum in Delta statistics is truncated to the millisecond: the true maximum may be this much later
MAX_TRUNCATION = timedelta(microseconds=999)


def sql_literal(value: object) -> str:
    """A value as an SQL literal for delta-rs and DuckDB predicates: the one place values are quoted."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be an SQL literal")
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps in predicates must be time-zone aware")
        return "'" + value.astimezone(UTC).isoformat().replace("+00:00", "Z") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def sql_list(values: Iterable[object]) -> str:
    """Values as a comma-separated list of SQL literals, for `column IN (...)` (each quoted by `sql_literal`)."""
    literals = [sql_literal(v) for v in values]
    if not literals:
        raise ValueError("an SQL list needs at least one value")
    return ", ".join(literals)


@dataclass
class CommitReport:
    table: str
    added: int = 0
    removed: int = 0
    rewritten: int = 0
    rows_added: int = 0
    version: int | None = None
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "files_added": self.added,
            "files_removed": self.removed,
            "files_rewritten": self.rewritten,
            "rows_added": self.rows_added,
            "version": self.version,
        }


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class FileBatch:
    """A staged batch as files: what gates read (through DuckDB) instead of rows in memory."""

    table: str
    schema: pa.Schema
    uris: tuple[str, ...]  # absolute local paths or s3:// URLs
    rows: int
    partition_by: tuple[str, ...] = ()

    @property
    def num_rows(self) -> int:
        return self.rows

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    def scan_sql(self) -> str:
        """A DuckDB SELECT of the batch's rows in contract column order (partition columns from the paths)."""
        if not self.uris:
            raise ValueError("an empty batch has no files to scan")
        files = "[" + ", ".join(sql_literal(u) for u in self.uris) + "]"
        options = ""
        if self.partition_by:
            types = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in self.partition_by)
            options = f", hive_partitioning = true, hive_types = {{{types}}}"
        else:
            options = ", hive_partitioning = false"
        columns = ", ".join('"' + c.replace('"', '""') + '"' for c in self.schema.names)
        return f"select {columns} from read_parquet({files}{options})"


def read_file(
    uri: str, partition_values: dict[str, str | None], schema: pa.Schema, settings: Any
) -> pa.Table:
    """One data file with its partition columns put back, in the contract schema (the driver reads a few)."""
    from wenulake.storage import open_parquet

    data = open_parquet(uri, settings).read()
    for column, value in partition_values.items():
        kind = schema.field(column).type
        data = data.append_column(column, pa.array([value] * data.num_rows, pa.string()).cast(kind))
    return data.select(schema.names).cast(schema)


def register(con: Any, name: str, batch: FileBatch) -> None:
    """Make a file batch a view `name` of a DuckDB session (an empty batch: an empty table of its schema)."""
    if batch.uris:
        con.execute(f'create or replace temporary view "{name}" as {batch.scan_sql()}')
    else:
        con.register(name, batch.schema.empty_table())


def read_parquet_files(
    batches: Iterable[pa.RecordBatch], store: StoreSpec, schema: pa.Schema
) -> Iterable[pa.RecordBatch]:
    """mapInArrow body: rows naming files (`key`, relative to `store`'s root) in; the files' rows out, in
    `schema` (columns selected and cast), one file at a time: how executors read files without Hadoop."""
    import pyarrow.parquet as pq

    opened = store.open()
    for batch in batches:
        for key in batch.column("key").to_pylist():
            table = pq.read_table(io.BytesIO(opened.get(key)))
            yield from conform_schema(table.select(schema.names), schema, key).to_batches()
