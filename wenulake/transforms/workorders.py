"""Pure work-order transforms: landed record pieces -> events (or a quarantine reason), and an order's events
-> its accumulating snapshot. No I/O: tests call these directly.

Parsing, per record piece (contract v1, docs/contracts.md "Work orders"):
- an SNS notification envelope (`Type` = `Notification`, `Message` a JSON string) or a raw-delivery event (the
  event JSON itself, no envelope) is detected per record;
- the event needs `event_id`, `event_type`, `schema_version` (major 1), `occurred_at` (ISO 8601 UTC) and
  `order_id`, then the fields of its type; anything else is `malformed_event`, an unknown type is
  `unknown_event_type`.

Lifecycle, per order: the stored events sorted by `occurred_at` (same instant: lifecycle order, then event_id)
go through the state machine of `contracts.workorders.TRANSITIONS`; an event it refuses is
`invalid_transition`; an order without `order.created` has all its events `unknown_order` (until it arrives).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from wenulake.contracts import Reason
from wenulake.contracts.workorders import (
    BASE_FIELDS,
    OPTIONAL,
    PRIORITIES,
    REQUIRED,
    SCHEMA_VERSION,
    SOURCES,
    TRANSITIONS,
    TYPE_ORDER,
    EventStatus,
    EventType,
    OrderStatus,
)
from wenulake.landing import DEFAULT_LIMITS, Refused, json_depth

#: where parsing resumes after a broken piece (besides the next newline)
RECORD_STARTS = ('{"Type"', '{"event_id"')
KNOWN_TYPES = {t.value for t in EventType}


class Malformed(ValueError):
    """The piece is not a contract-v1 event; the message says what is wrong."""


class UnknownType(ValueError):
    pass


def parse_instant(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise Malformed(f"{field}: expected an ISO 8601 UTC timestamp string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"{field}: expected an ISO 8601 UTC timestamp, got {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise Malformed(f"{field}: timestamp {value[:40]!r} has no time zone (expected UTC, 'Z')")
    return parsed.astimezone(UTC)


def _text(event: dict[str, Any], field: str, required: bool) -> str | None:
    value = event.get(field)
    if value is None:
        if required:
            raise Malformed(f"{field}: required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"{field}: expected a non-empty string")
    return value


def _number(event: dict[str, Any], field: str, required: bool) -> float | None:
    value = event.get(field)
    if value is None:
        if required:
            raise Malformed(f"{field}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Malformed(f"{field}: expected a number, got {json.dumps(value)[:40]}")
    return float(value)


def _items(event: dict[str, Any], field: str, keys: tuple[str, str]) -> list[dict[str, Any]] | None:
    value = event.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Malformed(f"{field}: expected a list of objects")
    out = []
    for item in value:
        first, second = keys
        if not isinstance(item.get(first), str) or not item[first]:
            raise Malformed(f"{field}: every item needs a string {first}")
        if second == "quantity":
            quantity = item.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity < 0:
                raise Malformed(f"{field}: every item needs a non-negative number quantity")
            out.append({first: item[first], second: float(quantity)})
        else:
            if not isinstance(item.get(second), str):
                raise Malformed(f"{field}: every item needs a string {second}")
            out.append({first: item[first], second: item[second]})
    return out


def unwrap(parsed: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(event, delivery columns) of a parsed JSON record: an SNS envelope or a raw-delivery event."""
    if not isinstance(parsed, dict):
        raise Malformed(f"expected a JSON object, got a JSON {type(parsed).__name__}")
    if "Type" in parsed and "Message" in parsed:
        if parsed.get("Type") != "Notification":
            raise Malformed(f"SNS envelope of Type {str(parsed.get('Type'))[:40]!r}, expected 'Notification'")
        message = parsed["Message"]
        if not isinstance(message, str):
            raise Malformed("SNS envelope: Message is not a string")
        try:
            event = json.loads(message)
        except ValueError:
            raise Malformed("SNS envelope: Message is not JSON") from None
        if not isinstance(event, dict):
            raise Malformed("SNS envelope: Message is not a JSON object")
        deep = message.count("[") + message.count("{") > DEFAULT_LIMITS.max_json_depth
        if deep and json_depth(event) > DEFAULT_LIMITS.max_json_depth:
            raise Malformed(f"SNS envelope: Message nests deeper than {DEFAULT_LIMITS.max_json_depth}")
        attributes = parsed.get("MessageAttributes")
        timestamp = parsed.get("Timestamp")
        return event, {
            "delivery": "envelope",
            "sns_message_id": parsed.get("MessageId") if isinstance(parsed.get("MessageId"), str) else None,
            "topic_arn": parsed.get("TopicArn") if isinstance(parsed.get("TopicArn"), str) else None,
            "sns_timestamp": parse_instant(timestamp, "Timestamp") if timestamp is not None else None,
            "message_attributes": json.dumps(attributes, sort_keys=True) if attributes else None,
        }
    if "event_id" in parsed:
        return parsed, {
            "delivery": "raw",
            "sns_message_id": None,
            "topic_arn": None,
            "sns_timestamp": None,
            "message_attributes": None,
        }
    raise Malformed("neither an SNS notification envelope (Type, Message) nor an event (event_id)")


