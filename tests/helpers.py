"""Helpers shared by integration tests."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from wenulake.contracts.tables import TABLES, TableSpec
from wenulake.lake import Lake
from wenulake.settings import Settings
from wenulake.timeutil import Interval, parse_instant

BRONZE_KEYS = (
    "objects",
    "corrupt_objects",
    "records",
    "duplicates",
    "messages_valid",
    "q_malformed_record",
    "q_unknown_key",
    "q_decrypt_failed",
    "q_implausible_timestamp",
)


def snapshot(settings: Settings, spec: TableSpec) -> pa.Table:
    """A table's data columns (run metadata dropped), in a canonical row order: what 'identical' compares."""
    data = Lake(settings).read(spec).select(spec.data_columns)
    sortable = [c for c in spec.data_columns if not pa.types.is_map(data.schema.field(c).type)]
    return data.sort_by([(c, "ascending") for c in sortable])


def snapshots(
    settings: Settings,
    names: tuple[str, ...] = ("bronze.sensor_message", "ops.quarantine", "ops.ingest_ledger"),
) -> dict[str, pa.Table]:
    return {name: snapshot(settings, TABLES[name]) for name in names}


def expected_bronze(manifest: dict[str, Any], hour: str | None = None) -> dict[str, int]:
    source = manifest["by_hour"][hour] if hour else manifest["expected"]
    return {k: source[k] for k in BRONZE_KEYS}


def arrival_range(manifest: dict[str, Any]) -> Interval:
    return Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))
