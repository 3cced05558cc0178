"""Alarms open work orders: task `open_work_orders` of the alarms DAG.

Every alarm of gold.fact_alarm with severity WENULAKE_WORKORDER_ALARM_SEVERITY (default critical), not
retracted and not historical, gets one order.created event (source `alarm`, its `alarm_id`, priority urgent,
SLA WENULAKE_WORKORDER_ALARM_SLA_HOURS), queued once in ops.work_order_request and published once: to the SNS
topic WENULAKE_WORKORDER_TOPIC_ARN (from which Firehose delivers it to the landing, as any work-order event), or,
without a topic, written straight into the landing as one object under `workorders/<current hour>/` (raw
delivery). The order and event ids derive from the alarm id, so a publication repeated after a crash between
the send and its record is a duplicate the workorders pipeline counts, never a second order.

Only an alarm already announced (its `opened` notification queued, or `suppressed` by the notification rate
limit: it is settled either way, see wenulake.pipeline.alarms.transitions) opens an order, so hours processed out of order never dispatch an order
for an alarm a later hour retracts. When an alarm that opened an order is retracted after all (readings later
than WENULAKE_ALARM_SETTLE_HOURS, a catalog fix), its order gets one `order.cancelled` event with reason
`alarm_retracted`, queued and published the same way.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wenulake.contracts.tables import FACT_ALARM, WORK_ORDER_REQUEST
from wenulake.contracts.workorders import SCHEMA_VERSION, WORKORDERS_STREAM, EventType
from wenulake.lake import Lake
from wenulake.lakefiles import sql_list
from wenulake.landing import hour_prefix
from wenulake.settings import Settings
from wenulake.timeutil import floor_hour

#: the reason of the order.cancelled event of an order whose alarm was retracted
RETRACTED_REASON = "alarm_retracted"


def order_ids(alarm_id: str) -> tuple[str, str]:
    """(order_id, event_id) of the order an alarm opens: stable, so reruns never open a second one."""
    digest = hashlib.sha256(f"work-order:{alarm_id}".encode()).hexdigest()
    return f"WO-ALM-{digest[:16]}", str(uuid.UUID(digest[:32], version=4))


def cancel_event_id(alarm_id: str) -> str:
    """The event id of the order.cancelled an alarm's retraction publishes: stable, published once."""
    digest = hashlib.sha256(f"work-order-cancel:{alarm_id}".encode()).hexdigest()
    return str(uuid.UUID(digest[:32], version=4))


