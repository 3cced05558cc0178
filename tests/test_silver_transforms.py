"""The pure silver transforms on small DataFrames: units, calibration, sensor validity, local dates, nulls."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from wenulake.transforms import silver as t

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TS = pa.timestamp("us", tz="UTC")
READINGS = pa.map_(pa.string(), pa.float64())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def catalog(sensors: list[dict], timezone: str = "UTC") -> dict[str, pa.Table]:
    from wenulake.catalog.store import ARROW_SCHEMAS

    base = {"scale": 1.0, "offset": 0.0, "kind": "gauge", "valid_from": utc(2020, 1, 1), "valid_to": None}
    return {
        "companies": pa.Table.from_pylist(
            [{"company_id": "c1", "name": "C"}], schema=ARROW_SCHEMAS["companies"]
        ),
        "sites": pa.Table.from_pylist(
            [{"site_id": "s1", "company_id": "c1", "name": "S", "timezone": timezone}],
            schema=ARROW_SCHEMAS["sites"],
        ),
        "devices": pa.Table.from_pylist(
            [{"device_id": "d1", "site_id": "s1", "installed_at": None, "retired_at": None}],
            schema=ARROW_SCHEMAS["devices"],
        ),
        "sensors": pa.Table.from_pylist(
            [{**base, "device_id": "d1", **s} for s in sensors], schema=ARROW_SCHEMAS["sensors"]
        ),
        "thresholds": pa.Table.from_pylist([], schema=ARROW_SCHEMAS["thresholds"]),
    }


def messages(rows: list[tuple[str, datetime, dict[str, float | None]]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "device_id": device, "message_id": f"m{i}", "received_at": ts, "ts": ts,
                "readings": list(readings.items()), "object_key": "k", "record_index": i, "arrival_hour": ts,
            }
            for i, (device, ts, readings) in enumerate(rows)
        ],
        schema=pa.schema([
            ("device_id", pa.string()), ("message_id", pa.string()), ("received_at", TS), ("ts", TS),
            ("readings", READINGS), ("object_key", pa.string()), ("record_index", pa.int64()), ("arrival_hour", TS),
        ]),
    )  # fmt: skip


def frames(spark, sensors: list[dict], rows, timezone: str = "UTC"):  # type: ignore[no-untyped-def]
    """(messages, devices, sensors) as the silver job hands them to Spark."""
    from pyspark.sql.pandas.types import from_arrow_schema

    devices, sensor_table = t.catalog_frames(catalog(sensors, timezone))
    return (
        spark.createDataFrame(messages(rows)),
        spark.createDataFrame(devices, schema=from_arrow_schema(devices.schema)),
        spark.createDataFrame(sensor_table, schema=from_arrow_schema(sensor_table.schema)),
    )


def enrich(spark, sensors: list[dict], rows, timezone: str = "UTC") -> list[dict]:
    """attribute() on Spark: every column of the silver row, as the silver job computes it."""
    msgs, devices, sensor_frame = frames(spark, sensors, rows, timezone)
    full = t.attribute(t.readings(msgs), devices, sensor_frame).toArrow()
    return sorted(full.to_pylist(), key=lambda r: (r["ts"], r["channel"]))


def one(spark, metric: str, unit: str, raw: float, **sensor) -> dict:
    [row] = enrich(
        spark, [{"sensor_id": "x", "channel": "c", "metric": metric, "unit": unit, **sensor}],
        [("d1", utc(2026, 4, 4, 12), {"c": raw})],
    )  # fmt: skip
    return row


@pytest.mark.parametrize(
    ("metric", "unit", "raw", "value", "canonical"),
    [
        ("temperature", "F", 212.0, 100.0, "°C"),
        ("temperature", "F", 32.0, 0.0, "°C"),
        ("temperature", "K", 273.15, 0.0, "°C"),
        ("temperature", "C", 21.5, 21.5, "°C"),
        ("power", "kW", 1.5, 1500.0, "W"),
        ("energy", "Wh", 2500.0, 2.5, "kWh"),
        ("humidity", "%", 40.0, 40.0, "%"),
        ("co2", "ppm", 800.0, 800.0, "ppm"),
    ],
)
def test_units_are_converted_to_canonical(spark, metric, unit, raw, value, canonical):
    row = one(spark, metric, unit, raw)
    assert row["value"] == pytest.approx(value, abs=1e-9)
    assert row["unit"] == canonical
    assert row["raw_value"] == raw
    assert row["raw_unit"] == unit


def test_scale_and_offset_apply_after_conversion(spark):
    row = one(spark, "temperature", "F", 212.0, scale=1.1, offset=-0.5)
    assert row["value"] == pytest.approx(100.0 * 1.1 - 0.5)


def test_reading_at_valid_to_belongs_to_the_next_sensor(spark):
    switch = utc(2026, 4, 4, 12)
    sensors = [
        {"sensor_id": "old", "channel": "c", "metric": "co2", "unit": "ppm", "valid_to": switch},
        {"sensor_id": "new", "channel": "c", "metric": "co2", "unit": "ppm", "valid_from": switch},
    ]
    rows = enrich(
        spark, sensors, [("d1", utc(2026, 4, 4, 11, 59, 59), {"c": 1.0}), ("d1", switch, {"c": 2.0})]
    )
    assert [(r["sensor_id"], r["raw_value"]) for r in rows] == [("old", 1.0), ("new", 2.0)]


def test_local_date_follows_the_site_zone_across_the_santiago_dst_change(spark):
    # 2026-04-05 00:00 -03 (DST) falls back to 2026-04-04 23:00 -04: the local day 2026-04-04 lasts 25 hours.
    sensors = [{"sensor_id": "x", "channel": "c", "metric": "co2", "unit": "ppm"}]
    instants = [
        utc(2026, 4, 4, 2, 59),  # 2026-04-03 23:59 -03
        utc(2026, 4, 4, 3, 0),  # 2026-04-04 00:00 -03: the local day starts
        utc(2026, 4, 5, 3, 59),  # 2026-04-04 23:59 -04: still the same local day, 25 h later
        utc(2026, 4, 5, 4, 0),  # 2026-04-05 00:00 -04
    ]
    rows = enrich(spark, sensors, [("d1", ts, {"c": 1.0}) for ts in instants], timezone="America/Santiago")
    assert [r["local_date"] for r in rows] == [
        date(2026, 4, 3),
        date(2026, 4, 4),
        date(2026, 4, 4),
        date(2026, 4, 5),
    ]
    day = [r["ts"] for r in rows if r["local_date"] == date(2026, 4, 4)]
    assert (day[-1] - day[0]).total_seconds() == 25 * 3600 - 60


def test_nulls_are_dropped_and_unknown_channels_flagged(spark):
    sensors = [{"sensor_id": "x", "channel": "c", "metric": "co2", "unit": "ppm"}]
    rows = enrich(
        spark,
        sensors,
        [("d1", utc(2026, 4, 4, 12), {"c": None, "zz": 3.0}), ("d1", utc(2026, 4, 4, 13), {"c": 5.0})],
    )
    assert [(r["outcome"], r["channel"], r["raw_value"]) for r in rows] == [
        ("unknown_channel", "zz", 3.0),
        ("ok", "c", 5.0),
    ]


def test_unknown_device_is_one_row_per_message(spark):
    msgs, devices, _ = frames(
        spark, [], [("ghost", utc(2026, 4, 4), {"a": 1.0, "b": 2.0}), ("d1", utc(2026, 4, 4), {})]
    )
    unknown = t.unknown_devices(msgs, devices).toArrow()
    assert unknown["device_id"].to_pylist() == ["ghost"]


def test_dedupe_keeps_the_earliest_received_reading_per_sensor_and_ts(spark):
    sensors = [{"sensor_id": "x", "channel": "c", "metric": "co2", "unit": "ppm"}]
    _, devices, sensor_frame = frames(spark, sensors, [])
    table = messages([("d1", utc(2026, 4, 4, 12), {"c": 1.0}), ("d1", utc(2026, 4, 4, 12), {"c": 2.0})])
    table = table.set_column(2, "received_at", pa.array([utc(2026, 4, 4, 12, 5), utc(2026, 4, 4, 12, 1)], TS))
    attributed = t.attribute(t.readings(spark.createDataFrame(table)), devices, sensor_frame)
    [row] = t.dedupe(attributed).toArrow().to_pylist()
    assert row["raw_value"] == 2.0  # the copy received at 12:01 wins over the one received at 12:05


def test_outcomes_carry_every_column_the_silver_and_quarantine_rows_need(spark):
    sensors = [{"sensor_id": "x", "channel": "c", "metric": "co2", "unit": "ppm"}]
    msgs, devices, sensor_frame = frames(
        spark,
        sensors,
        [
            ("d1", utc(2026, 4, 4, 12), {"c": 5.0, "zz": 3.0, "n": None}),
            ("ghost", utc(2026, 4, 4, 13), {"c": 1.0}),
        ],
    )
    rows = t.outcomes(msgs, devices, sensor_frame).toArrow()
    assert rows.schema.names == t.OUTCOMES_SCHEMA.names
    assert sorted(rows["outcome"].to_pylist()) == ["ok", "unknown_channel", "unknown_device"]
    silver = t.silver_rows(rows.cast(t.OUTCOMES_SCHEMA), "run-1").to_pylist()
    assert [(r["sensor_id"], r["value"], r["site_id"], r["source"], r["ts_date"]) for r in silver] == [
        ("x", 5.0, "s1", "live", "2026-04-04")
    ]
    quarantine = t.quarantine_rows(rows.cast(t.OUTCOMES_SCHEMA), "run-1", utc(2026, 4, 5)).to_pylist()
    by_reason = {r["reason"]: r for r in quarantine}
    assert by_reason["unknown_channel"]["raw"] == '{"zz": 3.0}'
    assert (
        by_reason["unknown_channel"]["detail"] == "no sensor of device 'd1' and channel 'zz' valid at this ts"
    )
    assert by_reason["unknown_device"]["raw"] == '{"c": 1.0}'
    assert by_reason["unknown_device"]["detail"] == "device 'ghost' is not in the catalog"
    assert by_reason["unknown_device"]["channel"] is None
    assert {r["stage"] for r in quarantine} == {"silver"}


def test_unknown_device_raw_is_the_messages_readings_as_every_quarantine_row_writes_them(spark):
    """The unknown_device row carries its readings as Spark's JSON text; `raw` must still be Python's JSON of the
    readings: nulls, exponents, whole and non-finite numbers, channel order and non-ASCII names included."""
    import json
    import math

    readings = {"b": 1e21, "a": None, "t": 21.5, "w": 3.0, "n": float("nan"), "i": float("-inf"), "é": 1e-7}
    msgs, devices, sensor_frame = frames(spark, [], [("ghost", utc(2026, 4, 4, 13), readings)])
    rows = t.outcomes(msgs, devices, sensor_frame).toArrow().cast(t.OUTCOMES_SCHEMA)
    [row] = t.quarantine_rows(rows, "run-1", utc(2026, 4, 5)).to_pylist()
    assert row["reason"] == "unknown_device"
    assert row["raw"] == json.dumps(readings)
    back = json.loads(row["raw"])
    assert math.isnan(back.pop("n"))
    assert back.pop("i") == float("-inf")
