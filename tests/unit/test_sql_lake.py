"""The lake's accounting SQL and the warehouse's staging and gate SQL on a few Arrow rows (DuckDB): where every
landed record of an interval went, and which fact rows a load replaces and checks."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tests.unit.sqlcase import TS, d, lake, run, t, table
from wenulake.accounting import KEYS
from wenulake.contracts.tables import (
    INGEST_LEDGER,
    QUARANTINE,
    SENSOR_MESSAGE,
    SILVER_READING,
    TOUCHED_PERIOD,
)

H0, H1, H2 = t("2026-04-04 09:00"), t("2026-04-04 10:00"), t("2026-04-04 11:00")


def copy(
    device: str, message: str, received: str, hour: Any, index: int, readings: dict[str, Any]
) -> dict[str, Any]:
    return {"device_id": device, "message_id": message, "received_at": t(received), "ts": t(received),
            "readings": list(readings.items()), "object_key": f"o-{hour:%H}", "record_index": index,
            "arrival_hour": hour}  # fmt: skip


def quarantined(reason: str, stage: str, hour: Any, **extra: Any) -> dict[str, Any]:
    return {"reason": reason, "stage": stage, "object_key": f"o-{hour:%H}", "arrival_hour": hour, **extra}


def test_accounting_counts_each_landed_record_once_for_the_intervals_arrival_hours():
    ledger = [
        {"object_key": "a", "records": 6, "status": "ingested", "arrival_hour": H1},
        {"object_key": "b", "records": 4, "status": "ingested", "arrival_hour": H1},
        {"object_key": "c", "records": 0, "status": "corrupt", "arrival_hour": H1},
        {"object_key": "d", "records": 7, "status": "ingested", "arrival_hour": H2},  # another hour
    ]
    messages = [
        copy("d1", "m1", "2026-04-04 10:05", H1, 0, {"t": 20.0}),
        copy("d1", "m1", "2026-04-04 10:06", H1, 1, {"t": None}),  # a duplicate: its null does not count
        copy("d1", "m2", "2026-04-04 09:50", H0, 0, {"t": 1.0}),  # the winner, in an earlier interval
        copy("d1", "m2", "2026-04-04 10:30", H1, 2, {"t": 1.0}),  # so this copy is a duplicate
        copy("d2", "m3", "2026-04-04 10:10", H1, 3, {"t": 1.0, "h": None}),  # an unknown device
        copy("d1", "m4", "2026-04-04 10:20", H1, 4, {"t": None, "h": None, "x": 2.0}),
    ]
    reasons = [
        "malformed_record",
        "unknown_key",
        "key_device_mismatch",
        "decrypt_failed",
        "implausible_timestamp",
    ]
    quarantine = [quarantined(r, "bronze", H1) for r in reasons]
    quarantine += [
        quarantined("malformed_record", "bronze", H2),  # another hour
        quarantined("unknown_device", "silver", H1, record_index=3, device_id="d2", message_id="m3", channel="t"),
        quarantined("unknown_device", "silver", H1, record_index=3, device_id="d2", message_id="m3", channel="h"),
        quarantined("unknown_channel", "silver", H1, record_index=4, device_id="d1", message_id="m4", channel="x"),
        quarantined("unknown_channel", "silver", H1, record_index=4, device_id="d1", message_id="m4", channel="y",
                    resolved_at=t("2026-04-05 00:00")),  # resolved: no longer counted
        quarantined("unknown_channel", "silver", H1, record_index=1, device_id="d1", message_id="m1", channel="x"),
    ]  # fmt: skip
    tables = {
        "ops.ingest_ledger": lake(INGEST_LEDGER, ledger),
        "bronze.sensor_message": lake(SENSOR_MESSAGE, messages),
        "ops.quarantine": lake(QUARANTINE, quarantine),
    }
    params = {"interval_start": H1, "interval_end": H2}
    [row] = run("lake/accounting", tables, params, macros=("interval_copies",))
    assert row == {
        "objects": 3, "corrupt_objects": 1, "records": 10, "duplicates": 2, "messages_valid": 2, "null_values": 2,
        "q_malformed_record": 1, "q_unknown_key": 1, "q_key_device_mismatch": 1, "q_decrypt_failed": 1,
        "q_implausible_timestamp": 1, "q_unknown_device": 1, "q_unknown_channel": 1,
    }  # fmt: skip
    assert list(row) == list(KEYS)  # the columns `wenulake accounting` prints, in its order
    # the balance: every record is a valid message, a duplicate or quarantined by a message-level reason
    message_level = ("q_malformed_record", "q_unknown_key", "q_key_device_mismatch", "q_decrypt_failed",
                     "q_implausible_timestamp", "q_unknown_device")  # fmt: skip
    assert row["records"] == row["messages_valid"] + row["duplicates"] + sum(row[k] for k in message_level)
    [empty] = run(
        "lake/accounting", tables, {"interval_start": H0, "interval_end": H0}, macros=("interval_copies",)
    )
    assert set(empty.values()) == {0}


TOUCHES = [
    {"run_id": "r1", "stage": "silver", "sensor_id": "a", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 10:00")},
    {"run_id": "r1", "stage": "silver", "sensor_id": "a", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 11:00")},
    {"run_id": "r2", "stage": "silver", "sensor_id": "b", "local_date": d("2026-04-05"), "hour_utc": t("2026-04-05 01:00")},
    {"run_id": "r3", "stage": "silver", "sensor_id": "c", "local_date": d("2026-04-04"), "hour_utc": t("2026-04-04 10:00")},
]  # fmt: skip


def silver_row(sensor: str, ts: str, value: float) -> dict[str, Any]:
    when = t(ts)
    return {"sensor_id": sensor, "ts": when, "local_date": when.date(), "value": value, "raw_value": value,
            "device_id": "d", "site_id": "s", "company_id": "c", "metric": "co2", "unit": "ppm",
            "message_id": f"m-{ts}", "received_at": when}  # fmt: skip


def test_the_load_replaces_whole_touched_partitions_of_the_covered_runs():
    touched = lake(TOUCHED_PERIOD, TOUCHES)
    runs = {"runs": ["r1", "r2"]}
    keys = run(
        "warehouse/stage/touched_partitions", {"ops.touched_period": touched}, runs, ("touched_partitions",)
    )
    assert keys == [
        {"sensor_id": "a", "local_date": d("2026-04-04")},
        {"sensor_id": "b", "local_date": d("2026-04-05")},
    ]
    silver = lake(
        SILVER_READING,
        [
            silver_row("a", "2026-04-04 03:00", 1.0),  # untouched hour, touched partition: loaded too
            silver_row("a", "2026-04-04 10:30", 2.0),
            silver_row("a", "2026-04-05 10:30", 3.0),  # another day
            silver_row("b", "2026-04-05 01:10", 4.0),
            silver_row("c", "2026-04-04 10:10", 5.0),  # another run's
        ],
    )
    facts = run(
        "warehouse/stage/fact_reading",
        {"ops.touched_period": touched, "silver.reading": silver},
        runs,
        ("touched_partitions",),
    )
    assert [(f["sensor_id"], f["ts"], f["value"]) for f in facts] == [
        ("a", t("2026-04-04 03:00"), 1.0),
        ("a", t("2026-04-04 10:30"), 2.0),
        ("b", t("2026-04-05 01:10"), 4.0),
    ]
    assert list(facts[0]) == ["sensor_id", "ts", "local_date", "value", "raw_value", "device_id", "site_id",
                              "company_id", "metric", "unit", "message_id", "received_at"]  # fmt: skip


def test_dim_date_describes_each_fact_date_once():
    facts = table(
        [{"local_date": d("2026-04-04")}, {"local_date": d("2026-04-04")}, {"local_date": d("2026-12-28")}]
    )
    assert run("warehouse/stage/dim_date", {"facts": facts}) == [
        {"date_key": d("2026-04-04"), "year": 2026, "quarter": 2, "month": 4, "day": 4, "iso_week": 14,
         "day_of_week": 6, "is_weekend": True},
        {"date_key": d("2026-12-28"), "year": 2026, "quarter": 4, "month": 12, "day": 28, "iso_week": 53,
         "day_of_week": 1, "is_weekend": False},
    ]  # fmt: skip


def test_the_warehouse_gate_finds_partitions_whose_rows_differ_from_silver_and_facts_without_a_sensor():
    keys = table([{"sensor_id": s, "local_date": d("2026-04-04")} for s in ("a", "b", "c")])
    silver = lake(
        SILVER_READING,
        [
            silver_row("a", "2026-04-04 10:00", 1.0),
            silver_row("a", "2026-04-04 11:00", 2.0),
            silver_row("b", "2026-04-04 10:00", 3.0),
            silver_row("z", "2026-04-04 10:00", 9.0),
        ],
    )
    facts = pa.Table.from_pylist(
        [{"sensor_id": s, "ts": t(ts), "local_date": d("2026-04-04"), "value": v}
         for s, ts, v in [("a", "2026-04-04 10:00", 1.0), ("a", "2026-04-04 11:00", 2.0), ("c", "2026-04-04 10:00", 7.0),
                          ("z", "2026-04-04 10:00", 9.0)]],
        schema=pa.schema([("sensor_id", pa.string()), ("ts", TS), ("local_date", pa.date32()), ("value", pa.float64())]),
    )  # fmt: skip
    silver_rows = run(
        "warehouse/gate/silver_partition_rows", {"touched_keys": keys, "silver.reading": silver}
    )
    assert silver_rows == [
        {"sensor_id": "a", "local_date": d("2026-04-04"), "silver_rows": 2},
        {"sensor_id": "b", "local_date": d("2026-04-04"), "silver_rows": 1},
    ]
    loaded = run("warehouse/gate/loaded_partition_rows", {"touched_keys": keys, "fact_reading": facts})
    assert loaded == [
        {"sensor_id": "a", "local_date": d("2026-04-04"), "warehouse_rows": 2},
        {"sensor_id": "c", "local_date": d("2026-04-04"), "warehouse_rows": 1},
    ]
    frames = {"touched_keys": keys, "loaded_rows": table(loaded), "silver_rows": table(silver_rows)}
    assert run("warehouse/gate/partition_mismatches", frames) == [
        {"sensor_id": "b", "local_date": d("2026-04-04"), "warehouse_rows": 0, "silver_rows": 1},  # missing
        {
            "sensor_id": "c",
            "local_date": d("2026-04-04"),
            "warehouse_rows": 1,
            "silver_rows": 0,
        },  # left behind
    ]
    dim = table([{"sensor_id": "a"}, {"sensor_id": "b"}])
    rows = run(
        "warehouse/gate/touched_facts", {"touched_keys": keys, "fact_reading": facts, "dim_sensor": dim}
    )
    assert [(r["sensor_id"], r["value"], r["sensor_in_dim"]) for r in rows] == [
        ("a", 1.0, True), ("a", 2.0, True), ("c", 7.0, False),
    ]  # fmt: skip
