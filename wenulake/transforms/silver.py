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


def index_messages(messages: pa.Table) -> pa.Table:
    """Messages in received order (received_at, then message_id) with `msg`, their position in that order.

    Spark carries only `msg`, `device_id`, `ts` and `readings`; every other column is joined back by `msg` after
    collection (`assemble`), so the wide columns never cross the JVM.
    """
    ordered = messages.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    return ordered.append_column("msg", pa.array(range(ordered.num_rows), pa.int64()))


def spark_messages(messages: pa.Table) -> pa.Table:
    return messages.select(["msg", "device_id", "ts", "readings"])


def spark_devices(devices: pa.Table) -> pa.Table:
    return devices.select(["device_id", "timezone"])


def spark_sensors(sensors: pa.Table) -> pa.Table:
    return sensors.select(
        ["sensor_id", "device_id", "channel", "valid_from", "valid_to", "factor", "shift", "scale", "offset"]
    )


def unknown_devices(messages: DataFrame, devices: DataFrame) -> DataFrame:
    """Messages whose device is not in the catalog (one row per message)."""
    from pyspark.sql import functions as F

    return messages.join(F.broadcast(devices.select("device_id")), "device_id", "left_anti")


def readings(messages: DataFrame) -> DataFrame:
    """One row per (message, channel) with the raw number; null readings are dropped here (counted upstream)."""
    from pyspark.sql import functions as F

    exploded = messages.select("msg", "device_id", "ts", F.explode("readings").alias("channel", "raw_value"))
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
        F.col("r.msg").alias("msg"),
        F.col("r.channel").alias("channel"),
        F.col("r.raw_value").alias("raw_value"),
        F.col("s.sensor_id").alias("sensor_id"),
        F.col("r.ts").alias("ts"),
        F.to_date(F.from_utc_timestamp(F.col("r.ts"), F.col("r.timezone"))).alias("local_date"),
        (canonical * F.col("s.scale") + F.col("s.offset")).alias("value"),
    )


def dedupe(attributed: DataFrame) -> DataFrame:
    """One row per (sensor_id, ts): the earliest received message wins (`msg` follows received order)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("sensor_id", "ts").orderBy("msg")
    return attributed.withColumn("_rank", F.row_number().over(order)).where("_rank = 1").drop("_rank")


def assemble(outcomes: pa.Table, messages: pa.Table, devices: pa.Table, sensors: pa.Table) -> pa.Table:
    """Collected outcomes + message, device and sensor columns, joined back in DuckDB (Arrow in, Arrow out)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        for name, table in (("o", outcomes), ("m", messages), ("d", devices), ("s", sensors)):
            con.register(name, table)
        return con.execute(
            """
            select o.outcome, o.sensor_id, o.ts, o.local_date, o.value, o.raw_value, s.raw_unit,
                   s.canonical_unit as unit, s.metric, s.kind, o.channel, m.device_id, d.site_id, d.company_id,
                   d.timezone, m.message_id, m.received_at, m.object_key, m.record_index, m.arrival_hour
            from o
            join m on o.msg = m.msg
            join d on m.device_id = d.device_id
            left join s on o.sensor_id = s.sensor_id
            """
        ).fetch_arrow_table()
    finally:
        con.close()
