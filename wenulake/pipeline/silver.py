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

import pyarrow as pa
import pyarrow.compute as pc

from wenulake import quality
from wenulake.catalog.store import CatalogStore
from wenulake.contracts import Reason, Stage
from wenulake.contracts.tables import QUARANTINE, SILVER_READING, TOUCHED_PERIOD, TS, Source
from wenulake.lake import Lake, conform, constant, staging_batch
from wenulake.pipeline.bronze import PublishSummary, owned_hours
from wenulake.query import connect, query_arrow
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.timeutil import Interval, iso

log = logging.getLogger(__name__)
STALE = "silver_stale_quarantine"
#: the copies this run enriched (object_key, record_index): only their quarantine rows can be resolved by it
WINNERS = "silver_winner_copies"


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


def batch_name(run_id: str) -> str:
    return staging_batch(Stage.SILVER.value, run_id)


def _hours_predicate(hours: Interval, alias: str = "") -> str:
    col = f"{alias}arrival_hour"
    return f"{col} >= '{iso(hours.start)}' AND {col} < '{iso(hours.end)}'"


def winners(settings: Settings, hours: Interval) -> tuple[pa.Table, pa.Table]:
    """(the interval's winning copies, keys of silver quarantine rows their messages left elsewhere)."""
    con = connect(settings)
    try:
        params = {"interval_start": hours.start, "interval_end": hours.end}
        won = query_arrow(con, load_sql(settings.sql_dir, "lake/interval_winners"), params)
        con.register("winners", won.select(["device_id", "message_id"]))
        stale = query_arrow(con, load_sql(settings.sql_dir, "lake/stale_silver_quarantine"), params)
    finally:
        con.close()
    return won, stale


def enrich(settings: Settings, interval: Interval, run_id: str) -> SilverSummary:
    """Task `enrich_silver`: enrich the interval's winning messages and stage the results."""
    from pyspark.sql import functions as F

    from wenulake.spark import get_spark
    from wenulake.transforms import silver as t

    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    lake.ensure()
    messages, stale = winners(settings, hours)
    devices_arrow, sensors_arrow = t.catalog_frames(CatalogStore(settings).snapshot())
    if devices_arrow.num_rows == 0:
        log.warning("the catalog has no devices: every message goes to quarantine as unknown_device")

    now = datetime.now(UTC)
    messages = t.index_messages(messages)
    if messages.num_rows and devices_arrow.num_rows:
        spark = get_spark(settings)
        msgs = spark.createDataFrame(t.spark_messages(messages))
        devices = spark.createDataFrame(t.spark_devices(devices_arrow))
        lean_sensors = t.spark_sensors(sensors_arrow)
        sensors = spark.createDataFrame(lean_sensors, schema=_spark_schema(lean_sensors))
        unknown_msgs = t.unknown_devices(msgs, devices).select("msg").toArrow()
        unknown = messages.take(unknown_msgs["msg"])  # msg is the row's position in `messages`
        attributed = t.attribute(t.readings(msgs), devices, sensors)
        ok = t.dedupe(attributed.where(F.col("outcome") == t.OK))
        collected = ok.unionByName(attributed.where(F.col("outcome") == t.UNKNOWN_CHANNEL)).toArrow()
        outcomes = t.assemble(collected, messages, devices_arrow, sensors_arrow)
    else:
        unknown, outcomes = messages, None

    if outcomes is not None and outcomes.num_rows:
        is_ok = pc.equal(outcomes["outcome"], t.OK)
        readings = outcomes.filter(is_ok)
        unknown_channel = outcomes.filter(pc.invert(is_ok))
    else:
        readings = SILVER_READING.schema.empty_table()
        unknown_channel = None

    readings = readings.drop_columns(
        [c for c in ("run_id", "outcome", "source") if c in readings.column_names]
    )
    readings = readings.append_column("run_id", constant(run_id, readings.num_rows, pa.string()))
    readings = readings.append_column("source", constant(Source.LIVE, readings.num_rows, pa.string()))
    quarantine = _quarantine_rows(unknown, unknown_channel, run_id, now)
    # periods of the interval's current silver rows too: a rerun may move or remove them
    import pyarrow.dataset as ds

    own = lake.read(
        SILVER_READING,
        filters=(ds.field("arrival_hour") >= pa.scalar(hours.start, TS))
        & (ds.field("arrival_hour") < pa.scalar(hours.end, TS)),
        columns=["sensor_id", "local_date", "ts"],
    )
    written = readings.select(["sensor_id", "local_date", "ts"])
    touched = _touched(pa.concat_tables([written, own], promote_options="permissive"), run_id, now)

    batch = batch_name(run_id)
    lake.stage(batch, SILVER_READING, conform(readings, SILVER_READING))
    lake.stage(batch, QUARANTINE, quarantine)
    lake.stage(batch, TOUCHED_PERIOD, touched)
    lake.stage_raw(batch, STALE, stale)
    lake.stage_raw(batch, WINNERS, messages.select(["object_key", "record_index"]))
    return SilverSummary(
        interval=str(hours),
        messages=messages.num_rows,
        readings=readings.num_rows,
        unknown_device=unknown.num_rows,
        unknown_channel=unknown_channel.num_rows if unknown_channel is not None else 0,
        touched_sensor_days=len(
            set(zip(touched["sensor_id"].to_pylist(), touched["local_date"].to_pylist(), strict=True))
        ),
        seconds=round(time.perf_counter() - started, 3),
    )


