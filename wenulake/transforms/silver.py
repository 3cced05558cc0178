"""Silver: bronze messages -> readings in canonical units, on the sensor valid at ts, in the site's local day.

Pure DataFrame -> DataFrame functions; the catalog arrives as two small DataFrames (`devices` joined with their
site and company, and `sensors` with their unit conversion), broadcast to every task. `outcomes` is the whole
enrichment: one row per silver reading (deduplicated), per `unknown_channel` reading and per `unknown_device`
message, carrying every column the silver and quarantine rows need, so nothing is joined back on the driver.
`outcomes_to_files` (the body of a `mapInArrow`) writes them as data files where they are, on the executors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from wenulake.contracts import Reason, Stage
from wenulake.contracts.tables import QUARANTINE, READINGS, SILVER_READING, TS, Source, utc_date_of_ts
from wenulake.lakefiles import FILE_SCHEMA, TableSink, write_files
from wenulake.units import UNITS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

OK = "ok"
UNKNOWN_CHANNEL = Reason.UNKNOWN_CHANNEL.value
UNKNOWN_DEVICE = Reason.UNKNOWN_DEVICE.value

#: the message columns a reading carries from its winning copy
MESSAGE_COLUMNS = (
    "device_id",
    "message_id",
    "received_at",
    "ts",
    "object_key",
    "record_index",
    "arrival_hour",
)
#: input of the enrichment: the winning copies (bronze.sensor_message columns)
MESSAGES_SCHEMA = pa.schema(
    [
        pa.field("device_id", pa.string()),
        pa.field("message_id", pa.string()),
        pa.field("received_at", TS),
        pa.field("ts", TS),
        pa.field("readings", READINGS),
        pa.field("object_key", pa.string()),
        pa.field("record_index", pa.int64()),
        pa.field("arrival_hour", TS),
    ]
)
#: output of `outcomes`: what `outcomes_to_files` splits into silver and quarantine rows
OUTCOMES_SCHEMA = pa.schema(
    [
        pa.field("outcome", pa.string()),
        pa.field("sensor_id", pa.string()),
        pa.field("ts", TS),
        pa.field("local_date", pa.date32()),
        pa.field("value", pa.float64()),
        pa.field("raw_value", pa.float64()),
        pa.field("raw_unit", pa.string()),
        pa.field("unit", pa.string()),
        pa.field("metric", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("device_id", pa.string()),
        pa.field("site_id", pa.string()),
        pa.field("company_id", pa.string()),
        pa.field("timezone", pa.string()),
        pa.field("message_id", pa.string()),
        pa.field("received_at", TS),
        pa.field("object_key", pa.string()),
        pa.field("record_index", pa.int64()),
        pa.field("arrival_hour", TS),
        # the message's readings as JSON text, on unknown_device rows only: a map column here made Spark's Arrow
        # conversion of every outcome row about 3.5 times slower, though it is null on all the others
        pa.field("readings_json", pa.string()),
    ]
)


def catalog_frames(snapshot: dict[str, pa.Table]) -> tuple[pa.Table, pa.Table]:
    """(devices with site_id, company_id, timezone; sensors with canonical unit, factor and shift) as Arrow."""
    import duckdb

    conversions = pa.Table.from_pylist(
        [
            {
                "metric": metric,
                "unit": unit,
                "canonical_unit": c.canonical,
                "factor": c.factor,
                "shift": c.shift,
            }
            for metric, units in UNITS.items()
            for unit, c in units.items()
        ]
    )
    con = duckdb.connect()
    try:
        for name, table in snapshot.items():
            con.register(name, table)
        con.register("conversions", conversions)
        devices = con.execute(
            "select d.device_id, d.site_id, s.company_id, s.timezone "
            "from devices d join sites s on d.site_id = s.site_id"
        ).fetch_arrow_table()
        sensors = con.execute(
            "select s.sensor_id, s.device_id, s.channel, s.metric, s.unit as raw_unit, s.kind, s.scale, s.offset, "
            "s.valid_from, s.valid_to, c.canonical_unit, c.factor, c.shift "
            "from sensors s join conversions c on s.metric = c.metric and s.unit = c.unit"
        ).fetch_arrow_table()
    finally:
        con.close()
    return devices, sensors


def unknown_devices(messages: DataFrame, devices: DataFrame) -> DataFrame:
    """Messages whose device is not in the catalog (one row per message, every column)."""
    from pyspark.sql import functions as F

    return messages.join(F.broadcast(devices.select("device_id")), "device_id", "left_anti")


def readings(messages: DataFrame) -> DataFrame:
    """One row per (message, channel) with the raw number and the message's columns; null readings are dropped
    here (counted upstream)."""
    from pyspark.sql import functions as F

    exploded = messages.select(*MESSAGE_COLUMNS, F.explode("readings").alias("channel", "raw_value"))
    return exploded.where(F.col("raw_value").isNotNull())


def attribute(readings_df: DataFrame, devices: DataFrame, sensors: DataFrame) -> DataFrame:
    """Readings of known devices -> each reading with its sensor (valid_from <= ts < valid_to), canonical and
    calibrated value, local date and catalog columns; `outcome` is `ok`, or `unknown_channel` when no sensor
    matches."""
    from pyspark.sql import functions as F

    r = readings_df.join(F.broadcast(devices), "device_id", "inner").alias("r")
    s = F.broadcast(sensors).alias("s")
    matches = (
        (F.col("r.device_id") == F.col("s.device_id"))
        & (F.col("r.channel") == F.col("s.channel"))
        & (F.col("r.ts") >= F.col("s.valid_from"))
        & (F.col("s.valid_to").isNull() | (F.col("r.ts") < F.col("s.valid_to")))
    )
    joined = r.join(s, matches, "left")
    canonical = F.col("r.raw_value") * F.col("s.factor") + F.col("s.shift")
    return joined.select(
        F.when(F.col("s.sensor_id").isNull(), F.lit(UNKNOWN_CHANNEL)).otherwise(F.lit(OK)).alias("outcome"),
        F.col("s.sensor_id").alias("sensor_id"),
        F.col("r.ts").alias("ts"),
        F.to_date(F.from_utc_timestamp(F.col("r.ts"), F.col("r.timezone"))).alias("local_date"),
        (canonical * F.col("s.scale") + F.col("s.offset")).alias("value"),
        F.col("r.raw_value").alias("raw_value"),
        F.col("s.raw_unit").alias("raw_unit"),
        F.col("s.canonical_unit").alias("unit"),
        F.col("s.metric").alias("metric"),
        F.col("s.kind").alias("kind"),
        F.col("r.channel").alias("channel"),
        F.col("r.device_id").alias("device_id"),
        F.col("r.site_id").alias("site_id"),
        F.col("r.company_id").alias("company_id"),
        F.col("r.timezone").alias("timezone"),
        *(F.col(f"r.{c}").alias(c) for c in MESSAGE_COLUMNS if c not in ("device_id", "ts")),
    )


def dedupe(attributed: DataFrame) -> DataFrame:
    """One row per (sensor_id, ts): the earliest received message wins (ties: message_id)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("sensor_id", "ts").orderBy("received_at", "message_id")
    return attributed.withColumn("_rank", F.row_number().over(order)).where("_rank = 1").drop("_rank")


