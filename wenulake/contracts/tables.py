"""Lake tables of contract v1: name, Arrow schema, partitioning, and what a rerun replaces.

Timestamps are `timestamp[us, tz=UTC]` so that delta-rs, Spark and DuckDB agree (never `timestamp_ntz`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

#: Readings of one message: channel -> raw number (null readings kept as null here; silver counts them).
READINGS = pa.map_(pa.string(), pa.float64())


def utc_date_of_ts(table: pa.Table) -> pa.Array:
    """The UTC date of `ts` as text (`YYYY-MM-DD`): silver's partition column."""
    import pyarrow.compute as pc  # here, not at import: readers of the contracts compute nothing

    return pc.cast(pc.cast(table["ts"], pa.date32()), pa.string())


@dataclass(frozen=True)
class TableSpec:
    name: str  # schema-qualified, e.g. "bronze.sensor_message"
    schema: pa.Schema
    partition_by: tuple[str, ...] = ()
    #: columns computed from the others when a writer does not give them (a partition column of the layout)
    derived: tuple[tuple[str, Callable[[pa.Table], pa.Array]], ...] = ()
    #: Columns that describe a run rather than the data (run id, wall-clock times). Two runs over the same
    #: landing give identical tables except in these columns.
    run_columns: tuple[str, ...] = ()
    description: str = ""

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[1]

    def location(self, lake_root: str) -> str:
        """The table's folder under the lake's root (a local path or an s3:// URL): `<root>/<layer>/<name>`."""
        return f"{lake_root.rstrip('/')}/{self.layer}/{self.short_name}"

    @property
    def data_columns(self) -> list[str]:
        return [n for n in self.schema.names if n not in self.run_columns]


SENSOR_MESSAGE = TableSpec(
    name="bronze.sensor_message",
    description="One row per accepted copy of a landed message (decrypted, timestamp-checked); "
    "duplicates are resolved downstream by (device_id, message_id), earliest received_at first.",
    schema=pa.schema(
        [
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("message_id", pa.string(), nullable=False),
            pa.field("key_id", pa.string(), nullable=False),
            pa.field("received_at", TS, nullable=False),
            pa.field("ts", TS, nullable=False),
            pa.field("seq", pa.int64(), nullable=False),
            pa.field("readings", READINGS),
            pa.field("object_key", pa.string(), nullable=False),
            pa.field("record_index", pa.int64(), nullable=False),
            pa.field("arrival_hour", TS, nullable=False),
            pa.field("arrival_date", pa.string(), nullable=False),
            pa.field("run_id", pa.string()),
        ]
    ),
    partition_by=("arrival_date",),
    run_columns=("run_id",),
)

QUARANTINE = TableSpec(
    name="ops.quarantine",
    description="Every record (or object, or reading) that could not be accepted, with its reason and the raw "
    "text needed to replay it.",
    schema=pa.schema(
        [
            pa.field("reason", pa.string(), nullable=False),
            pa.field("stage", pa.string(), nullable=False),
            pa.field("object_key", pa.string(), nullable=False),
            pa.field("record_index", pa.int64()),
            pa.field("device_id", pa.string()),
            pa.field("message_id", pa.string()),
            pa.field("channel", pa.string()),
            pa.field("raw", pa.string()),
            pa.field("detail", pa.string()),
            pa.field("arrival_hour", TS, nullable=False),
            pa.field("arrival_date", pa.string(), nullable=False),
            pa.field("run_id", pa.string()),
            pa.field("quarantined_at", TS),
            pa.field("ts", TS),
            pa.field("resolved_at", TS),
            pa.field("resolved_by_run", pa.string()),
            pa.field("order_id", pa.string()),  # work-order events
        ]
    ),
    partition_by=("arrival_date",),
    run_columns=("run_id", "quarantined_at", "resolved_at", "resolved_by_run"),
)

INGEST_LEDGER = TableSpec(
    name="ops.ingest_ledger",
    description="One row per landing object: where it came from and how many record pieces it held.",
    schema=pa.schema(
        [
            pa.field("object_key", pa.string(), nullable=False),
            pa.field("size", pa.int64(), nullable=False),
            pa.field("etag", pa.string()),
            pa.field("last_modified", TS),
            pa.field("records", pa.int64(), nullable=False),
            pa.field("accepted", pa.int64(), nullable=False),
            pa.field("quarantined", pa.int64(), nullable=False),
            pa.field("status", pa.string(), nullable=False),  # ingested | corrupt
            pa.field("arrival_hour", TS, nullable=False),
            pa.field("run_id", pa.string()),
            pa.field("ingested_at", TS),
        ]
    ),
    run_columns=("run_id", "ingested_at"),
)

