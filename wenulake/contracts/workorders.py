"""Work-order contract v1: the field-service events published on SNS and delivered by Firehose to
`<landing>/workorders/YYYY/MM/DD/HH/...`, and the order lifecycle they drive (docs/contracts.md, "Work orders").
"""

from __future__ import annotations

from enum import StrEnum

WORKORDERS_STREAM = "workorders"
SCHEMA_VERSION = "1"


class EventType(StrEnum):
    CREATED = "order.created"
    ASSIGNED = "order.assigned"
    STARTED = "tracking.work_started"
    COMPLETED = "tracking.work_completed"
    CANCELLED = "order.cancelled"


class OrderStatus(StrEnum):
    CREATED = "created"  # created, nobody assigned yet
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class EventStatus(StrEnum):
    """What the lifecycle made of a stored (deduplicated) event."""

    APPLIED = "applied"
    UNKNOWN_ORDER = "unknown_order"  # no order.created for its order (yet): replayed when it arrives
    INVALID_TRANSITION = "invalid_transition"  # not allowed in the order's state at occurred_at


SOURCES = ("client", "alarm", "backoffice")
PRIORITIES = ("low", "normal", "high", "urgent")

#: the fields every event has, with the per-type required and optional fields (JSON types checked on parse)
BASE_FIELDS = ("event_id", "event_type", "schema_version", "occurred_at", "order_id")
REQUIRED: dict[EventType, tuple[str, ...]] = {
    EventType.CREATED: ("client_id", "site_id", "source", "priority", "sla_hours"),
    EventType.ASSIGNED: ("technician_id",),
    EventType.STARTED: ("technician_id",),
    EventType.COMPLETED: ("resolution",),
    EventType.CANCELLED: ("reason",),
}
OPTIONAL: dict[EventType, tuple[str, ...]] = {
    EventType.CREATED: ("device_id", "alarm_id", "description"),
    EventType.ASSIGNED: (),
    EventType.STARTED: ("lat", "lon"),
    EventType.COMPLETED: ("materials", "evidence", "technician_id"),
    EventType.CANCELLED: (),
}

#: the order states each event type may be applied in (anything else is an invalid transition); the state it
#: leads to. Re-assignment before work starts is normal; a closed order (completed, cancelled) takes nothing.
TRANSITIONS: dict[EventType, tuple[tuple[OrderStatus | None, ...], OrderStatus]] = {
    EventType.CREATED: ((None,), OrderStatus.CREATED),
    EventType.ASSIGNED: ((OrderStatus.CREATED, OrderStatus.ASSIGNED), OrderStatus.ASSIGNED),
    EventType.STARTED: ((OrderStatus.ASSIGNED,), OrderStatus.IN_PROGRESS),
    EventType.COMPLETED: ((OrderStatus.IN_PROGRESS,), OrderStatus.COMPLETED),
    EventType.CANCELLED: (
        (OrderStatus.CREATED, OrderStatus.ASSIGNED, OrderStatus.IN_PROGRESS),
        OrderStatus.CANCELLED,
    ),
}

#: same-instant events apply in lifecycle order (a created and an assigned stamped in the same millisecond)
TYPE_ORDER: dict[str, int] = {t.value: i for i, t in enumerate(EventType)}