def _spark_schema(table: pa.Table):  # type: ignore[no-untyped-def]
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema)


def _quarantine_rows(
    unknown: pa.Table, unknown_channel: pa.Table | None, run_id: str, now: datetime
) -> pa.Table:
    import json

    def rows(table: pa.Table, reason: Reason, per_reading: bool) -> dict[str, pa.Array]:
        n = table.num_rows
        hours = table["arrival_hour"]
        if per_reading:
            raw = [
                json.dumps({c: v})
                for c, v in zip(table["channel"].to_pylist(), table["raw_value"].to_pylist(), strict=True)
            ]
            detail = [
                f"no sensor of device {d!r} and channel {c!r} valid at this ts"
                for d, c in zip(table["device_id"].to_pylist(), table["channel"].to_pylist(), strict=True)
            ]
            channel = table["channel"]
        else:
            raw = [json.dumps(dict(m) if m is not None else {}) for m in table["readings"].to_pylist()]
            detail = [f"device {d!r} is not in the catalog" for d in table["device_id"].to_pylist()]
            channel = pa.nulls(n, pa.string())
        return {
            "reason": constant(reason.value, n, pa.string()),
            "stage": constant(Stage.SILVER.value, n, pa.string()),
            "object_key": table["object_key"],
            "record_index": table["record_index"],
            "device_id": table["device_id"],
            "message_id": table["message_id"],
            "channel": channel,
            "raw": pa.array(raw, pa.string()),
            "detail": pa.array(detail, pa.string()),
            "arrival_hour": hours,
            "arrival_date": pc.cast(pc.cast(hours, pa.date32()), pa.string()),
            "run_id": constant(run_id, n, pa.string()),
            "quarantined_at": constant(now, n, TS),
            "ts": table["ts"],
        }

    parts = [conform(pa.table(rows(unknown, Reason.UNKNOWN_DEVICE, False)), QUARANTINE)]
    if unknown_channel is not None and unknown_channel.num_rows:
        parts.append(conform(pa.table(rows(unknown_channel, Reason.UNKNOWN_CHANNEL, True)), QUARANTINE))
    return pa.concat_tables(parts)


def _touched(readings: pa.Table, run_id: str, now: datetime) -> pa.Table:
    """Distinct (sensor_id, local_date, UTC hour) of the readings this run writes."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.register("readings", readings.select(["sensor_id", "local_date", "ts"]))
        touched = con.execute(
            "select distinct sensor_id, local_date, date_trunc('hour', ts) as hour_utc from readings"
        ).fetch_arrow_table()
    finally:
        con.close()
    n = touched.num_rows
    touched = touched.append_column("run_id", constant(run_id, n, pa.string()))
    touched = touched.append_column("stage", constant(Stage.SILVER.value, n, pa.string()))
    touched = touched.append_column("recorded_at", constant(now, n, TS))
    return conform(touched, TOUCHED_PERIOD)


def publish(settings: Settings, interval: Interval, run_id: str) -> PublishSummary:
    """Task `gate_silver`: validate the staged batch; merge it into silver only if the suite passes."""
    started = time.perf_counter()
    hours = owned_hours(interval)
    lake = Lake(settings)
    batch = batch_name(run_id)
    readings = lake.read_staged(batch, SILVER_READING)
    quarantine = lake.read_staged(batch, QUARANTINE)
    touched = lake.read_staged(batch, TOUCHED_PERIOD)
    stale = lake.read_staged_raw(batch, STALE)
    enriched = lake.read_staged_raw(batch, WINNERS)
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
    _replace_quarantine(lake, quarantine, hours, run_id, enriched)
    _delete_stale(lake, stale)
    lake.replace(TOUCHED_PERIOD, touched, f"run_id = '{run_id}'")
    lake.drop_staging(batch)
    log.info("silver %s published", hours)
    return PublishSummary(
        gates=[r.summary() for r in results],
        gate_seconds=round(validated - started, 3),
        publish_seconds=round(time.perf_counter() - validated, 3),
    )


#: a silver row of the landing (rows written before the `source` column existed have none)
LIVE_TARGET = f"(t.source IS NULL OR t.source <> '{Source.LEGACY}')"


def _merge_readings(lake: Lake, readings: pa.Table, hours: Interval) -> None:
    """One commit: insert new keys; update a key when the source copy was received earlier, the target row
    belongs to this interval (a rerun replaces its own rows) or is a legacy row (live always wins over the
    historical migration); delete this interval's live rows that no longer occur (never a legacy row)."""
    if readings.num_rows == 0:  # the merge's effect without its join: drop the interval's live rows
        lake.table(SILVER_READING).delete(
            f"({_hours_predicate(hours)}) AND (source IS NULL OR source <> '{Source.LEGACY}')"
        )
        return
    _merge(lake, readings, hours)


