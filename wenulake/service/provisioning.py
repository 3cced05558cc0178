"""Device provisioning: a device's keys in the keyring (keyring v2, bound to the device), created, rotated and
retired by admins; the audit log records every key event with the key's id and dates, never the key.

A new key is returned once (the API answer, a page shown once) and is nowhere else but in the keyring store.
Rotation gives the device a new key and retires its active ones after a grace period (devices in the field
switch to the new key meanwhile); retirement refuses a key for records received from then on
(`wenulake.transforms.bronze.decode_record`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from wenulake.catalog import schema
from wenulake.catalog.changes import RESOURCES, Catalog, Conflict, NotFound
from wenulake.crypto import MESSAGE_FORMATS
from wenulake.errors import WenulakeError
from wenulake.keystore import KeyringStore, new_key
from wenulake.settings import Settings
from wenulake.timeutil import iso

#: how long a rotated-out key keeps working by default
DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class NewKey:
    key_id: str
    device_id: str
    key: str  #: base64 of the 32 bytes: shown once
    created_at: datetime
    retiring: dict[str, datetime]  #: the device's keys this rotation retires, and when


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def device_keys(settings: Settings, device_id: str) -> list[dict[str, Any]]:
    """The device's keys without their material: key_id, retired_at, active (now), min_format."""
    doc = KeyringStore(settings).read()
    now = datetime.now(UTC)
    out = []
    for key_id, entry in sorted(doc["keys"].items()):
        if isinstance(entry, dict) and entry.get("device_id") == device_id:
            retired = _when(entry.get("retired_at"))
            out.append(
                {
                    "key_id": key_id,
                    "device_id": device_id,
                    "retired_at": retired,
                    "active": retired is None or retired > now,
                    "min_format": entry.get("min_format", MESSAGE_FORMATS[0]),
                }
            )
    return out


def _audit(catalog: Catalog, actor: str, action: str, device_id: str, before: Any, after: Any) -> None:
    with catalog.engine.begin() as connection:
        connection.execute(
            insert(schema.audit_log).values(
                at=datetime.now(UTC),
                actor=actor,
                action=action,
                resource="devices",
                object_id=device_id,
                before=None if before is None else json.dumps(before, sort_keys=True),
                after=None if after is None else json.dumps(after, sort_keys=True),
            )
        )


def _key_id(device_id: str, now: datetime) -> str:
    return f"{device_id}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _active(entry: Any, device_id: str, now: datetime) -> bool:
    if not isinstance(entry, dict) or entry.get("device_id") != device_id:
        return False
    retired = _when(entry.get("retired_at"))
    return retired is None or retired > now


def provision(
    settings: Settings,
    catalog: Catalog,
    device_id: str,
    actor: str,
    rotate: bool = False,
    grace: timedelta = DEFAULT_GRACE,
    min_format: int = 2,
) -> NewKey:
    """A new key for a registered, unretired device. Without `rotate`, a device that already has an active key
    is a Conflict (rotate instead); with it, its active keys are retired `grace` from now. The key accepts
    message formats from `min_format` on (2 by default: v1 records can be replayed under a new message id)."""
    if min_format not in MESSAGE_FORMATS:
        raise WenulakeError(f"min_format must be one of {list(MESSAGE_FORMATS)}, not {min_format!r}")
    device = catalog.get(RESOURCES["devices"], device_id)
    if device.get("retired_at") is not None:
        raise Conflict(f"device {device_id} is retired: it gets no new key")
    if grace < timedelta(0):
        raise WenulakeError("the grace period cannot be negative")
    now = datetime.now(UTC)
    key_id, material = _key_id(device_id, now), new_key()

    def change(doc: dict[str, Any]) -> dict[str, datetime]:
        active = [k for k, e in doc["keys"].items() if _active(e, device_id, now)]
        if active and not rotate:
            raise Conflict(
                f"device {device_id} already has an active key ({', '.join(sorted(active))}): rotate it instead"
            )
        until = now + grace
        retiring = {}
        for k in active:
            current = _when(doc["keys"][k].get("retired_at"))
            if current is None or current > until:
                doc["keys"][k]["retired_at"] = iso(until)
                retiring[k] = until
        doc["keys"][key_id] = {"key": material, "device_id": device_id, "min_format": min_format}
        return retiring

    retiring = KeyringStore(settings).update(change)
    _audit(
        catalog,
        actor,
        "key-rotate" if rotate else "key-create",
        device_id,
        {"retiring": {k: iso(v) for k, v in retiring.items()}} if retiring else None,
        {
            "key_id": key_id,
            "device_id": device_id,
            "min_format": min_format,
            "keyring": KeyringStore(settings).location,
        },
    )
    return NewKey(key_id, device_id, material, now, retiring)


def retire_key(
    settings: Settings, catalog: Catalog, device_id: str, key_id: str, actor: str, at: datetime | None = None
) -> datetime:
    """Retire one of the device's keys at `at` (default now): records received from then on are refused."""
    catalog.get(RESOURCES["devices"], device_id)
    when = at or datetime.now(UTC)

    def change(doc: dict[str, Any]) -> str | None:
        entry = doc["keys"].get(key_id)
        if not isinstance(entry, dict) or entry.get("device_id") != device_id:
            raise NotFound(f"device {device_id} has no key {key_id!r}")
        before = entry.get("retired_at")
        entry["retired_at"] = iso(when)
        return str(before) if before is not None else None

    before = KeyringStore(settings).update(change)
    _audit(
        catalog,
        actor,
        "key-retire",
        device_id,
        {"key_id": key_id, "retired_at": before},
        {"key_id": key_id, "retired_at": iso(when)},
    )
    return when
