"""Legacy cells -> silver rows (pure: Arrow and numpy in, Arrow out; the migration's step 2).

A month of legacy data is tens of millions of cells. They stay narrow here: numbers only (file, line, ts,
local date, raw value, sensor), while every text column of a silver row is per sensor (sensor_id, units,
metric, kind, channel, device, site, company, zone) or per file (object key) and joins them at the end as a
dictionary index into a small table. No wide row is sorted, filtered or joined.

- `attribute(files, sensors)`: each cell gets the row of `sensors` (catalog_frames) of its device and channel
  valid at its ts (at most one: the catalog refuses overlaps), or none (`unknown_channel`), and its value
  canonicalised like live data: `(raw * factor + shift) * scale + offset`;
- `first_copies(cells, check)`: the first copy of each (sensor, ts) in file order, then line order;
- `silver_rows(...)`: the winners in (sensor_id, ts) order as silver.reading columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wenulake.contracts.tables import TS
from wenulake.lake import constant
from wenulake.legacy import ParsedFile

FAR_FUTURE_US = np.iinfo(np.int64).max


@dataclass
class MonthCells:
    """A month's cells, one numpy array per column, in file order then parse order. `sensor` is a row of the
    sensors table or -1; `value` is NaN where `sensor` is -1."""

    file: np.ndarray  # int32: index into the month's files
    line: np.ndarray  # int64
    ts: np.ndarray  # int64, microseconds since the epoch (UTC)
    local_date: np.ndarray  # int32, days since the epoch
    raw_value: np.ndarray  # float64
    sensor: np.ndarray  # int32
    value: np.ndarray  # float64
    unknown: pa.Table  # the cells without a sensor: file, line, ts, channel, raw_value

    @property
    def size(self) -> int:
        return len(self.ts)


def _numpy(column: pa.ChunkedArray | pa.Array, kind: pa.DataType) -> np.ndarray:
    return column.cast(kind).to_numpy()


def attribute(files: list[ParsedFile], sensors: pa.Table) -> MonthCells:
    """The month's cells with their sensor (see the module docstring)."""
    valid_from = _numpy(sensors["valid_from"].cast(TS), pa.int64())
    valid_to = pc.fill_null(sensors["valid_to"].cast(TS).cast(pa.int64()), FAR_FUTURE_US).to_numpy()
    candidates: dict[tuple[str, str], list[int]] = {}
    for row, (device, channel) in enumerate(
        zip(sensors["device_id"].to_pylist(), sensors["channel"].to_pylist(), strict=True)
    ):
        candidates.setdefault((device, channel), []).append(row)
    factor = sensors["factor"].to_numpy(zero_copy_only=False).astype(np.float64)
    shift = sensors["shift"].to_numpy(zero_copy_only=False).astype(np.float64)
    scale = sensors["scale"].to_numpy(zero_copy_only=False).astype(np.float64)
    offset = sensors["offset"].to_numpy(zero_copy_only=False).astype(np.float64)

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("file", "line", "ts", "date", "raw", "sensor")}
    unknown: list[pa.Table] = []
    for order, f in enumerate(files):
        n = f.cells.num_rows
        if not n:
            continue
        ts = _numpy(f.cells["ts"], pa.int64())
        channels = pc.dictionary_encode(f.cells["channel"].combine_chunks())
        codes = channels.indices.to_numpy()
        sensor = np.full(n, -1, np.int32)
        for code, channel in enumerate(channels.dictionary.to_pylist()):
            rows = candidates.get((f.device_id, channel))
            if not rows:
                continue
            of_channel = codes == code
            for row in rows:
                sensor[of_channel & (ts >= valid_from[row]) & (ts < valid_to[row])] = row
        parts["file"].append(np.full(n, order, np.int32))
        parts["line"].append(_numpy(f.cells["line"], pa.int64()))
        parts["ts"].append(ts)
        parts["date"].append(_numpy(f.cells["local_date"], pa.int32()))
        parts["raw"].append(_numpy(f.cells["raw_value"], pa.float64()))
        parts["sensor"].append(sensor)
        missing = sensor < 0
        if missing.any():
            lost = f.cells.filter(pa.array(missing)).select(["line", "ts", "channel", "raw_value"])
            unknown.append(lost.add_column(0, "file", pa.repeat(pa.scalar(order, pa.int32()), lost.num_rows)))

    def joined(name: str, kind: type) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.zeros(0, kind)

    sensor = joined("sensor", np.int32)
    raw = joined("raw", np.float64)
    value = np.full(len(raw), np.nan)
    has = sensor >= 0  # index the conversion arrays only where a sensor exists (they may be empty)
    of = sensor[has]
    value[has] = (raw[has] * factor[of] + shift[of]) * scale[of] + offset[of]
    unknown_schema = pa.schema(
        [
            ("file", pa.int32()),
            ("line", pa.int64()),
            ("ts", TS),
            ("channel", pa.string()),
            ("raw_value", pa.float64()),
        ]
    )
    return MonthCells(
        file=joined("file", np.int32),
        line=joined("line", np.int64),
        ts=joined("ts", np.int64),
        local_date=joined("date", np.int32),
        raw_value=raw,
        sensor=sensor,
        value=value,
        unknown=pa.concat_tables([t.cast(unknown_schema) for t in unknown])
        if unknown
        else unknown_schema.empty_table(),
    )


