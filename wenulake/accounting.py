"""Where every landed record of an interval went, computed from the lake tables (never from run logs).

`records = messages_valid + duplicates + q_malformed_record + q_unknown_key + q_key_device_mismatch
+ q_decrypt_failed + q_implausible_timestamp + q_unknown_device` holds for every interval, whatever order intervals
ran in.
`q_unknown_channel` (per reading) and `null_values` (per reading) count once per distinct message.
"""

from __future__ import annotations

from typing import Any

from wenulake.contracts import BRONZE_MESSAGE_REASONS, MESSAGE_LEVEL_REASONS, Reason
from wenulake.pipeline.bronze import owned_hours
from wenulake.query import connect, execute
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.timeutil import Interval

KEYS = (
    "objects",
    "corrupt_objects",
    "records",
    "duplicates",
    "messages_valid",
    "null_values",
    *(f"q_{reason.value}" for reason in BRONZE_MESSAGE_REASONS),
    f"q_{Reason.UNKNOWN_DEVICE.value}",
    f"q_{Reason.UNKNOWN_CHANNEL.value}",
)


def accounting(settings: Settings, interval: Interval) -> dict[str, int]:
    """Where every landed sensor record of the interval's arrival hours went."""
    return _account(settings, interval, "lake/accounting", KEYS)


def _account(settings: Settings, interval: Interval, sql_name: str, keys: tuple[str, ...]) -> dict[str, int]:
    """Run an accounting query over the arrival hours the interval owns; its counts in `keys` order."""
    hours = owned_hours(interval)
    con = connect(settings)
    try:
        result = execute(
            con,
            load_sql(settings.sql_dir, sql_name),
            {"interval_start": hours.start, "interval_end": hours.end},
        )
    finally:
        con.close()
    row = dict(zip(result.columns, result.rows[0], strict=True))
    return {key: int(row[key]) for key in keys}


def imbalance(counts: dict[str, Any]) -> int:
    """records minus everything they went to; 0 when the accounting balances."""
    gone = counts["messages_valid"] + counts["duplicates"]
    gone += sum(counts.get(f"q_{reason.value}", 0) for reason in MESSAGE_LEVEL_REASONS)
    return int(counts["records"]) - int(gone)


#: the work-order accounting (sql/lake/workorder_accounting.sql), in print order
WORKORDER_KEYS = (
    "objects",
    "corrupt_objects",
    "records",
    "duplicates",
    "events_valid",
    "q_malformed_event",
    "q_unknown_event_type",
    "q_unknown_order",
    "q_invalid_transition",
)


def workorder_accounting(settings: Settings, interval: Interval) -> dict[str, int]:
    """Where every landed work-order record of the interval's arrival hours went."""
    return _account(settings, interval, "lake/workorder_accounting", WORKORDER_KEYS)


def workorder_imbalance(counts: dict[str, Any]) -> int:
    """records minus everything they went to; 0 when the work-order accounting balances."""
    gone = sum(int(counts[k]) for k in WORKORDER_KEYS[3:])
    return int(counts["records"]) - gone