DQ_RESULT = TableSpec(
    name="ops.dq_result",
    description="Every quality-gate evaluation, passed or failed, with the full Great Expectations result.",
    schema=pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("stage", pa.string(), nullable=False),
            pa.field("suite", pa.string(), nullable=False),
            pa.field("table_name", pa.string(), nullable=False),
            pa.field("interval_start", TS),
            pa.field("interval_end", TS),
            pa.field("rows", pa.int64(), nullable=False),
            pa.field("success", pa.bool_(), nullable=False),
            pa.field("evaluated", pa.int64(), nullable=False),
            pa.field("failed", pa.int64(), nullable=False),
            pa.field("failed_expectations", pa.string()),
            pa.field("result_json", pa.string()),
            pa.field("validated_at", TS, nullable=False),
        ]
    ),
    run_columns=("run_id", "validated_at", "result_json"),
)

SILVER_READING = TableSpec(
    name="silver.reading",
    description="One row per sensor and timestamp: canonical units, calibrated, attributed to the sensor valid at "
    "ts, with the site's local date. Merged on (sensor_id, ts); the earliest received copy wins.",
    schema=pa.schema(
        [
            pa.field("sensor_id", pa.string(), nullable=False),
            pa.field("ts", TS, nullable=False),
            pa.field("local_date", pa.date32(), nullable=False),
            pa.field("value", pa.float64(), nullable=False),
            pa.field("raw_value", pa.float64(), nullable=False),
            pa.field("raw_unit", pa.string(), nullable=False),
            pa.field("unit", pa.string(), nullable=False),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("channel", pa.string(), nullable=False),
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("site_id", pa.string(), nullable=False),
            pa.field("company_id", pa.string(), nullable=False),
            pa.field("timezone", pa.string(), nullable=False),
            pa.field("message_id", pa.string(), nullable=False),
            pa.field("received_at", TS, nullable=False),
            pa.field("object_key", pa.string(), nullable=False),
            pa.field("record_index", pa.int64(), nullable=False),
            pa.field("arrival_hour", TS, nullable=False),
            pa.field("run_id", pa.string()),
            # `live` (the landing) or `legacy` (the historical migration); null in rows older than the column
            pa.field("source", pa.string()),
            # the UTC date of ts: the partition column (an hour's merge rewrites the files of the days it
            # touches, never the whole table); derived from ts when a writer leaves it out
            pa.field("ts_date", pa.string(), nullable=False),
        ]
    ),
    partition_by=("ts_date",),
    derived=(("ts_date", utc_date_of_ts),),
    run_columns=("run_id",),
)

TOUCHED_PERIOD = TableSpec(
    name="ops.touched_period",
    description="Per run, the (sensor, local date, UTC hour) periods whose silver readings it may have changed; "
    "stats, warehouse and alarms recompute exactly these.",
    schema=pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("stage", pa.string(), nullable=False),
            pa.field("sensor_id", pa.string(), nullable=False),
            pa.field("local_date", pa.date32(), nullable=False),
            pa.field("hour_utc", TS, nullable=False),
            pa.field("recorded_at", TS),
            # the sensor's company and kind when the period was touched: a period whose sensor has no reading
            # left in silver is still recomputed (its stats rows deleted) from these
            pa.field("company_id", pa.string()),
            pa.field("kind", pa.string()),
        ]
    ),
    run_columns=("recorded_at",),
)

FACT_ALARM = TableSpec(
    name="gold.fact_alarm",
    description="One row per alarm episode, with a stable alarm_id (rule, sensor or device, start): an episode "
    "spanning several runs is one alarm; status open, closed or retracted (late data removed its evidence).",
    schema=pa.schema(
        [
            pa.field("alarm_id", pa.string(), nullable=False),
            pa.field("rule", pa.string(), nullable=False),
            pa.field("severity", pa.string(), nullable=False),
            pa.field("sensor_id", pa.string()),
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("site_id", pa.string(), nullable=False),
            pa.field("company_id", pa.string(), nullable=False),
            pa.field("started_at", TS, nullable=False),
            pa.field("ended_at", TS),
            pa.field("peak_value", pa.float64()),
            pa.field("status", pa.string(), nullable=False),
            pa.field("opened_run", pa.string(), nullable=False),
            pa.field("closed_run", pa.string()),
            pa.field("updated_run", pa.string(), nullable=False),
            # found by the historical migration over legacy readings: never notified
            pa.field("historical", pa.bool_()),
        ]
    ),
    run_columns=("opened_run", "closed_run", "updated_run"),
)

