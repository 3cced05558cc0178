"""Historical migration: legacy export v0 (docs/legacy-format.md) -> silver.reading rows with source 'legacy',
one month at a time, then stats, warehouse and alarms refreshed for the touched periods.

`migrate_month(...)` is the unit of work (a mapped task of the `historical_migration` DAG, or one step of
`wenulake migrate`). For month M of the source:
1. parse every `<YYYY>/<MM>/<device_id>.csv[.gz]` (wenulake.legacy), with the devices' site zones from one
   catalog snapshot; attribute each non-empty cell to the sensor valid at ts and canonicalise it exactly like
   live data (the catalog's unit conversion, scale and offset);
2. drop repeated (sensor_id, ts) copies inside the month (the first file, then the first line wins; counted as
   `duplicates`) and every key a live reading already holds (`live_wins`: live always wins over legacy);
3. gate the rows with the silver suite, then replace in one commit each: the month's legacy silver rows
   (`source = 'legacy' AND arrival_hour = <month start>`), its quarantine (stage legacy, arrival_date
   `<YYYY-MM-01>`), its touched periods (run `migrate__YYYY-MM`, old rows' periods and new ones);
4. refresh what depends on them, as the sensors DAG does after silver: stage_gold, compute_stats, gate_stats,
   load_warehouse, gate_warehouse; then alarms over the month, marked historical and never notified;
5. record the month and its accounting in ops.migration_ledger (done, or failed with the error).
A month is idempotent: rerunning it replaces exactly what it wrote, so a redo gives identical tables.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wenulake import legacy, quality
from wenulake.catalog.store import CatalogStore
from wenulake.contracts import Reason, Stage
from wenulake.contracts.tables import (
    LEGACY_RUN_PREFIX,
    MIGRATION_LEDGER,
    QUARANTINE,
    SILVER_READING,
    TOUCHED_PERIOD,
    TS,
    Source,
)
from wenulake.errors import ConfigError, PipelineFailed
from wenulake.lake import Lake, conform, constant
from wenulake.lakefiles import sql_literal
from wenulake.landing import DEFAULT_LIMITS, InputLimits
from wenulake.query import connect, query_arrow, run_local
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.storage import ObjectStore, StoreSpec
from wenulake.timeutil import Interval
from wenulake.transforms import legacy as attribution
from wenulake.transforms.silver import catalog_frames

log = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"
#: how far a month's readings can lie outside its UTC bounds (local months of zones up to +-14 h)
ZONE_SLACK = timedelta(hours=15)


def run_id_of(month: str) -> str:
    return f"{LEGACY_RUN_PREFIX}{month}"


@dataclass
class MonthReport:
    month: str
    source: str
    run_id: str
    status: str = DONE
    files: int = 0
    unreadable_files: int = 0
    skipped_files: int = 0
    rows: int = 0
    blank_lines: int = 0
    malformed_row: int = 0
    unknown_device: int = 0
    implausible_timestamp: int = 0
    accepted_rows: int = 0
    null_values: int = 0
    values: int = 0
    unknown_channel: int = 0
    duplicates: int = 0
    live_wins: int = 0
    readings: int = 0
    dst_ambiguous: int = 0
    dst_nonexistent: int = 0
    error: str | None = None
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    skipped_names: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def problems(self) -> list[str]:
        """Accounting identities that do not hold (empty when every row and value is accounted)."""
        out = []
        rows = self.malformed_row + self.unknown_device + self.implausible_timestamp + self.accepted_rows
        if rows != self.rows:
            out.append(f"rows {self.rows} != malformed + unknown_device + implausible + accepted ({rows})")
        values = self.unknown_channel + self.duplicates + self.live_wins + self.readings
        if values != self.values:
            out.append(
                f"values {self.values} != unknown_channel + duplicates + live_wins + readings ({values})"
            )
        return out


# -- the source ------------------------------------------------------------------------------------------------
class LegacySource:
    """A folder or s3:// prefix holding `<YYYY>/<MM>/<file>`."""

    def __init__(self, location: str, settings: Settings) -> None:
        self.location = location
        self.store: ObjectStore = StoreSpec.from_settings(location, settings).open()

    def check(self) -> None:
        try:
            self.store.check_root()
        except ConfigError:
            raise ConfigError(f"legacy source {self.location} does not exist") from None

    def months(self) -> dict[str, list[str]]:
        """month (YYYY-MM) -> the keys directly under `<YYYY>/<MM>/`, sorted."""
        found: dict[str, list[str]] = {}
        for info in self.store.list(""):
            parts = info.key.split("/")
            if len(parts) == 3 and len(parts[0]) == 4 and len(parts[1]) == 2:
                try:
                    year, month = legacy.parse_month(f"{parts[0]}-{parts[1]}")
                except ValueError:
                    continue
                found.setdefault(legacy.month_name(year, month), []).append(info.key)
        return {m: sorted(keys) for m, keys in sorted(found.items())}

    def get(self, key: str) -> bytes:
        return self.store.get(key)