def parse_event(parsed: Any) -> dict[str, Any]:
    """A parsed JSON record -> the event's columns (WORK_ORDER_EVENT_FIELDS without the landing position).
    Raises Malformed or UnknownType."""
    event, delivery = unwrap(parsed)
    for field in BASE_FIELDS:
        if event.get(field) is None:
            raise Malformed(f"{field}: required")
    event_type = _text(event, "event_type", True)
    version = event["schema_version"]
    if isinstance(version, bool) or not isinstance(version, str | int):
        raise Malformed("schema_version: expected a string or an integer")
    if str(version).split(".", 1)[0] != SCHEMA_VERSION:
        raise Malformed(f"schema_version {str(version)[:20]!r} is not supported (expected {SCHEMA_VERSION})")
    row: dict[str, Any] = {
        "event_id": _text(event, "event_id", True),
        "event_type": event_type,
        "schema_version": str(version),
        "occurred_at": parse_instant(event["occurred_at"], "occurred_at"),
        "order_id": _text(event, "order_id", True),
    }
    if event_type not in KNOWN_TYPES:
        raise UnknownType(f"event_type {event_type!r} is not one of {', '.join(sorted(KNOWN_TYPES))}")
    kind = EventType(event_type)
    for field in ("client_id", "site_id", "device_id", "alarm_id", "description", "technician_id",
                  "resolution"):  # fmt: skip
        if field in REQUIRED[kind] or field in OPTIONAL[kind]:
            row[field] = _text(event, field, field in REQUIRED[kind])
    if kind is EventType.CREATED:
        row["source"] = _text(event, "source", True)
        if row["source"] not in SOURCES:
            raise Malformed(f"source: expected one of {', '.join(SOURCES)}, got {row['source']!r}")
        row["priority"] = _text(event, "priority", True)
        if row["priority"] not in PRIORITIES:
            raise Malformed(f"priority: expected one of {', '.join(PRIORITIES)}, got {row['priority']!r}")
        sla = _number(event, "sla_hours", True)
        if sla is None or sla <= 0:
            raise Malformed("sla_hours: expected a positive number")
        try:  # the order's sla_due_at must be a date: a huge sla_hours would fail the whole build later
            row["occurred_at"] + timedelta(hours=sla)
        except OverflowError:
            raise Malformed("sla_hours: the due date passes the calendar (year 9999)") from None
        row["sla_hours"] = sla
        if row["source"] == "alarm" and not row.get("alarm_id"):
            raise Malformed("alarm_id: required when source is 'alarm'")
    elif kind is EventType.STARTED:
        row["lat"] = _number(event, "lat", False)
        row["lon"] = _number(event, "lon", False)
        if row["lat"] is not None and not -90 <= row["lat"] <= 90:
            raise Malformed("lat: expected -90..90")
        if row["lon"] is not None and not -180 <= row["lon"] <= 180:
            raise Malformed("lon: expected -180..180")
    elif kind is EventType.COMPLETED:
        row["materials"] = _items(event, "materials", ("material_id", "quantity"))
        row["evidence"] = _items(event, "evidence", ("uri", "sha256"))
    elif kind is EventType.CANCELLED:
        row["cancel_reason"] = _text(event, "reason", True)
    row.update(delivery)
    return row


def classify(parsed: Any) -> tuple[dict[str, Any] | None, Reason | None, str | None]:
    """(event, None, None) for a valid event, else (None, reason, detail)."""
    if parsed is None:
        return None, Reason.MALFORMED_EVENT, "not a complete JSON value"
    if isinstance(parsed, Refused):
        return None, Reason.MALFORMED_EVENT, parsed.detail
    try:
        return parse_event(parsed), None, None
    except UnknownType as exc:
        return None, Reason.UNKNOWN_EVENT_TYPE, str(exc)
    except Malformed as exc:
        return None, Reason.MALFORMED_EVENT, str(exc)
    except Exception as exc:  # hostile input (e.g. RecursionError in a nested Message): this copy only
        return None, Reason.MALFORMED_EVENT, f"event could not be parsed ({type(exc).__name__})"


