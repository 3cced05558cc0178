"""Silver job: the interval's winning bronze copies -> enriched readings, enrichment quarantine, touched periods.

Write, audit, publish, like bronze:
- `enrich(...)` (task `enrich_silver`) picks the messages whose winning copy (earliest received_at, any
  interval) lies in the interval, enriches them with one catalog snapshot (Spark, broadcast joins) and stages
  `silver.reading` rows, `ops.quarantine` rows (stage silver: `unknown_device` per message, `unknown_channel`
  per reading) and `ops.touched_period` rows;
- `publish(...)` (task `gate_silver`) runs the silver suite and, if it passes, merges the readings into
  `silver.reading` on (sensor_id, ts) in one commit (earliest received copy wins; the interval's own earlier
  rows are replaced), replaces the interval's silver quarantine (rows that no longer occur are kept, marked
  resolved) and records the touched periods.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from wenulake import quality
from wenulake.catalog.store import CatalogStore
from wenulake.contracts import Reason, Stage
from wenulake.contracts.tables import QUARANTINE, SILVER_READING, TOUCHED_PERIOD, TS, Source
from wenulake.lake import Lake, conform, constant, staging_batch
from wenulake.lakefiles import (
    FILE_SCHEMA,
    FileBatch,
    TableSink,
    Where,
    read_parquet_files,
    register,
    sql_literal,
)
from wenulake.pipeline.bronze import PublishSummary, owned_hours
from wenulake.query import connect, query_arrow
from wenulake.rowcount import count_rows_out
from wenulake.settings import Settings, is_s3, join
from wenulake.sqlfiles import load_sql
from wenulake.storage import StoreSpec
from wenulake.timeutil import Interval, iso
from wenulake.transforms import silver as t

log = logging.getLogger(__name__)
STALE = "silver_stale_quarantine"
#: the staging folder of the run's winning copies (written by DuckDB, read by the executors; their keys also say
#: which quarantine rows the run can resolve)
WINNERS = "winners"


@dataclass
class SilverSummary:
    interval: str
    messages: int = 0
    readings: int = 0
    unknown_device: int = 0
    unknown_channel: int = 0
    touched_sensor_days: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


#: winning messages per Spark task that writes silver's files (a batch of fewer stays in one task)
MESSAGES_PER_WRITER = 100_000


def batch_name(run_id: str) -> str:
    return staging_batch(Stage.SILVER.value, run_id)


def _hours_predicate(hours: Interval, alias: str = "") -> str:
    col = f"{alias}arrival_hour"
    return Where.hours(col, hours.start, hours.end).sql()


def _write_winners(lake: Lake, settings: Settings, hours: Interval, batch: str) -> tuple[list[str], int]:
    """The interval's winning copies (sql/lake/interval_winners.sql), written by DuckDB as Parquet files into the
    batch's staging folder: streamed, never held in this process. Returns (file URIs, rows)."""
    from wenulake.storage import remove_tree

    folder = join(lake.root, "_staging", batch, WINNERS)
    remove_tree(folder, settings)  # a retried task starts clean
    if not is_s3(folder):
        Path(folder).parent.mkdir(parents=True, exist_ok=True)  # DuckDB makes the last folder only
    con = connect(settings)
    try:
        con.execute("set preserve_insertion_order = false")
        query = load_sql(settings.sql_dir, "lake/interval_winners").strip().rstrip(";")
        (rows,) = con.execute(
            f"copy ({query}) to {sql_literal(folder)} (format parquet, file_size_bytes '64MB', "
            "overwrite_or_ignore true)",
            {"interval_start": hours.start, "interval_end": hours.end},
        ).fetchone() or (0,)
    finally:
        con.close()
    return _winner_files(lake, batch), int(rows)


def _winner_files(lake: Lake, batch: str) -> list[str]:
    store = StoreSpec.from_settings(lake.root, lake.settings).open()
    prefix = f"_staging/{batch}/{WINNERS}/"
    return [join(lake.root, info.key) for info in store.list(prefix) if info.key.endswith(".parquet")]


