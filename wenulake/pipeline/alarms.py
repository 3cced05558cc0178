"""The alarms module: rules over silver readings, alarms with a lifecycle, an outbox of notifications.

`detect(...)` (task `detect_alarms` of the `alarms` DAG, scheduled by the silver.reading asset):
1. scope: the sensors whose periods the silver runs not yet evaluated touched (ops.alarm_coverage), their
   devices, and their readings from LOOKBACK hours before the earliest touched hour on;
2. rules (sql/alarms/*.sql, parameters from settings): threshold, flatline, gap, anomaly, counter_reset, each
   giving episodes (rule, sensor or device, started_at, ended_at, peak_value);
3. lifecycle against gold.fact_alarm: `alarm_id` = hash(rule, sensor or device, started_at), so an episode
   spanning several runs is one alarm and a rerun changes nothing; an episode cut by the scope's start
   continues the alarm that was open there; an alarm of the scope no rule finds any more is `retracted` (kept);
4. outbox: one ops.notification_outbox row per transition (opened, closed, retracted), id = hash(alarm,
   transition), so a transition is queued once whatever reruns happen.
`deliver(...)` (task `deliver_notifications`): each undelivered row, once, to the SNS topic
`WENULAKE_ALARM_TOPIC_ARN` or to the JSON-lines file `$WENULAKE_HOME/notifications.jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wenulake.contracts.tables import (
    ALARM_COVERAGE,
    FACT_ALARM,
    LEGACY_RUN_PREFIX,
    NOTIFICATION_OUTBOX,
    TS,
)
from wenulake.lake import Lake
from wenulake.lakefiles import sql_list
from wenulake.query import connect, query_arrow, run_local
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.timeutil import Interval
from wenulake.transforms.windows import trailing_median_mad

RULES = ("threshold", "flatline", "gap", "anomaly", "counter_reset")
#: readings before the earliest touched hour that the rules see (flatline and anomaly windows, open episodes)
LOOKBACK = timedelta(hours=6)
#: notifications sent between two outbox commits
RECORD_EVERY = 200
#: the live scope's readings have no end
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def rule_params(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "threshold": {},
        "flatline": {"flatline_minutes": settings.alarm_flatline_minutes},
        "gap": {"gap_minutes": settings.alarm_gap_minutes},
        "anomaly": {
            "anomaly_window": settings.alarm_anomaly_window,
            "anomaly_min_points": max(10, settings.alarm_anomaly_window // 2),
            "anomaly_z": settings.alarm_anomaly_z,
        },
        "counter_reset": {},
    }


def episodes(settings: Settings, readings: pa.Table, thresholds: pa.Table) -> pa.Table:
    """Every rule's episodes over `readings` (pure: Arrow in, Arrow out)."""
    params = rule_params(settings)
    bounded = run_local(
        {"readings": readings, "thresholds": thresholds}, load_sql(settings.sql_dir, "alarms/bounds")
    )
    parts = [
        anomaly(settings, bounded, params[rule])
        if rule == "anomaly"
        else run_local({"readings": bounded}, load_sql(settings.sql_dir, f"alarms/{rule}"), params[rule])
        for rule in RULES
    ]
    return run_local(
        {f"p{i}": part for i, part in enumerate(parts)},
        " union all ".join(
            f"select rule, severity, sensor_id, device_id, site_id, company_id, started_at, ended_at, "
            f"cast(peak_value as double) as peak_value from p{i}"
            for i in range(len(parts))
        ),
    )


def anomaly(
    settings: Settings, bounded: pa.Table, params: dict[str, Any], sql_windows: bool = False
) -> pa.Table:
    """The anomaly rule's episodes over `bounded` readings (bounds.sql): the readings that score
    (anomaly_moving.sql), their trailing windows' median, MAD and size (wenulake.transforms.windows, or with
    `sql_windows` the SQL that defines them, anomaly_windows.sql), then the flagged runs (anomaly.sql)."""
    moving = run_local({"readings": bounded}, load_sql(settings.sql_dir, "alarms/anomaly_moving"))
    if sql_windows:
        scored = run_local(
            {"moving": moving},
            load_sql(settings.sql_dir, "alarms/anomaly_windows"),
            {"anomaly_window": params["anomaly_window"]},
        )
    else:
        series = pc.dictionary_encode(moving["sensor_id"]).combine_chunks().indices.to_numpy()
        ts = moving["ts"].cast(TS).cast(pa.int64()).to_numpy()
        center, spread, points = trailing_median_mad(
            series, ts, moving["value"].to_numpy(), params["anomaly_window"] * 60_000_000
        )
        scored = moving.append_column("center", pa.array(center, from_pandas=True))
        scored = scored.append_column("spread", pa.array(spread, from_pandas=True))
        scored = scored.append_column("points", pa.array(points))
    return run_local(
        {"scored": scored, "readings": bounded},
        load_sql(settings.sql_dir, "alarms/anomaly"),
        {k: params[k] for k in ("anomaly_min_points", "anomaly_z")},
    )


