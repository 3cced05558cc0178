"""Silver: bronze messages -> readings in canonical units, on the sensor valid at ts, in the site's local day.

Pure DataFrame -> DataFrame functions; the catalog arrives as two small DataFrames (`devices` joined with their
site and company, and `sensors` with their unit conversion), broadcast to every task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from wenulake.units import UNITS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

OK = "ok"
UNKNOWN_CHANNEL = "unknown_channel"


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
    """Messages whose device is not in the catalog (one row per message)."""
    from pyspark.sql import functions as F

    return messages.join(F.broadcast(devices.select("device_id")), "device_id", "left_anti")


def readings(messages: DataFrame) -> DataFrame:
    """One row per (message, channel) with the raw number; null readings are dropped here (counted upstream)."""
    from pyspark.sql import functions as F

    exploded = messages.select(
        "device_id", "message_id", "received_at", "ts", "object_key", "record_index", "arrival_hour",
        F.explode("readings").alias("channel", "raw_value"),
    )  # fmt: skip
    return exploded.where(F.col("raw_value").isNotNull())


def attribute(readings_df: DataFrame, devices: DataFrame, sensors: DataFrame) -> DataFrame:
    """Readings of known devices -> each reading with its sensor (valid_from <= ts < valid_to), canonical and
    calibrated value and local date; `outcome` is `ok`, or `unknown_channel` when no sensor matches."""
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
        F.col("r.message_id").alias("message_id"),
        F.col("r.received_at").alias("received_at"),
        F.col("r.object_key").alias("object_key"),
        F.col("r.record_index").alias("record_index"),
        F.col("r.arrival_hour").alias("arrival_hour"),
    )


def dedupe(attributed: DataFrame) -> DataFrame:
    """One row per (sensor_id, ts): the earliest received message wins (ties: message_id)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("sensor_id", "ts").orderBy("received_at", "message_id")
    return attributed.withColumn("_rank", F.row_number().over(order)).where("_rank = 1").drop("_rank")