def _winners_view(con: Any, uris: list[str]) -> None:
    """`winners` in a DuckDB session: the run's winning copies (an empty table when there are none)."""
    if uris:
        files = "[" + ", ".join(sql_literal(u) for u in uris) + "]"
        con.execute(f"create or replace temporary view winners as select * from read_parquet({files})")
    else:
        con.execute(
            "create or replace temporary table winners (device_id varchar, message_id varchar, "
            "object_key varchar, record_index bigint)"
        )


def _stale(settings: Settings, hours: Interval, uris: list[str]) -> pa.Table:
    """Keys of silver quarantine rows that the interval's winners left behind in other intervals."""
    con = connect(settings)
    try:
        _winners_view(con, uris)
        params = {"interval_start": hours.start, "interval_end": hours.end}
        return query_arrow(con, load_sql(settings.sql_dir, "lake/stale_silver_quarantine"), params)
    finally:
        con.close()


def enrich(settings: Settings, interval: Interval, run_id: str) -> SilverSummary:
    """Task `enrich_silver`: enrich the interval's winning messages and stage the results.

    DuckDB writes the winning copies as files; Spark's executors read them, enrich them with the broadcast
    catalog snapshot and write silver.reading and quarantine data files; this process keeps descriptors and
    small aggregates (touched periods, counts) only."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    lake.ensure()
    batch = batch_name(run_id)
    devices, sensors = t.catalog_frames(CatalogStore(settings).snapshot())
    if devices.num_rows == 0:
        log.warning("the catalog has no devices: every message goes to quarantine as unknown_device")
    winners, messages = _write_winners(lake, settings, hours, batch)
    stale = _stale(settings, hours, winners)
    now = datetime.now(UTC)
    sinks = {spec.name: lake.sink(spec, batch) for spec in (SILVER_READING, QUARANTINE)}
    files = (
        _enrich_with_spark(settings, lake, winners, devices, sensors, sinks, run_id, now, messages)
        if messages
        else []
    )
    for spec in (SILVER_READING, QUARANTINE):
        lake.stage_files(batch, spec, [f for f in files if f["table"] == spec.name])
    readings = lake.staged_batch(batch, SILVER_READING)
    quarantine = lake.staged_batch(batch, QUARANTINE)
    touched = _touched(lake, readings, hours, run_id, now)
    lake.stage(batch, TOUCHED_PERIOD, touched)
    lake.stage_raw(batch, STALE, stale)
    counts = _reason_counts(lake, quarantine)
    return SilverSummary(
        interval=str(hours),
        messages=messages,
        readings=readings.rows,
        unknown_device=counts.get(Reason.UNKNOWN_DEVICE.value, 0),
        unknown_channel=counts.get(Reason.UNKNOWN_CHANNEL.value, 0),
        touched_sensor_days=len(
            set(zip(touched["sensor_id"].to_pylist(), touched["local_date"].to_pylist(), strict=True))
        ),
        seconds=round(time.perf_counter() - started, 3),
    )


def _enrich_with_spark(
    settings: Settings,
    lake: Lake,
    winners: list[str],
    devices: pa.Table,
    sensors: pa.Table,
    sinks: dict[str, TableSink],
    run_id: str,
    now: datetime,
    message_count: int,
) -> list[dict[str, Any]]:
    """Read the winners' files (`message_count` messages), enrich and write on the executors; only file
    descriptors come back."""
    from functools import partial

    from pyspark.sql.pandas.types import from_arrow_schema

    from wenulake.spark import get_spark

    spark = get_spark(settings)
    store = StoreSpec.from_settings(lake.root, settings)
    if is_s3(
        store.root
    ):  # the wheel has no Hadoop S3 connector: the executors read through the storage layer
        keys = [u[len(store.root.rstrip("/")) + 1 :] for u in winners]
        frame = spark.createDataFrame(pa.table({"key": keys})).repartition(max(1, len(keys)))
        messages = frame.mapInArrow(
            partial(read_parquet_files, store=store, schema=t.MESSAGES_SCHEMA),
            from_arrow_schema(t.MESSAGES_SCHEMA),
        )
    else:  # Spark's own Parquet reader: no Python worker, no Arrow crossing of the readings map into the JVM
        messages = spark.read.schema(from_arrow_schema(t.MESSAGES_SCHEMA)).parquet(*winners)
    outcomes = t.outcomes(
        messages,
        spark.createDataFrame(devices, schema=from_arrow_schema(devices.schema)),
        spark.createDataFrame(sensors, schema=from_arrow_schema(sensors.schema)),
    )
    # Spread a large batch over every core before the Python writers: adaptive execution coalesces the
    # dedupe's shuffle to as few partitions as the bytes need (one on the 300 x 48 bench), and a single Python
    # worker then converted and wrote all 2.2M rows alone (107 s there, 49 s over 4 partitions). A small batch
    # (an hour) stays in one partition: one file per day, not one per task.
    parallelism = settings.spark_partitions or spark.sparkContext.defaultParallelism
    tasks = min(max(1, parallelism * 2), -(-message_count // MESSAGES_PER_WRITER))
    if tasks > 1:
        outcomes = outcomes.repartition(tasks)
    written = outcomes.mapInArrow(
        partial(t.outcomes_to_files, sinks=sinks, run_id=run_id, now=now), from_arrow_schema(FILE_SCHEMA)
    )
    rows: list[dict[str, Any]] = written.toArrow().to_pylist()  # descriptors: one row per file
    return rows


def _reason_counts(lake: Lake, quarantine: FileBatch) -> dict[str, int]:
    con = lake.duckdb()
    try:
        register(con, "quarantine", quarantine)
        return {
            str(r): int(n)
            for r, n in con.execute("select reason, count(*) from quarantine group by 1").fetchall()
        }
    finally:
        con.close()


#: what a touched period is made of (the company and kind let stats recompute a period left without readings)
TOUCH_COLUMNS = ("sensor_id", "local_date", "ts", "company_id", "kind")
TOUCHED_SQL = (
    "select sensor_id, local_date, date_trunc('hour', ts) as hour_utc, any_value(company_id) as company_id, "
    "any_value(kind) as kind from readings group by all"
)


def _touched(lake: Lake, written: FileBatch, hours: Interval, run_id: str, now: datetime) -> pa.Table:
    """Distinct (sensor_id, local_date, UTC hour) of the readings this run writes and of the interval's current
    silver rows (a rerun may move or remove them), by DuckDB over the staged files and the table."""
    con = lake.duckdb()
    try:
        register(con, "written", written)
        columns = ", ".join(TOUCH_COLUMNS)
        con.execute(
            f"create temporary view readings as select {columns} from written union all "
            f"select {columns} from delta_scan({sql_literal(lake.uri(SILVER_READING))}) "
            f"where arrival_hour >= {sql_literal(hours.start)} and arrival_hour < {sql_literal(hours.end)}"
        )
        touched = con.execute(TOUCHED_SQL).fetch_arrow_table()
    finally:
        con.close()
    return touched_rows(touched, run_id, Stage.SILVER.value, now)


def touched_rows(touched: pa.Table, run_id: str, stage: str, now: datetime) -> pa.Table:
    n = touched.num_rows
    touched = touched.append_column("run_id", constant(run_id, n, pa.string()))
    touched = touched.append_column("stage", constant(stage, n, pa.string()))
    touched = touched.append_column("recorded_at", constant(now, n, TS))
    return conform(touched, TOUCHED_PERIOD)


def publish(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_silver`: validate the staged batch; merge it into silver only if the suite passes."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    batch = batch_name(run_id)
    readings = lake.staged_batch(batch, SILVER_READING)  # files: the gate and the merge stream them
    quarantine = lake.read_staged(batch, QUARANTINE)
    touched = lake.read_staged(batch, TOUCHED_PERIOD)
    stale = lake.read_staged_raw(batch, STALE)
    results = quality.gate(
        lake,
        settings.expectations_dir,
        [("silver_reading", SILVER_READING.name, readings)],
        run_id=run_id,
        stage=Stage.SILVER.value,
        interval=hours,
    )
    validated = time.perf_counter()
    _merge_readings(lake, readings, hours)
    _replace_quarantine(lake, quarantine, hours, run_id, _winner_files(lake, batch))
    _delete_stale(lake, stale)
    lake.replace(TOUCHED_PERIOD, touched, f"run_id = {sql_literal(run_id)}")
    lake.drop_staging(batch)
    log.info("silver %s published", hours)
    return PublishSummary(
        gates=[r.summary() for r in results],
        gate_seconds=round(validated - started, 3),
        publish_seconds=round(time.perf_counter() - validated, 3),
    )


#: a silver row of the landing (rows written before the `source` column existed have none)
LIVE_TARGET = f"(t.source IS NULL OR t.source <> {sql_literal(Source.LEGACY)})"


def _merge_readings(lake: Lake, readings: pa.Table | FileBatch, hours: Interval) -> None:
    """One commit: insert new keys; update a key when the source copy was received earlier, the target row
    belongs to this interval (a rerun replaces its own rows) or is a legacy row (live always wins over the
    historical migration); delete this interval's live rows that no longer occur (never a legacy row)."""
    if readings.num_rows == 0:  # the merge's effect without its join: drop the interval's live rows
        lake.writable(SILVER_READING).delete(
            f"({_hours_predicate(hours)}) AND (source IS NULL OR source <> {sql_literal(Source.LEGACY)})"
        )
        return
    _merge(lake, readings, hours)


