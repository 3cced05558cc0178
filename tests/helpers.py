"""Helpers shared by integration tests."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from wenulake.contracts.tables import TABLES, TableSpec
from wenulake.lake import Lake
from wenulake.settings import Settings
from wenulake.timeutil import Interval, parse_instant

#: accounting key -> the generator's ground-truth key in manifest.json
TRUTH = {
    "objects": "objects",
    "corrupt_objects": "corrupt_objects",
    "records": "records",
    "duplicates": "duplicates",
    "messages_valid": "attributable_messages",
    "null_values": "null_values",
    "q_malformed_record": "q_malformed_record",
    "q_unknown_key": "q_unknown_key",
    "q_key_device_mismatch": "q_key_device_mismatch",
    "q_decrypt_failed": "q_decrypt_failed",
    "q_implausible_timestamp": "q_implausible_timestamp",
    "q_unknown_device": "messages_uncatalogued_device",
    "q_unknown_channel": "unknown_channel_readings",
}


def snapshot(settings: Settings, spec: TableSpec) -> pa.Table:
    """A table's data columns (run metadata dropped), in a canonical row order: what 'identical' compares."""
    data = Lake(settings).read(spec).select(spec.data_columns)
    sortable = [c for c in spec.data_columns if not pa.types.is_nested(data.schema.field(c).type)]
    return data.sort_by([(c, "ascending") for c in sortable])


LAKE_TABLES = ("bronze.sensor_message", "ops.quarantine", "ops.ingest_ledger", "silver.reading")


def snapshots(settings: Settings, names: tuple[str, ...] = LAKE_TABLES) -> dict[str, pa.Table]:
    return {name: snapshot(settings, TABLES[name]) for name in names}


def expected_accounting(manifest: dict[str, Any], hour: str | None = None) -> dict[str, int]:
    """What `wenulake accounting` must say, from the generator's ground truth (total or one arrival hour)."""
    source = manifest["by_hour"][hour] if hour else manifest["expected"]
    return {key: source[truth] for key, truth in TRUTH.items()}


def arrival_range(manifest: dict[str, Any]) -> Interval:
    return Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))


def warehouse_tables(con: Any) -> dict[str, pa.Table]:
    """Every warehouse table on a DuckDB connection, in a canonical row order (the load logs left out): what
    'identical' compares, for the published state and the loader's alike."""
    from wenulake.warehouse import COLUMNS

    con.execute("set TimeZone = 'UTC'")
    return {
        table: con.execute(
            # alarms: the live ones without their run ids (hour by hour, late data may open and then retract
            # an alarm that a run over the whole range never sees: kept, marked retracted)
            f"select * exclude (opened_run, closed_run) from main.{table} where status <> 'retracted' "
            "order by all"
            if table == "fact_alarm"
            else f"select * from main.{table} order by all"
        ).fetch_arrow_table()
        for table in COLUMNS
    }


def warehouse_snapshot(settings: Settings) -> dict[str, pa.Table]:
    """Every warehouse table as analysts see it (the published state, either backend)."""
    from wenulake.query import connect

    con = connect(settings, warehouse=True)
    try:
        return warehouse_tables(con)
    finally:
        con.close()