NOTIFICATION_OUTBOX = TableSpec(
    name="ops.notification_outbox",
    description="One row per alarm transition (opened, closed, retracted), delivered exactly once by "
    "deliver_notifications (SNS topic or JSON-lines file).",
    schema=pa.schema(
        [
            pa.field("notification_id", pa.string(), nullable=False),
            pa.field("alarm_id", pa.string(), nullable=False),
            pa.field("transition", pa.string(), nullable=False),
            pa.field("payload", pa.string(), nullable=False),
            pa.field("created_run", pa.string(), nullable=False),
            pa.field("created_at", TS, nullable=False),
            pa.field("delivered_at", TS),
            pa.field("delivery_id", pa.string()),
        ]
    ),
    run_columns=("created_run", "created_at", "delivered_at", "delivery_id"),
)

ALARM_COVERAGE = TableSpec(
    name="ops.alarm_coverage",
    description="The silver runs whose touched periods the alarms module has evaluated (the next alarms run "
    "takes the others).",
    schema=pa.schema(
        [
            pa.field("source_run_id", pa.string(), nullable=False),
            pa.field("alarm_run", pa.string(), nullable=False),
            pa.field("covered_at", TS, nullable=False),
        ]
    ),
    run_columns=("alarm_run", "covered_at"),
)

DEVICE_CADENCE = TableSpec(
    name="ops.device_cadence",
    description="Each device's reporting cadence as the gap rule last used it (at the device's last message "
    "evaluated): the catalog's report_interval_s, else the median inter-arrival learned over "
    "WENULAKE_ALARM_CADENCE_DAYS (sql/alarms/cadence.sql); replaced per device by every alarms run.",
    schema=pa.schema(
        [
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("report_interval_s", pa.float64(), nullable=False),
            pa.field("source", pa.string(), nullable=False),  # catalog | learned
            pa.field("intervals", pa.int64(), nullable=False),
            pa.field("as_of", TS, nullable=False),
            pa.field("alarm_run", pa.string(), nullable=False),
            pa.field("learned_at", TS, nullable=False),
        ]
    ),
    run_columns=("alarm_run", "learned_at"),
)

MIGRATION_LEDGER = TableSpec(
    name="ops.migration_ledger",
    description="One row per legacy month the historical migration processed: status and the month's accounting "
    "(rows = malformed_row + unknown_device + implausible_timestamp + accepted_rows; values = unknown_channel + "
    "duplicates + live_wins + readings).",
    schema=pa.schema(
        [
            pa.field("month", pa.string(), nullable=False),  # YYYY-MM
            pa.field("status", pa.string(), nullable=False),  # done | failed
            pa.field("source", pa.string(), nullable=False),
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("files", pa.int64(), nullable=False),
            pa.field("unreadable_files", pa.int64(), nullable=False),
            pa.field("skipped_files", pa.int64(), nullable=False),
            pa.field("rows", pa.int64(), nullable=False),
            pa.field("blank_lines", pa.int64(), nullable=False),
            pa.field("malformed_row", pa.int64(), nullable=False),
            pa.field("unknown_device", pa.int64(), nullable=False),
            pa.field("implausible_timestamp", pa.int64(), nullable=False),
            pa.field("accepted_rows", pa.int64(), nullable=False),
            pa.field("null_values", pa.int64(), nullable=False),
            pa.field("values", pa.int64(), nullable=False),
            pa.field("unknown_channel", pa.int64(), nullable=False),
            pa.field("duplicates", pa.int64(), nullable=False),
            pa.field("live_wins", pa.int64(), nullable=False),
            pa.field("readings", pa.int64(), nullable=False),
            pa.field("dst_ambiguous", pa.int64(), nullable=False),
            pa.field("dst_nonexistent", pa.int64(), nullable=False),
            pa.field("error", pa.string()),
            pa.field("started_at", TS, nullable=False),
            pa.field("finished_at", TS, nullable=False),
            pa.field("seconds", pa.float64(), nullable=False),
        ]
    ),
    run_columns=("started_at", "finished_at", "seconds"),
)