def outcomes(messages: DataFrame, devices: DataFrame, sensors: DataFrame) -> DataFrame:
    """The whole enrichment: DataFrame[MESSAGES_SCHEMA] -> DataFrame[OUTCOMES_SCHEMA] (silver readings, deduped;
    unknown_channel readings; unknown_device messages with their readings)."""
    from pyspark.sql import functions as F

    attributed = attribute(readings(messages), devices, sensors)
    ok = dedupe(attributed.where(F.col("outcome") == OK))
    unknown_channel = attributed.where(F.col("outcome") == UNKNOWN_CHANNEL)
    unknown = (
        unknown_devices(messages, devices)
        .withColumn("outcome", F.lit(UNKNOWN_DEVICE))
        .withColumn("readings_json", F.to_json("readings"))
        .drop("readings")
    )
    return (
        ok.unionByName(unknown_channel)
        .unionByName(unknown, allowMissingColumns=True)
        .select(*OUTCOMES_SCHEMA.names)
    )


# -- on the executors: outcome rows -> silver and quarantine data files ------------------------------------------
def _readings_from_json(text: str | None) -> dict[str, float | None]:
    """Spark's `to_json` of a readings map back to the dict it was (so `raw` is written as for any other
    quarantine row). Readings are numbers or null: a string is one of Jackson's quoted non-finite numbers."""
    if text is None:
        return {}
    return {
        channel: float(value) if isinstance(value, str) else value
        for channel, value in json.loads(text).items()
    }