# -- one month ---------------------------------------------------------------------------------------------------
def migrate_month(
    settings: Settings,
    source: str,
    month: str,
    now: datetime | None = None,
    on_file: Callable[[str], None] | None = None,
) -> MonthReport:
    """Migrate one month (YYYY-MM) of `source`; records the ledger row, done or failed (and then raises)."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    report = MonthReport(month=month, source=source, run_id=run_id_of(month))
    lake = Lake(settings)
    lake.ensure()
    try:
        _migrate(settings, lake, LegacySource(source, settings), report, now or started_at, on_file)
    except Exception as exc:
        report.status, report.error = (
            FAILED,
            str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc),
        )
        report.seconds = round(time.perf_counter() - started, 3)
        _record(lake, report, started_at)
        raise
    report.seconds = round(time.perf_counter() - started, 3)
    _record(lake, report, started_at)
    return report


def _migrate(
    settings: Settings,
    lake: Lake,
    src: LegacySource,
    report: MonthReport,
    now: datetime,
    on_file: Callable[[str], None] | None,
) -> None:
    interval = _publish_month(settings, lake, src, report, now, on_file)
    # the month's Arrow tables are gone with _publish_month's frame: hand their pages back before the refresh
    pa.default_memory_pool().release_unused()
    tick = time.perf_counter()
    refresh_downstream(settings, interval, report.run_id, report.phases)
    report.phases["downstream"] = round(time.perf_counter() - tick, 3)


def _publish_month(
    settings: Settings,
    lake: Lake,
    src: LegacySource,
    report: MonthReport,
    now: datetime,
    on_file: Callable[[str], None] | None,
) -> Interval:
    """Steps 1-3: parse, attribute, gate and publish the month's silver rows, quarantine and touched periods."""
    year, mon = legacy.parse_month(report.month)
    month_start, month_end = legacy.month_bounds(year, mon)
    run_id = report.run_id
    tick = time.perf_counter()
    src.check()
    keys = src.months().get(report.month, [])
    devices, sensors = catalog_frames(CatalogStore(settings).snapshot())
    zone_of = dict(zip(devices["device_id"].to_pylist(), devices["timezone"].to_pylist(), strict=True))

    jobs: list[tuple[str, str | None]] = []
    for key in keys:
        matched = legacy.FILE_NAME.match(key.rsplit("/", 1)[-1])
        if not matched:
            report.skipped_files += 1
            report.skipped_names.append(key)
            continue
        jobs.append((key, zone_of.get(matched["device_id"])))
    parsed = parse_files(src, jobs, year, mon, now, on_file, limits=InputLimits.from_settings(settings))
    report.files = len(parsed)
    for p in parsed:
        report.unreadable_files += int(p.unreadable)
        report.rows += p.rows
        report.blank_lines += p.blank_lines
        report.accepted_rows += p.accepted_rows
        report.null_values += p.null_values
        report.dst_ambiguous += p.dst_ambiguous
        report.dst_nonexistent += p.dst_nonexistent
        report.malformed_row += p.count(Reason.MALFORMED_ROW)
        report.unknown_device += p.count(Reason.UNKNOWN_DEVICE)
        report.implausible_timestamp += p.count(Reason.IMPLAUSIBLE_TIMESTAMP)
    report.phases["parse"] = round(time.perf_counter() - tick, 3)

    tick = time.perf_counter()
    cells = attribution.attribute(parsed, sensors)
    devices_seen = [p.device_id for p in parsed if p.cells.num_rows]
    for p in parsed:  # from here on only the rejects of each file are needed
        p.cells = p.cells.schema.empty_table()
    report.values = cells.size
    repeats = any(p.repeats for p in parsed) or len(set(devices_seen)) != len(devices_seen)
    firsts = attribution.first_copies(cells, check=repeats)
    report.unknown_channel = cells.unknown.num_rows
    report.duplicates = cells.size - report.unknown_channel - firsts.size
    winners = _without_live(settings, cells, firsts, sensors, month_start, month_end)
    rows = conform(
        attribution.silver_rows(
            cells,
            winners,
            parsed,
            sensors,
            devices,
            {
                "received_at": (month_start, TS),
                "arrival_hour": (month_start, TS),
                "run_id": (run_id, pa.string()),
                "source": (Source.LEGACY, pa.string()),
            },
        ),
        SILVER_READING,
    )
    report.readings = rows.num_rows
    report.live_wins = firsts.size - rows.num_rows
    problems = report.problems()
    if problems:
        raise PipelineFailed(f"legacy {report.month}: accounting does not add up: " + "; ".join(problems))
    quarantine = _quarantine(parsed, cells.unknown, month_start, run_id, now)
    del cells, firsts, winners
    report.phases["attribute"] = round(time.perf_counter() - tick, 3)

    tick = time.perf_counter()
    interval = Interval(month_start, month_end)
    quality.gate(
        lake,
        settings.expectations_dir,
        [("silver_reading", SILVER_READING.name, rows)],
        run_id=run_id,
        stage=Stage.LEGACY.value,
        interval=interval,
    )
    report.phases["gate"] = round(time.perf_counter() - tick, 3)

    tick = time.perf_counter()
    import pyarrow.dataset as ds

    at_month = ds.field("arrival_hour") == pa.scalar(month_start, TS)
    from wenulake.pipeline.silver import TOUCH_COLUMNS

    old = lake.read(SILVER_READING, filters=at_month, columns=[*TOUCH_COLUMNS, "source"])
    old = old.filter(pc.equal(pc.cast(old["source"], pa.string()), Source.LEGACY)).drop_columns(["source"])
    touched = _touched(pa.concat_tables([rows.select(list(TOUCH_COLUMNS)), old]), run_id, now)
    lake.replace(
        SILVER_READING,
        rows,
        f"source = {sql_literal(Source.LEGACY)} AND arrival_hour = {sql_literal(month_start)}",
    )
    lake.replace(
        QUARANTINE,
        quarantine,
        f"stage = {sql_literal(Stage.LEGACY.value)} AND arrival_date = {sql_literal(month_start.date())}",
    )
    lake.replace(TOUCHED_PERIOD, touched, f"run_id = {sql_literal(run_id)}")
    report.phases["publish"] = round(time.perf_counter() - tick, 3)
    return interval


