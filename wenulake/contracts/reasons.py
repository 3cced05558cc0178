"""Quarantine reasons (contract v1), in the order the checks apply: the first match wins."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    LEGACY = "legacy"
    WORKORDERS = "workorders"  # work-order events: parsing (per copy) and lifecycle (per event)


class Reason(StrEnum):
    CORRUPT_OBJECT = "corrupt_object"  # whole object: cannot be decompressed or read
    MALFORMED_RECORD = "malformed_record"  # not a complete JSON object with the five fields
    UNKNOWN_KEY = "unknown_key"  # key_id not in the keyring, or retired before received_at
    KEY_DEVICE_MISMATCH = (
        "key_device_mismatch"  # the key belongs to another device (keyring v2), before decrypt
    )
    DECRYPT_FAILED = "decrypt_failed"  # authentication failed, or the plaintext is not a valid payload
    IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"  # ts > received_at + 24 h, or before 2015-01-01
    UNKNOWN_DEVICE = "unknown_device"  # enrichment: device not in the catalog (per message)
    UNKNOWN_CHANNEL = "unknown_channel"  # enrichment: no sensor valid at ts (per reading)
    MALFORMED_ROW = "malformed_row"  # legacy CSV: wrong field count, bad timestamp or number (per row)
    # work-order events (stage workorders)
    MALFORMED_EVENT = "malformed_event"  # not an SNS envelope or event JSON with the contract's fields
    UNKNOWN_EVENT_TYPE = "unknown_event_type"  # a well-formed event of a type contract v1 does not know
    UNKNOWN_ORDER = "unknown_order"  # no order.created for its order yet (replayed when it arrives)
    INVALID_TRANSITION = "invalid_transition"  # not allowed in the order's state (completed after cancelled)


#: Reasons the bronze job assigns to a single record, in check order.
BRONZE_MESSAGE_REASONS: tuple[Reason, ...] = (
    Reason.MALFORMED_RECORD,
    Reason.UNKNOWN_KEY,
    Reason.KEY_DEVICE_MISMATCH,
    Reason.DECRYPT_FAILED,
    Reason.IMPLAUSIBLE_TIMESTAMP,
)

#: Reasons that remove a whole message (these add up with valid messages and duplicates to `records`).
MESSAGE_LEVEL_REASONS: tuple[Reason, ...] = (*BRONZE_MESSAGE_REASONS, Reason.UNKNOWN_DEVICE)


#: Work-order reasons given per landed copy when the events are parsed (before duplicates are resolved).
WORKORDER_PARSE_REASONS: tuple[Reason, ...] = (Reason.MALFORMED_EVENT, Reason.UNKNOWN_EVENT_TYPE)
#: Work-order reasons given per distinct event by the order lifecycle.
WORKORDER_STATE_REASONS: tuple[Reason, ...] = (Reason.UNKNOWN_ORDER, Reason.INVALID_TRANSITION)