def _merge(lake: Lake, readings: pa.Table | FileBatch, hours: Interval) -> None:
    """The merge, confined to the days (ts_date partitions) it can change: the new rows' days and the days of
    this interval's live rows that no longer occur. Those rows come in as tombstones (`_delete`), so no clause
    needs the whole table (a "not matched by source" clause would scan every file). The source streams from
    DuckDB over the staged files."""
    con = lake.duckdb()
    try:
        if isinstance(readings, FileBatch):
            register(con, "new_rows", readings)
        else:
            con.register("new_rows", conform(readings, SILVER_READING))
        con.execute(
            f"create temporary view silver as select * from delta_scan({sql_literal(lake.uri(SILVER_READING))})"
        )
        con.execute(
            "create temporary table gone as "
            "select own.sensor_id, own.ts, own.ts_date from silver as own "
            "where own.arrival_hour >= $start and own.arrival_hour < $end "
            f"and (own.source is null or own.source <> {sql_literal(Source.LEGACY)}) "
            "and not exists (select 1 from new_rows as n where n.sensor_id = own.sensor_id and n.ts = own.ts)",
            {"start": hours.start, "end": hours.end},
        )
        days = [
            d
            for (d,) in con.execute(
                "select distinct ts_date from new_rows union select distinct ts_date from gone order by 1"
            ).fetchall()
        ]
        names = SILVER_READING.schema.names
        nulls = ", ".join(f"{c}" if c in ("sensor_id", "ts", "ts_date") else f"null as {c}" for c in names)
        source = con.execute(
            f"select {', '.join(names)}, false as _delete from new_rows "
            f"union all select {nulls}, true as _delete from gone"
        ).fetch_record_batch()
        target_in_hours = f"({_hours_predicate(hours, 't.')}) AND {LIVE_TARGET}"
        earlier = (
            "s.received_at < t.received_at OR (s.received_at = t.received_at AND s.message_id < t.message_id)"
        )
        in_days = ", ".join(sql_literal(d) for d in days)
        columns = {c: f"s.{c}" for c in names}
        merged = (
            lake.writable(SILVER_READING)
            .merge(
                source,
                predicate=f"t.sensor_id = s.sensor_id AND t.ts = s.ts AND t.ts_date = s.ts_date "
                f"AND t.ts_date IN ({in_days})",
                source_alias="s",
                target_alias="t",
            )
            .when_matched_delete(predicate=f"s._delete AND {target_in_hours}")
            .when_matched_update(
                columns,
                predicate=f"NOT s._delete AND (({target_in_hours}) OR t.source = {sql_literal(Source.LEGACY)} OR ({earlier}))",
            )
            .when_not_matched_insert(columns, predicate="NOT s._delete")
            .execute()
        )
        count_rows_out(
            int(merged.get("num_target_rows_inserted", 0)) + int(merged.get("num_target_rows_updated", 0))
        )
    finally:
        con.close()


