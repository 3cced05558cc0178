"""Quarantine reasons (contract v1), in the order the checks apply: the first match wins."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    LEGACY = "legacy"


class Reason(StrEnum):
    CORRUPT_OBJECT = "corrupt_object"  # whole object: cannot be decompressed or read
    MALFORMED_RECORD = "malformed_record"  # not a complete JSON object with the five fields
    UNKNOWN_KEY = "unknown_key"  # key_id not in the keyring
    DECRYPT_FAILED = "decrypt_failed"  # authentication failed, or the plaintext is not a valid payload
    IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"  # ts > received_at + 24 h, or before 2015-01-01
    UNKNOWN_DEVICE = "unknown_device"  # enrichment: device not in the catalog (per message)
    UNKNOWN_CHANNEL = "unknown_channel"  # enrichment: no sensor valid at ts (per reading)
    MALFORMED_ROW = "malformed_row"  # legacy CSV: wrong field count, bad timestamp or number (per row)


#: Reasons the bronze job assigns to a single record, in check order.
BRONZE_MESSAGE_REASONS: tuple[Reason, ...] = (
    Reason.MALFORMED_RECORD,
    Reason.UNKNOWN_KEY,
    Reason.DECRYPT_FAILED,
    Reason.IMPLAUSIBLE_TIMESTAMP,
)

#: Reasons that remove a whole message (these add up with valid messages and duplicates to `records`).
MESSAGE_LEVEL_REASONS: tuple[Reason, ...] = (*BRONZE_MESSAGE_REASONS, Reason.UNKNOWN_DEVICE)