def _iso_ms(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def order_event(settings: Settings, alarm: dict[str, Any], now: datetime) -> dict[str, Any]:
    order_id, event_id = order_ids(alarm["alarm_id"])
    where = alarm["sensor_id"] or alarm["device_id"]
    peak = f", peak {alarm['peak_value']:g}" if alarm.get("peak_value") is not None else ""
    return {
        "event_id": event_id,
        "event_type": EventType.CREATED.value,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": _iso_ms(now),
        "order_id": order_id,
        "client_id": alarm["company_id"],
        "site_id": alarm["site_id"],
        "device_id": alarm["device_id"],
        "alarm_id": alarm["alarm_id"],
        "source": "alarm",
        "priority": "urgent",
        "sla_hours": settings.workorder_alarm_sla_hours,
        "description": f"{alarm['severity']} {alarm['rule']} alarm on {where} since "
        f"{_iso_ms(alarm['started_at'])}{peak}",
    }


def cancel_event(alarm: dict[str, Any], now: datetime) -> dict[str, Any]:
    order_id, _ = order_ids(alarm["alarm_id"])
    return {
        "event_id": cancel_event_id(alarm["alarm_id"]),
        "event_type": EventType.CANCELLED.value,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": _iso_ms(now),
        "order_id": order_id,
        "reason": RETRACTED_REASON,
    }


def order_requests(
    settings: Settings,
    alarms: list[dict[str, Any]],
    announced: set[str],
    known_events: set[str],
    now: datetime,
) -> list[tuple[str, dict[str, Any]]]:
    """The (alarm_id, event) pairs due (pure): order.created for every announced, not retracted, live alarm of the
    ordering severity without one; order.cancelled (reason alarm_retracted) for every alarm that has an order
    and is now retracted."""
    due = []
    for alarm in sorted(alarms, key=lambda a: (a["started_at"], a["alarm_id"])):
        if alarm["severity"] != settings.workorder_alarm_severity or alarm.get("historical"):
            continue
        created_id = order_ids(alarm["alarm_id"])[1]
        if alarm["status"] == "retracted":
            if created_id in known_events and cancel_event_id(alarm["alarm_id"]) not in known_events:
                due.append((alarm["alarm_id"], cancel_event(alarm, now)))
        elif alarm["alarm_id"] in announced and created_id not in known_events:
            due.append((alarm["alarm_id"], order_event(settings, alarm, now)))
    return due


def open_orders(settings: Settings, run_id: str) -> dict[str, Any]:
    """Queue the order events due (order_requests), then publish what is not published yet."""
    from wenulake.contracts.tables import NOTIFICATION_OUTBOX

    lake = Lake(settings)
    lake.ensure()
    alarms = lake.read(FACT_ALARM).to_pylist()
    outbox = lake.read(NOTIFICATION_OUTBOX, columns=["alarm_id", "transition"])
    # announced or suppressed by the notification rate limit: settled either way
    settled = pc.is_in(outbox["transition"], pa.array(["opened", "suppressed"]))
    announced = set(outbox.filter(settled)["alarm_id"].to_pylist())
    requests = lake.read(WORK_ORDER_REQUEST)
    known = set(requests["event_id"].to_pylist())
    now = datetime.now(UTC)
    new = []
    for alarm_id, payload in order_requests(settings, alarms, announced, known, now):
        new.append(
            {
                "alarm_id": alarm_id,
                "order_id": payload["order_id"],
                "event_id": payload["event_id"],
                "payload": json.dumps(payload, sort_keys=True, separators=(",", ":")),
                "created_run": run_id,
                "created_at": now,
                "published_at": None,
                "delivery_id": None,
            }
        )
    if new:
        lake.append(WORK_ORDER_REQUEST, pa.Table.from_pylist(new, schema=WORK_ORDER_REQUEST.schema))
    published = publish(settings, lake)
    cancelled = sum(1 for row in new if json.loads(row["payload"])["event_type"] == EventType.CANCELLED.value)
    return {
        "queued": len(new),
        "cancelled": cancelled,
        "published": published,
        "target": _target(settings),
    }


def publish(settings: Settings, lake: Lake) -> int:
    """Publish every request not published yet, once; each success is recorded even if a later one fails."""
    requests = lake.read(WORK_ORDER_REQUEST)
    pending = requests.filter(pc.is_null(requests["published_at"])).sort_by(
        [("created_at", "ascending"), ("alarm_id", "ascending")]
    )
    if pending.num_rows == 0:
        return 0
    rows = pending.to_pylist()
    done: list[dict[str, Any]] = []
    try:
        if settings.workorder_topic_arn:
            client = _sns(settings)
            for row in rows:
                event_type = json.loads(row["payload"])["event_type"]
                response = client.publish(
                    TopicArn=settings.workorder_topic_arn,
                    Message=row["payload"],
                    Subject=event_type,
                    MessageAttributes={
                        "event_type": {"DataType": "String", "StringValue": event_type},
                        "alarm_id": {"DataType": "String", "StringValue": row["alarm_id"]},
                    },
                )
                done.append({**row, "published_at": datetime.now(UTC), "delivery_id": response["MessageId"]})
        else:
            done = _write_to_landing(settings, rows)
    finally:
        if done:
            ids = sql_list(r["event_id"] for r in done)
            lake.replace(
                WORK_ORDER_REQUEST,
                pa.Table.from_pylist(done, schema=WORK_ORDER_REQUEST.schema),
                f"event_id in ({ids})",
            )
    return len(done)


def _write_to_landing(settings: Settings, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One landing object (raw delivery, newline-separated) in the current arrival hour, as Firehose would."""
    from wenulake.storage import StoreSpec

    now = datetime.now(UTC)
    name = f"{WORKORDERS_STREAM}-alarms-1-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"
    key = hour_prefix(WORKORDERS_STREAM, floor_hour(now)) + name
    body = "".join(row["payload"] + "\n" for row in rows).encode()
    StoreSpec.from_settings(settings.landing_uri, settings).open().put(key, body)
    return [{**row, "published_at": now, "delivery_id": key} for row in rows]


def _sns(settings: Settings) -> Any:
    import boto3

    from wenulake.storage import aws_config

    return boto3.client(
        "sns",
        region_name=settings.s3_region,
        endpoint_url=settings.sns_endpoint_url,
        config=aws_config(settings),
    )


def _target(settings: Settings) -> str:
    return settings.workorder_topic_arn or f"{settings.landing_uri}/{WORKORDERS_STREAM}/"