def silver_rows(rows: pa.Table, run_id: str) -> pa.Table:
    """The `ok` outcome rows as silver.reading rows of this run (source live). Pure."""
    ok = rows.filter(pc.equal(rows["outcome"], OK))
    n = ok.num_rows
    columns = {name: ok[name] for name in SILVER_READING.schema.names if name in ok.column_names}
    columns["run_id"] = pa.repeat(pa.scalar(run_id, pa.string()), n)
    columns["source"] = pa.repeat(pa.scalar(Source.LIVE, pa.string()), n)
    table = pa.table(columns)
    return table.append_column("ts_date", utc_date_of_ts(table))


def quarantine_rows(rows: pa.Table, run_id: str, now: datetime) -> pa.Table:
    """The `unknown_device` (one per message, `raw` its readings as JSON) and `unknown_channel` (one per reading,
    `raw` = {channel: value}) outcome rows as ops.quarantine rows of stage silver. Pure."""
    bad = rows.filter(pc.not_equal(rows["outcome"], OK))
    out: dict[str, list[Any]] = {c: [] for c in ("reason", "channel", "raw", "detail")}
    for outcome, device, channel, raw_value, readings_json in zip(
        bad["outcome"].to_pylist(),
        bad["device_id"].to_pylist(),
        bad["channel"].to_pylist(),
        bad["raw_value"].to_pylist(),
        bad["readings_json"].to_pylist(),
        strict=True,
    ):
        out["reason"].append(outcome)
        if outcome == UNKNOWN_CHANNEL:
            out["channel"].append(channel)
            out["raw"].append(json.dumps({channel: raw_value}))
            out["detail"].append(f"no sensor of device {device!r} and channel {channel!r} valid at this ts")
        else:
            out["channel"].append(None)
            out["raw"].append(json.dumps(_readings_from_json(readings_json)))
            out["detail"].append(f"device {device!r} is not in the catalog")
    n = bad.num_rows
    hours = bad["arrival_hour"]
    return pa.table(
        {
            "reason": pa.array(out["reason"], pa.string()),
            "stage": pa.repeat(pa.scalar(Stage.SILVER.value, pa.string()), n),
            "object_key": bad["object_key"],
            "record_index": bad["record_index"],
            "device_id": bad["device_id"],
            "message_id": bad["message_id"],
            "channel": pa.array(out["channel"], pa.string()),
            "raw": pa.array(out["raw"], pa.string()),
            "detail": pa.array(out["detail"], pa.string()),
            "arrival_hour": hours,
            "arrival_date": pc.cast(pc.cast(hours, pa.date32()), pa.string()),
            "run_id": pa.repeat(pa.scalar(run_id, pa.string()), n),
            "quarantined_at": pa.repeat(pa.scalar(now, TS), n),
            "ts": bad["ts"],
        }
    )


def outcomes_to_files(
    batches: Iterable[pa.RecordBatch],
    sinks: dict[str, TableSink],
    run_id: str,
    now: datetime,
    flush_rows: int = 200_000,
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: OUTCOMES_SCHEMA batches in; silver.reading and ops.quarantine data files written here,
    on the executor; FILE_SCHEMA descriptors out. At most about `flush_rows` rows are held at a time."""
    pending: list[pa.RecordBatch] = []
    held = 0

    def write() -> pa.RecordBatch:
        # Spark marks some columns not-null: the contract schema differs only in nullability
        rows = pa.concat_tables([pa.Table.from_batches([b]).cast(OUTCOMES_SCHEMA) for b in pending])
        pending.clear()
        files = write_files(sinks[SILVER_READING.name], silver_rows(rows, run_id))
        files += write_files(sinks[QUARANTINE.name], quarantine_rows(rows, run_id, now))
        return pa.RecordBatch.from_pylist(files, schema=FILE_SCHEMA)

    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        if held >= flush_rows:
            yield write()
            held = 0
    if pending:
        yield write()