def detect(settings: Settings, run_id: str, historical_window: Interval | None = None) -> dict[str, Any]:
    """Task `detect_alarms`: the silver runs not evaluated yet (never the historical migration's).

    With `historical_window` (the historical migration's month), only run `run_id`'s own periods, readings up
    to LOOKBACK after the window, and alarms marked historical: never notified, and never changing an alarm
    of live data."""
    from wenulake.pipeline.gold import dimensions

    started = time.perf_counter()
    lake = Lake(settings)
    lake.ensure()
    covered = lake.read(ALARM_COVERAGE, columns=["source_run_id"])["source_run_id"].to_pylist()
    window_end = historical_window.end + LOOKBACK if historical_window else FAR_FUTURE
    con = connect(settings)
    try:
        if historical_window:
            runs = [run_id]
        else:
            pending = query_arrow(
                con, load_sql(settings.sql_dir, "lake/pending_runs"), {"covered": sorted(set(covered))}
            )
            runs = [r for r in pending["run_id"].to_pylist() if not r.startswith(LEGACY_RUN_PREFIX)]
        if not runs:
            return {
                "runs": 0,
                "alarms": 0,
                "transitions": 0,
                "seconds": round(time.perf_counter() - started, 3),
            }
        scope = query_arrow(con, load_sql(settings.sql_dir, "alarms/scope"), {"runs": runs})
        window_start = scope["first_hour"][0].as_py() - LOOKBACK
        con.register("scope", scope)
        readings = query_arrow(
            con,
            load_sql(settings.sql_dir, "alarms/readings"),
            {"window_start": window_start, "window_end": window_end},
        )
    finally:
        con.close()
    found = episodes(settings, readings, dimensions(settings)["dim_threshold"])
    if historical_window:
        found = found.filter(pc.less(found["started_at"], pa.scalar(historical_window.end, TS)))
    changes = reconcile(
        lake,
        found,
        readings,
        window_start,
        run_id,
        historical_end=historical_window.end if historical_window else None,
    )
    now = datetime.now(UTC)
    lake.append(
        ALARM_COVERAGE,
        pa.table({"source_run_id": runs, "alarm_run": [run_id] * len(runs), "covered_at": [now] * len(runs)}),
    )
    return {
        "runs": len(runs),
        "readings": readings.num_rows,
        "episodes": found.num_rows,
        **changes,
        "seconds": round(time.perf_counter() - started, 3),
    }