def _replace_quarantine(lake: Lake, new: pa.Table, hours: Interval, run_id: str, winners: list[str]) -> None:
    """Replace the interval's silver quarantine. A row that no longer occurs although this run enriched its copy
    again (its copy is among the run's `winners`) stays, marked resolved by this run; a row whose copy this run
    did not see (its landing object is gone, accepted with allow_missing_objects) stays as it was: only a run
    that resolved a row marks it. Rows resolved before stay as they are."""
    import pyarrow.dataset as ds

    in_hours = (
        (ds.field("stage") == Stage.SILVER.value)
        & (ds.field("arrival_hour") >= pa.scalar(hours.start, TS))
        & (ds.field("arrival_hour") < pa.scalar(hours.end, TS))
    )
    old = lake.read(QUARANTINE, filters=in_hours)
    con = lake.duckdb()
    try:
        _winners_view(con, winners)
        con.register("old", old)
        con.register("new", conform(new, QUARANTINE))
        kept = con.execute(
            """
            select * replace (
                case when resolved_at is null and seen then $now else resolved_at end as resolved_at,
                case when resolved_at is null and seen then $run_id else resolved_by_run end as resolved_by_run
            )
            from (
                select
                    old.*,
                    exists (
                        select 1 from new
                        where new.object_key = old.object_key
                            and new.record_index is not distinct from old.record_index
                            and new.channel is not distinct from old.channel
                            and new.reason = old.reason
                    ) as replaced,
                    exists (
                        select 1 from winners
                        where winners.object_key = old.object_key and winners.record_index = old.record_index
                    ) as seen
                from old
            )
            where resolved_at is not null or not replaced
            """,
            {"now": datetime.now(UTC), "run_id": run_id},
        ).fetch_arrow_table()
    finally:
        con.close()
    final = pa.concat_tables(
        [conform(new, QUARANTINE), conform(kept.drop_columns(["replaced", "seen"]), QUARANTINE)]
    )
    lake.replace(
        QUARANTINE, final, f"stage = {sql_literal(Stage.SILVER.value)} AND {_hours_predicate(hours)}"
    )


def _delete_stale(lake: Lake, stale: pa.Table) -> None:
    """Drop silver quarantine rows of copies that lost their message to an earlier copy in this interval."""
    if not stale.num_rows:
        return
    table = lake.writable(QUARANTINE)
    pairs = list(zip(stale["object_key"].to_pylist(), stale["record_index"].to_pylist(), strict=True))
    for start in range(0, len(pairs), 200):
        chunk = pairs[start : start + 200]
        keys = " OR ".join(f"(object_key = {sql_literal(k)} AND record_index = {int(i)})" for k, i in chunk)
        table.delete(f"stage = {sql_literal(Stage.SILVER.value)} AND resolved_at IS NULL AND ({keys})")


def run(settings: Settings, interval: Interval, run_id: str | None = None) -> SilverSummary:
    """Both steps in one call (spark-submit, tests)."""
    run_id = run_id or f"silver__{iso(datetime.now(UTC))}"
    summary = enrich(settings, interval, run_id)
    publish(settings, interval, run_id)
    return summary


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point: `jobs/silver.py --start ISO --end ISO [--run-id ID] [--step ...]`."""
    from wenulake import jobs

    return jobs.main(argv, "silver", __doc__.splitlines()[0], {"stage": enrich, "publish": publish})