#: run ids of the historical migration (one per month: `migrate__YYYY-MM`); live consumers skip their alarms
LEGACY_RUN_PREFIX = "migrate__"


class Source:
    LIVE = "live"
    LEGACY = "legacy"


# -- work orders (contract v1: docs/contracts.md, "Work orders") ------------------------------------------------
MATERIALS = pa.list_(pa.struct([("material_id", pa.string()), ("quantity", pa.float64())]))
EVIDENCE = pa.list_(pa.struct([("uri", pa.string()), ("sha256", pa.string())]))

WORK_ORDER_EVENT_FIELDS = [
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("event_type", pa.string(), nullable=False),
    pa.field("schema_version", pa.string(), nullable=False),
    pa.field("occurred_at", TS, nullable=False),
    pa.field("order_id", pa.string(), nullable=False),
    pa.field("client_id", pa.string()),
    pa.field("site_id", pa.string()),
    pa.field("device_id", pa.string()),
    pa.field("alarm_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("priority", pa.string()),
    pa.field("sla_hours", pa.float64()),
    pa.field("description", pa.string()),
    pa.field("technician_id", pa.string()),
    pa.field("lat", pa.float64()),
    pa.field("lon", pa.float64()),
    pa.field("resolution", pa.string()),
    pa.field("materials", MATERIALS),
    pa.field("evidence", EVIDENCE),
    pa.field("cancel_reason", pa.string()),
    pa.field("delivery", pa.string(), nullable=False),  # envelope | raw
    pa.field("sns_message_id", pa.string()),
    pa.field("topic_arn", pa.string()),
    pa.field("sns_timestamp", TS),
    pa.field("message_attributes", pa.string()),  # the envelope's MessageAttributes, as JSON
    pa.field("object_key", pa.string(), nullable=False),
    pa.field("record_index", pa.int64(), nullable=False),
    pa.field("arrival_hour", TS, nullable=False),
]

WORK_ORDER_EVENT_COPY = TableSpec(
    name="bronze.work_order_event",
    description="One row per landed copy of a well-formed work-order event (SNS envelope or raw delivery); "
    "duplicates (same event_id) are resolved into silver.work_order_event, the earliest landed copy first.",
    schema=pa.schema(
        [
            *WORK_ORDER_EVENT_FIELDS,
            pa.field("arrival_date", pa.string(), nullable=False),
            pa.field("run_id", pa.string()),
        ]
    ),
    partition_by=("arrival_date",),
    run_columns=("run_id",),
)

WORK_ORDER_EVENT = TableSpec(
    name="silver.work_order_event",
    description="One row per distinct work-order event (the earliest landed copy of its event_id), with what "
    "the order lifecycle made of it: applied, unknown_order (waiting for its order.created) or "
    "invalid_transition.",
    schema=pa.schema(
        [
            *WORK_ORDER_EVENT_FIELDS,
            pa.field("status", pa.string(), nullable=False),
            pa.field("sequence", pa.int64()),  # position among the order's applied events (occurred_at order)
            pa.field("run_id", pa.string()),
        ]
    ),
    run_columns=("run_id",),
)

WORK_ORDER = TableSpec(
    name="gold.work_order",
    description="One row per work order (an accumulating snapshot rebuilt from all its events in occurred_at "
    "order): status, milestone times, technician, SLA, time to assign and to repair, materials, evidence.",
    schema=pa.schema(
        [
            pa.field("order_id", pa.string(), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("client_id", pa.string(), nullable=False),
            pa.field("site_id", pa.string(), nullable=False),
            pa.field("device_id", pa.string()),
            pa.field("alarm_id", pa.string()),
            pa.field("source", pa.string(), nullable=False),
            pa.field("priority", pa.string(), nullable=False),
            pa.field("description", pa.string()),
            pa.field("sla_hours", pa.float64(), nullable=False),
            pa.field("created_at", TS, nullable=False),
            pa.field("assigned_at", TS),
            pa.field("started_at", TS),
            pa.field("completed_at", TS),
            pa.field("cancelled_at", TS),
            pa.field("cancel_reason", pa.string()),
            pa.field("technician_id", pa.string()),
            pa.field("resolution", pa.string()),
            pa.field("sla_due_at", TS, nullable=False),
            pa.field("sla_met", pa.bool_()),
            pa.field("time_to_assign", pa.float64()),  # seconds from created to first assignment
            pa.field("time_to_repair", pa.float64()),  # seconds from created to completed
            pa.field("materials", pa.string()),  # JSON [{"material_id", "quantity"}], summed per material
            pa.field("material_quantity", pa.float64()),
            pa.field("evidence_count", pa.int64(), nullable=False),
            pa.field("events", pa.int64(), nullable=False),
            pa.field("last_event_at", TS, nullable=False),
            pa.field("run_id", pa.string()),
        ]
    ),
    run_columns=("run_id",),
)

WORK_ORDER_LEDGER = TableSpec(
    name="ops.workorder_ledger",
    description="One row per work-order landing object: where it came from and how many record pieces it held.",
    schema=INGEST_LEDGER.schema,
    run_columns=INGEST_LEDGER.run_columns,
)

TOUCHED_ORDER = TableSpec(
    name="ops.touched_order",
    description="Per run, the orders whose events it may have changed; build_work_orders rebuilds exactly these.",
    schema=pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("order_id", pa.string(), nullable=False),
            pa.field("recorded_at", TS, nullable=False),
        ]
    ),
    run_columns=("run_id", "recorded_at"),
)