#: a month with at least this many files is parsed by a pool of processes (one file per task): a clean file
#: takes about 0.15 s column-wise, a worker about 1 s to start
PARALLEL_FILES = 16


def parse_files(
    src: LegacySource,
    jobs: list[tuple[str, str | None]],
    year: int,
    month: int,
    now: datetime,
    on_file: Callable[[str], None] | None = None,
    workers: int | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
) -> list[legacy.ParsedFile]:
    """Parse the month's files (key, site zone) in key order: in this process, or with a pool of `workers`
    processes (default: one per CPU) when there are PARALLEL_FILES or more. The result is the same."""
    import os

    workers = workers if workers is not None else (os.cpu_count() or 1)
    tasks = ((f"legacy/{key}", src.get(key), year, month, zone, now, True, limits) for key, zone in jobs)
    if workers < 2 or len(jobs) < PARALLEL_FILES:
        out = []
        for (key, _), task in zip(jobs, tasks, strict=True):
            out.append(legacy.parse_task(task))
            if on_file:
                on_file(key)
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        out = []
        for (key, _), result in zip(jobs, pool.map(legacy.parse_task, tasks), strict=True):
            out.append(result)
            if on_file:
                on_file(key)
        return out


def _without_live(
    settings: Settings,
    cells: attribution.MonthCells,
    firsts: np.ndarray,
    sensors: pa.Table,
    start: datetime,
    end: datetime,
) -> np.ndarray:
    """`firsts` without the cells whose (sensor_id, ts) a live reading already holds (live always wins)."""
    if not firsts.size:
        return firsts
    row_of = {sensor_id: row for row, sensor_id in enumerate(sensors["sensor_id"].to_pylist())}
    used = np.unique(cells.sensor[firsts])
    devices = pa.table({"device_id": pc.unique(sensors["device_id"].take(pa.array(used)))})
    con = connect(settings)
    try:
        con.register("legacy_devices", devices)
        live = query_arrow(
            con,
            load_sql(settings.sql_dir, "legacy/live_keys"),
            {"window_start": start - ZONE_SLACK, "window_end": end + ZONE_SLACK},
        )
    finally:
        con.close()
    if not live.num_rows:
        return firsts
    rows = [row_of.get(sensor_id, -1) for sensor_id in live["sensor_id"].to_pylist()]
    return attribution.without_keys(
        cells, firsts, np.array(rows, np.int64), live["ts"].cast(TS).cast(pa.int64()).to_numpy()
    )