# -- lifecycle -------------------------------------------------------------------------------------------------
def event_order(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["occurred_at"], TYPE_ORDER.get(event["event_type"], 99), event["event_id"])


Statuses = dict[str, tuple[str, int | None, str | None]]


def build_order(events: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, Statuses]:
    """One order's stored events -> (its snapshot row, or None without order.created; {event_id: (status,
    sequence, detail)}). Deterministic: the same events in any order give the same result."""
    ordered = sorted(events, key=event_order)
    created = [e for e in ordered if e["event_type"] == EventType.CREATED]
    if not created:
        detail = "no order.created for this order (yet): replayed when it arrives"
        return None, {e["event_id"]: (EventStatus.UNKNOWN_ORDER.value, None, detail) for e in ordered}
    state: OrderStatus | None = None
    statuses: Statuses = {}
    order: dict[str, Any] = {}
    materials: dict[str, float] = defaultdict(float)
    evidence = 0
    applied = 0
    for event in ordered:
        kind = EventType(event["event_type"])
        allowed, target = TRANSITIONS[kind]
        if state not in allowed:
            where = f"state {state.value}" if state else "an order not created yet (at that instant)"
            detail = f"{kind.value} at {event['occurred_at'].isoformat()} not allowed in {where}"
            statuses[event["event_id"]] = (EventStatus.INVALID_TRANSITION.value, None, detail)
            continue
        applied += 1
        statuses[event["event_id"]] = (EventStatus.APPLIED.value, applied, None)
        at = event["occurred_at"]
        if kind is EventType.CREATED:
            order = {
                "order_id": event["order_id"],
                "client_id": event["client_id"],
                "site_id": event["site_id"],
                "device_id": event.get("device_id"),
                "alarm_id": event.get("alarm_id"),
                "source": event["source"],
                "priority": event["priority"],
                "description": event.get("description"),
                "sla_hours": event["sla_hours"],
                "created_at": at,
                "assigned_at": None,
                "started_at": None,
                "completed_at": None,
                "cancelled_at": None,
                "cancel_reason": None,
                "technician_id": None,
                "resolution": None,
            }
        elif kind is EventType.ASSIGNED:
            order["assigned_at"] = order["assigned_at"] or at
            order["technician_id"] = event["technician_id"]
        elif kind is EventType.STARTED:
            order["started_at"] = at
            order["technician_id"] = event["technician_id"]
        elif kind is EventType.COMPLETED:
            order["completed_at"] = at
            order["resolution"] = event.get("resolution")
            order["technician_id"] = event.get("technician_id") or order["technician_id"]
            for item in event.get("materials") or []:
                materials[item["material_id"]] += item["quantity"]
            evidence += len(event.get("evidence") or [])
        elif kind is EventType.CANCELLED:
            order["cancelled_at"] = at
            order["cancel_reason"] = event.get("cancel_reason")
        state = target
    assert state is not None
    created_at: datetime = order["created_at"]
    due = created_at + timedelta(hours=order["sla_hours"])
    completed: datetime | None = order["completed_at"]
    assigned: datetime | None = order["assigned_at"]
    order.update(
        {
            "status": state.value,
            "sla_due_at": due,
            "sla_met": (completed <= due) if completed else None,
            "time_to_assign": (assigned - created_at).total_seconds() if assigned else None,
            "time_to_repair": (completed - created_at).total_seconds() if completed else None,
            "materials": json.dumps(
                [{"material_id": k, "quantity": materials[k]} for k in sorted(materials)], sort_keys=True
            )
            if materials
            else None,
            "material_quantity": sum(materials.values()) if materials else None,
            "evidence_count": evidence,
            "events": applied,
            "last_event_at": ordered[-1]["occurred_at"],
        }
    )
    return order, statuses


def build_orders(
    events: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], Statuses]:
    """All orders of a set of events (grouped by order_id): snapshot rows and every event's status."""
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_order[event["order_id"]].append(event)
    orders: list[dict[str, Any]] = []
    statuses: Statuses = {}
    for order_id in sorted(by_order):
        order, event_statuses = build_order(by_order[order_id])
        statuses.update(event_statuses)
        if order is not None:
            orders.append(order)
    return orders, statuses