WORK_ORDER_REQUEST = TableSpec(
    name="ops.work_order_request",
    description="One row per alarm that opens a work order: the order.created event it publishes, exactly once "
    "(to WENULAKE_WORKORDER_TOPIC_ARN, or straight into the landing).",
    schema=pa.schema(
        [
            pa.field("alarm_id", pa.string(), nullable=False),
            pa.field("order_id", pa.string(), nullable=False),
            pa.field("event_id", pa.string(), nullable=False),
            pa.field("payload", pa.string(), nullable=False),
            pa.field("created_run", pa.string(), nullable=False),
            pa.field("created_at", TS, nullable=False),
            pa.field("published_at", TS),
            pa.field("delivery_id", pa.string()),
        ]
    ),
    run_columns=("created_run", "created_at", "published_at", "delivery_id"),
)


RUN_METRIC = TableSpec(
    name="ops.run_metric",
    description="One row per task try (recorded by the task wrapper): rows in and out, bytes read and written, "
    "seconds and peak memory of the task's process; wenulake status and `wenulake run` read it.",
    schema=pa.schema(
        [
            pa.field("dag_id", pa.string(), nullable=False),
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("task_id", pa.string(), nullable=False),
            pa.field("try_number", pa.int64()),
            pa.field("state", pa.string(), nullable=False),  # success | failed
            pa.field("interval_start", TS),
            pa.field("interval_end", TS),
            pa.field("started_at", TS, nullable=False),
            pa.field("finished_at", TS, nullable=False),
            pa.field("seconds", pa.float64(), nullable=False),
            pa.field("rows_in", pa.int64()),
            pa.field("rows_out", pa.int64()),
            pa.field("bytes_read", pa.int64()),
            pa.field("bytes_written", pa.int64()),
            pa.field("peak_memory_bytes", pa.int64()),
            pa.field("error", pa.string()),
        ]
    ),
    run_columns=(
        "run_id",
        "try_number",
        "started_at",
        "finished_at",
        "seconds",
        "bytes_read",
        "bytes_written",
        "peak_memory_bytes",
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        SENSOR_MESSAGE,
        QUARANTINE,
        INGEST_LEDGER,
        DQ_RESULT,
        SILVER_READING,
        TOUCHED_PERIOD,
        FACT_ALARM,
        NOTIFICATION_OUTBOX,
        ALARM_COVERAGE,
        DEVICE_CADENCE,
        MIGRATION_LEDGER,
        WORK_ORDER_EVENT_COPY,
        WORK_ORDER_EVENT,
        WORK_ORDER,
        WORK_ORDER_LEDGER,
        TOUCHED_ORDER,
        WORK_ORDER_REQUEST,
        RUN_METRIC,
    )
}


class LedgerStatus:
    INGESTED = "ingested"
    CORRUPT = "corrupt"