def _quarantine(
    parsed: list[legacy.ParsedFile],
    unknown_channel: pa.Table,
    month_start: datetime,
    run_id: str,
    now: datetime,
) -> pa.Table:
    records: list[dict[str, Any]] = []
    for p in parsed:
        for r in p.rejects:
            records.append(
                {
                    "reason": r.reason.value,
                    "object_key": p.key,
                    "record_index": r.line,
                    "device_id": p.device_id,
                    "channel": None,
                    "raw": r.raw,
                    "detail": r.detail,
                    "ts": r.ts,
                }
            )
    for row in unknown_channel.to_pylist():
        p = parsed[row["file"]]
        records.append(
            {
                "reason": Reason.UNKNOWN_CHANNEL.value,
                "object_key": p.key,
                "record_index": row["line"],
                "device_id": p.device_id,
                "channel": row["channel"],
                "raw": json.dumps({row["channel"]: row["raw_value"]}),
                "detail": f"no sensor of device {p.device_id!r} and channel {row['channel']!r} valid at this ts",
                "ts": row["ts"],
            }
        )
    n = len(records)
    table = pa.Table.from_pylist(
        records,
        schema=pa.schema(
            [
                pa.field("reason", pa.string()),
                pa.field("object_key", pa.string()),
                pa.field("record_index", pa.int64()),
                pa.field("device_id", pa.string()),
                pa.field("channel", pa.string()),
                pa.field("raw", pa.string()),
                pa.field("detail", pa.string()),
                pa.field("ts", TS),
            ]
        ),
    )
    table = table.append_column("stage", constant(Stage.LEGACY.value, n, pa.string()))
    table = table.append_column("arrival_hour", constant(month_start, n, TS))
    table = table.append_column("arrival_date", constant(month_start.date().isoformat(), n, pa.string()))
    table = table.append_column("run_id", constant(run_id, n, pa.string()))
    table = table.append_column("quarantined_at", constant(now, n, TS))
    return conform(table, QUARANTINE)