def reconcile(
    lake: Lake,
    found: pa.Table,
    readings: pa.Table,
    window_start: datetime,
    run_id: str,
    historical_end: datetime | None = None,
) -> dict[str, int]:
    """Bring gold.fact_alarm in line with the episodes found in the scope; queue one notification per
    transition of a live alarm. A historical run (`historical_end`: its window's end) touches only historical
    alarms and queues nothing."""
    historical = historical_end is not None
    existing = lake.read(FACT_ALARM)
    firsts = run_local(
        {"readings": readings},
        "select sensor_id, device_id, min(ts) as first_ts from readings group by all",
    )
    scope_sensors = set(firsts["sensor_id"].to_pylist())
    scope_devices = set(firsts["device_id"].to_pylist())
    first_of_sensor = dict(zip(firsts["sensor_id"].to_pylist(), firsts["first_ts"].to_pylist(), strict=True))
    first_of_device: dict[str, datetime] = {}
    for device, first in zip(firsts["device_id"].to_pylist(), firsts["first_ts"].to_pylist(), strict=True):
        first_of_device[device] = min(first, first_of_device.get(device, first))

    def key(row: dict[str, Any]) -> str:
        return row["device_id"] if row["rule"] == "gap" else row["sensor_id"]

    def in_scope(row: dict[str, Any]) -> bool:
        return (
            row["device_id"] in scope_devices if row["rule"] == "gap" else row["sensor_id"] in scope_sensors
        )

    current = {row["alarm_id"]: row for row in existing.to_pylist()}
    live = [r for r in current.values() if r["status"] != "retracted" and in_scope(r)]
    if historical_end is not None:
        live = [r for r in live if r.get("historical") and r["started_at"] < historical_end]
    # alarms still running at the scope's start: a found episode starting at the scope's first reading
    # continues them
    carried = {
        (r["rule"], key(r)): r
        for r in live
        if r["started_at"] < window_start and (r["ended_at"] is None or r["ended_at"] >= window_start)
    }
    seen: set[str] = set()
    changed: list[dict[str, Any]] = []
    outbox: list[tuple[str, str, dict[str, Any]]] = []
    for episode in found.to_pylist():
        first = (
            first_of_device.get(episode["device_id"])
            if episode["rule"] == "gap"
            else first_of_sensor.get(episode["sensor_id"])
        )
        previous = carried.get((episode["rule"], key(episode))) if episode["started_at"] == first else None
        started_at = previous["started_at"] if previous else episode["started_at"]
        alarm_id = _hash(episode["rule"], key(episode), started_at.isoformat())
        seen.add(alarm_id)
        old = current.get(alarm_id)
        if historical and old is not None and not old.get("historical"):
            continue  # an alarm of live data: the live pipeline owns it
        status = "open" if episode["ended_at"] is None else "closed"
        row = {
            **episode,
            "alarm_id": alarm_id,
            "started_at": started_at,
            "status": status,
            "opened_run": old["opened_run"] if old else run_id,
            "closed_run": (old["closed_run"] if old and old["closed_run"] else run_id)
            if status == "closed"
            else None,
            "updated_run": run_id,
            "historical": bool(old.get("historical")) if old else historical,
        }
        if old is None or old["status"] == "retracted":
            outbox.append((alarm_id, "opened", row))
            if status == "closed":
                outbox.append((alarm_id, "closed", row))
        elif old["status"] == "open" and status == "closed":
            outbox.append((alarm_id, "closed", row))
        if old is None or any(
            old.get(c) != row[c] for c in ("status", "ended_at", "peak_value", "severity", "historical")
        ):
            changed.append(row)
    for alarm in live:
        if alarm["alarm_id"] in seen or alarm["started_at"] < window_start:
            continue
        row = {**alarm, "status": "retracted", "updated_run": run_id}
        changed.append(row)
        outbox.append((alarm["alarm_id"], "retracted", row))
    if changed:
        ids = sql_list(r["alarm_id"] for r in changed)
        lake.replace(
            FACT_ALARM, pa.Table.from_pylist(changed, schema=FACT_ALARM.schema), f"alarm_id in ({ids})"
        )
    queued = _queue(lake, [item for item in outbox if not item[2].get("historical")], run_id)
    return {
        "alarms_changed": len(changed),
        "transitions": queued,
        "open": sum(1 for r in changed if r["status"] == "open"),
    }