def first_copies(cells: MonthCells, check: bool) -> np.ndarray:
    """Indices of the cells that have a sensor and are the first copy of their (sensor, ts), in cell order.
    With `check` False the caller knows no key repeats (no instant twice in a device's file, one file per
    device): every attributed cell is its key's first copy."""
    known = np.flatnonzero(cells.sensor >= 0)
    if not check or known.size == 0:
        return known
    # by key, then file order, then line: the first of each key wins
    order = known[np.lexsort((cells.line[known], cells.file[known], cells.ts[known], cells.sensor[known]))]
    key_sensor, key_ts = cells.sensor[order], cells.ts[order]
    first = np.ones(order.size, bool)
    first[1:] = (key_sensor[1:] != key_sensor[:-1]) | (key_ts[1:] != key_ts[:-1])
    return np.sort(order[first])


def without_keys(
    cells: MonthCells, picked: np.ndarray, sensor_rows: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    """`picked` without the cells whose (sensor, ts) is among the given keys (rows of the sensors table)."""
    if picked.size == 0 or sensor_rows.size == 0:
        return picked
    mine = np.rec.fromarrays([cells.sensor[picked].astype(np.int64), cells.ts[picked]])
    theirs = np.rec.fromarrays([sensor_rows.astype(np.int64), ts.astype(np.int64)])
    return picked[~np.isin(mine, theirs)]


def silver_rows(
    cells: MonthCells,
    picked: np.ndarray,
    files: list[ParsedFile],
    sensors: pa.Table,
    devices: pa.Table,
    constants: dict[str, Any],
) -> pa.Table:
    """silver.reading columns of the `picked` cells, sorted by (sensor_id, ts); `constants` are the columns
    every row shares (received_at, arrival_hour, run_id, source)."""
    sensor_rank = np.empty(sensors.num_rows, np.int64)
    sensor_rank[np.argsort(np.array(sensors["sensor_id"].to_pylist(), dtype=object), kind="stable")] = (
        np.arange(sensors.num_rows)
    )
    if picked.size:
        # one int64 key: the sensor's place in sensor_id order, then ts (a month spans far less than 2^63 / rows)
        ts = cells.ts[picked]
        low = int(ts.min())
        span = int(ts.max()) - low + 1
        if span * max(1, sensors.num_rows) >= 2**62:
            order = picked[np.lexsort((ts, sensor_rank[cells.sensor[picked]]))]
        else:
            order = picked[np.argsort(sensor_rank[cells.sensor[picked]] * span + (ts - low), kind="stable")]
    else:
        order = picked
    sensor = pa.array(cells.sensor[order])
    file = pa.array(cells.file[order])
    device_of = {d: i for i, d in enumerate(devices["device_id"].to_pylist())}
    sensor_device = pa.array([device_of.get(d) for d in sensors["device_id"].to_pylist()], pa.int32())

    def by_sensor(column: pa.ChunkedArray | pa.Array) -> pa.Array:
        return pa.DictionaryArray.from_arrays(
            sensor, column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        ).cast(pa.string())

    def by_device(name: str) -> pa.Array:
        per_sensor = devices[name].combine_chunks().take(sensor_device)
        return pa.DictionaryArray.from_arrays(sensor, per_sensor).cast(pa.string())

    keys = pa.array([f.key for f in files], pa.string())
    line = pa.array(cells.line[order])
    n = len(order)
    columns: dict[str, Any] = {
        "sensor_id": by_sensor(sensors["sensor_id"]),
        "ts": pa.array(cells.ts[order], pa.int64()).cast(TS),
        "local_date": pa.array(cells.local_date[order], pa.int32()).cast(pa.date32()),
        "value": pa.array(cells.value[order]),
        "raw_value": pa.array(cells.raw_value[order]),
        "raw_unit": by_sensor(sensors["raw_unit"]),
        "unit": by_sensor(sensors["canonical_unit"]),
        "metric": by_sensor(sensors["metric"]),
        "kind": by_sensor(sensors["kind"]),
        "channel": by_sensor(sensors["channel"]),
        "device_id": by_sensor(sensors["device_id"]),
        "site_id": by_device("site_id"),
        "company_id": by_device("company_id"),
        "timezone": by_device("timezone"),
        "message_id": pc.binary_join_element_wise(
            pa.DictionaryArray.from_arrays(file, pc.binary_join_element_wise("legacy", keys, ":")).cast(
                pa.string()
            ),
            pc.utf8_lpad(line.cast(pa.string()), 9, "0"),
            ":",
        ),
        "object_key": pa.DictionaryArray.from_arrays(file, keys).cast(pa.string()),
        "record_index": line,
    }
    for name, (value, kind) in constants.items():
        columns[name] = constant(value, n, kind)
    return pa.table(columns)