def _touched(readings: pa.Table, run_id: str, now: datetime) -> pa.Table:
    from wenulake.pipeline.silver import TOUCH_COLUMNS, TOUCHED_SQL

    touched = run_local({"readings": readings.select(list(TOUCH_COLUMNS))}, TOUCHED_SQL)
    n = touched.num_rows
    touched = touched.append_column("run_id", constant(run_id, n, pa.string()))
    touched = touched.append_column("stage", constant(Stage.LEGACY.value, n, pa.string()))
    touched = touched.append_column("recorded_at", constant(now, n, TS))
    return conform(touched, TOUCHED_PERIOD)


def refresh_downstream(
    settings: Settings, interval: Interval, run_id: str, seconds: dict[str, float] | None = None
) -> dict[str, Any]:
    """What the sensors DAG runs after gate_silver, for the periods `run_id` touched, then the month's alarms
    (historical: recorded, never notified) and the warehouse's fact_alarm. `seconds` (if given) receives each
    step's duration as `downstream.<task>`."""
    from wenulake.pipeline import alarms, gold, stats

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("stage_gold", lambda: gold.stage(settings, interval, run_id)),
        ("compute_stats", lambda: stats.compute(settings, interval, run_id)),
        ("gate_stats", lambda: stats.publish(settings, interval, run_id).as_dict()),
        ("load_warehouse", lambda: gold.load(settings, interval, run_id)),
        ("gate_warehouse", lambda: gold.publish(settings, interval, run_id).as_dict()),
        ("detect_alarms", lambda: alarms.detect(settings, run_id, historical_window=interval)),
        ("load_alarms", lambda: alarms.load_warehouse(settings, run_id)),
    ]
    summary: dict[str, Any] = {}
    for name, step in steps:
        tick = time.perf_counter()
        summary[name] = step()
        pa.default_memory_pool().release_unused()  # as between two tasks (wenulake.tasks)
        if seconds is not None:
            seconds[f"downstream.{name}"] = round(time.perf_counter() - tick, 3)
    return summary


def _record(lake: Lake, report: MonthReport, started_at: datetime) -> None:
    row = {name: getattr(report, name) for name in MIGRATION_LEDGER.schema.names if hasattr(report, name)}
    row["started_at"] = started_at
    row["finished_at"] = datetime.now(UTC)
    lake.replace(
        MIGRATION_LEDGER,
        pa.Table.from_pylist([row], schema=MIGRATION_LEDGER.schema),
        f"month = {sql_literal(report.month)}",
    )


# -- a range of months ------------------------------------------------------------------------------------------
def ledger(settings: Settings) -> dict[str, dict[str, Any]]:
    lake = Lake(settings)
    lake.ensure([MIGRATION_LEDGER])
    return {row["month"]: row for row in lake.read(MIGRATION_LEDGER).to_pylist()}


def plan(
    settings: Settings, source: str, first: str | None, last: str | None, redo: bool
) -> tuple[list[str], list[str]]:
    """(months to migrate, months skipped because the ledger has them done), in order."""
    src = LegacySource(source, settings)
    src.check()
    months = [m for m in src.months() if (first is None or m >= first) and (last is None or m <= last)]
    done = {m for m, row in ledger(settings).items() if row["status"] == DONE}
    todo = [m for m in months if redo or m not in done]
    return todo, [m for m in months if m not in todo]


def month_range(first: str | None, last: str | None) -> tuple[str | None, str | None]:
    """Validate `--from`/`--to` (YYYY-MM) and normalise them; raises ValueError."""
    out = []
    for text in (first, last):
        out.append(legacy.month_name(*legacy.parse_month(text)) if text else None)
    if out[0] and out[1] and out[0] > out[1]:
        raise ValueError(f"--from {out[0]} is after --to {out[1]}")
    return out[0], out[1]