def load_warehouse(settings: Settings, run_id: str) -> dict[str, Any]:
    """Task `load_alarms`: gold.fact_alarm, whole, into the warehouse's fact_alarm (stage file -> COPY ->
    one transaction), visible to analysts at once."""
    from wenulake.pipeline.gold import stage_dir, write_stage
    from wenulake.storage import remove_tree
    from wenulake.warehouse import COLUMNS, backend

    started = time.perf_counter()
    lake = Lake(settings)
    lake.ensure()
    rows = lake.read(FACT_ALARM).select(list(COLUMNS["fact_alarm"]))
    location = write_stage(settings, "fact_alarm", run_id, "rows", rows)
    result = backend(settings).replace_table("fact_alarm", location, run_id)
    remove_tree(stage_dir(settings, "fact_alarm", run_id), settings)
    return {
        "deleted": result.rows_deleted,
        "inserted": result.rows_inserted,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _payload(transition: str, row: dict[str, Any]) -> str:
    fields = ("alarm_id", "rule", "severity", "sensor_id", "device_id", "site_id", "company_id", "started_at",
              "ended_at", "peak_value", "status")  # fmt: skip
    body: dict[str, Any] = {"transition": transition}
    for name in fields:
        value = row.get(name)
        body[name] = (
            value.astimezone(UTC).isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
        )
    return json.dumps(body, sort_keys=True)


def _queue(lake: Lake, outbox: list[tuple[str, str, dict[str, Any]]], run_id: str) -> int:
    """Append the transitions whose notification is not queued yet (one per alarm and transition)."""
    if not outbox:
        return 0
    queued = set(lake.read(NOTIFICATION_OUTBOX, columns=["notification_id"])["notification_id"].to_pylist())
    now = datetime.now(UTC)
    rows = []
    for alarm_id, transition, row in outbox:
        notification_id = _hash(alarm_id, transition)
        if notification_id in queued:
            continue
        queued.add(notification_id)
        rows.append(
            {
                "notification_id": notification_id,
                "alarm_id": alarm_id,
                "transition": transition,
                "payload": _payload(transition, row),
                "created_run": run_id,
                "created_at": now,
                "delivered_at": None,
                "delivery_id": None,
            }
        )
    if rows:
        lake.append(NOTIFICATION_OUTBOX, pa.Table.from_pylist(rows, schema=NOTIFICATION_OUTBOX.schema))
    return len(rows)


def deliver(settings: Settings, run_id: str) -> dict[str, Any]:
    """Task `deliver_notifications`: every undelivered outbox row, in creation order, once. Deliveries are
    recorded in one outbox commit per RECORD_EVERY sends and, whatever happens, for every send that
    succeeded before a failure (an SNS outage): the retry sends only the rest. (Only a crash of the process
    between a send and its record could repeat that send; messages carry `notification_id` to dedupe on.)"""
    import pyarrow.compute as pc

    lake = Lake(settings)
    lake.ensure()
    outbox = lake.read(NOTIFICATION_OUTBOX)
    pending = outbox.filter(pc.is_null(outbox["delivered_at"])).sort_by(
        [("created_at", "ascending"), ("notification_id", "ascending")]
    )
    if pending.num_rows == 0:
        return {"delivered": 0, "target": _target(settings)}
    send = _sender(settings)
    sent: list[dict[str, Any]] = []
    delivered = 0

    def record() -> None:
        nonlocal sent, delivered
        if sent:
            ids = sql_list(row["notification_id"] for row in sent)
            lake.replace(
                NOTIFICATION_OUTBOX,
                pa.Table.from_pylist(sent, schema=NOTIFICATION_OUTBOX.schema),
                f"notification_id in ({ids})",
            )
            delivered += len(sent)
            sent = []

    try:
        for row in pending.to_pylist():
            row["delivery_id"] = send(row)
            row["delivered_at"] = datetime.now(UTC)
            sent.append(row)
            if len(sent) >= RECORD_EVERY:
                record()
    finally:
        record()
    return {"delivered": delivered, "target": _target(settings)}


def _target(settings: Settings) -> str:
    return settings.alarm_topic_arn or str(settings.notifications_file_path)


def _sender(settings: Settings) -> Any:
    if settings.alarm_topic_arn:
        import boto3

        from wenulake.storage import aws_config

        client = boto3.client(
            "sns",
            region_name=settings.s3_region,
            endpoint_url=settings.sns_endpoint_url,
            config=aws_config(settings),
        )

        def publish(row: dict[str, Any]) -> str:
            body = json.loads(row["payload"])
            response = client.publish(
                TopicArn=settings.alarm_topic_arn,
                Message=row["payload"],
                Subject=f"wenulake alarm {row['transition']}: {body['rule']}"[:100],
                MessageAttributes={
                    "notification_id": {"DataType": "String", "StringValue": row["notification_id"]},
                    "transition": {"DataType": "String", "StringValue": row["transition"]},
                    "severity": {"DataType": "String", "StringValue": str(body.get("severity"))},
                },
            )
            return str(response["MessageId"])

        return publish
    path = settings.notifications_file_path
    path.parent.mkdir(parents=True, exist_ok=True)

    def append(row: dict[str, Any]) -> str:
        with open(path, "a") as fh:
            fh.write(
                json.dumps({"notification_id": row["notification_id"], **json.loads(row["payload"])}) + "\n"
            )
        return row["notification_id"]

    return append