def _merge(lake: Lake, readings: pa.Table, hours: Interval) -> None:
    target_in_hours = f"({_hours_predicate(hours, 't.')}) AND {LIVE_TARGET}"
    earlier = (
        "s.received_at < t.received_at OR (s.received_at = t.received_at AND s.message_id < t.message_id)"
    )
    (
        lake.table(SILVER_READING)
        .merge(
            conform(readings, SILVER_READING),
            predicate="t.sensor_id = s.sensor_id AND t.ts = s.ts",
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update_all(
            predicate=f"({target_in_hours}) OR t.source = '{Source.LEGACY}' OR ({earlier})"
        )
        .when_not_matched_insert_all()
        .when_not_matched_by_source_delete(predicate=target_in_hours)
        .execute()
    )


def _replace_quarantine(lake: Lake, new: pa.Table, hours: Interval, run_id: str, enriched: pa.Table) -> None:
    """Replace the interval's silver quarantine. A row that no longer occurs although this run enriched its copy
    again (`enriched`: object_key, record_index) stays, marked resolved by this run; a row whose copy this run
    did not see (its landing object is gone, accepted with allow_missing_objects) stays as it was: only a run
    that resolved a row marks it."""
    import pyarrow.dataset as ds

    in_hours = (
        (ds.field("stage") == Stage.SILVER.value)
        & (ds.field("arrival_hour") >= pa.scalar(hours.start, TS))
        & (ds.field("arrival_hour") < pa.scalar(hours.end, TS))
    )
    old = lake.read(QUARANTINE, filters=in_hours)
    key_columns = ["object_key", "record_index", "channel", "reason"]

    def keys(table: pa.Table) -> set[tuple[object, ...]]:
        return (
            set(zip(*(table[c].to_pylist() for c in key_columns), strict=True)) if table.num_rows else set()
        )

    new_keys = keys(new)
    seen = set(zip(enriched["object_key"].to_pylist(), enriched["record_index"].to_pylist(), strict=True))
    unresolved = old.filter(pc.is_null(old["resolved_at"]))
    already = old.filter(pc.is_valid(old["resolved_at"]))
    gone: list[int] = []
    unseen: list[int] = []
    for i, key in enumerate(zip(*(unresolved[c].to_pylist() for c in key_columns), strict=True)):
        if key in new_keys:
            continue  # replaced by the new row
        (gone if key[:2] in seen else unseen).append(i)
    resolved = unresolved.take(pa.array(gone, pa.int64()))
    kept = unresolved.take(pa.array(unseen, pa.int64()))
    now = constant(datetime.now(UTC), resolved.num_rows, TS)
    resolved = resolved.set_column(resolved.schema.get_field_index("resolved_at"), "resolved_at", now)
    resolved = resolved.set_column(
        resolved.schema.get_field_index("resolved_by_run"),
        "resolved_by_run",
        constant(run_id, resolved.num_rows, pa.string()),
    )
    final = pa.concat_tables(
        [
            conform(new, QUARANTINE),
            conform(resolved, QUARANTINE),
            conform(kept, QUARANTINE),
            conform(already, QUARANTINE),
        ]
    )
    lake.replace(QUARANTINE, final, f"stage = '{Stage.SILVER.value}' AND {_hours_predicate(hours)}")


def _delete_stale(lake: Lake, stale: pa.Table) -> None:
    """Drop silver quarantine rows of copies that lost their message to an earlier copy in this interval."""
    if not stale.num_rows:
        return
    table = lake.table(QUARANTINE)
    pairs = list(zip(stale["object_key"].to_pylist(), stale["record_index"].to_pylist(), strict=True))
    for start in range(0, len(pairs), 200):
        chunk = pairs[start : start + 200]
        keys = " OR ".join(f"(object_key = '{k}' AND record_index = {i})" for k, i in chunk)
        table.delete(f"stage = '{Stage.SILVER.value}' AND resolved_at IS NULL AND ({keys})")
