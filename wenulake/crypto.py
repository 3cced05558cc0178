"""Device keyring and AES-256-GCM payload decryption.

One `AESGCM` object per key, built once per process (Spark worker) and reused for every record. Key material
never leaves this module: errors name the key id, never the key.

Keyring v2 binds every key to its device: `{"keys": {"<key_id>": {"key": "<base64 of 32 bytes>", "device_id":
"<id>", "retired_at": "<ISO 8601, optional>"}}}`; v1's plain strings (`"<key_id>": "<base64>"`) still read, as
keys bound to no device. A device may own several keys (rotation); a key is refused for records received at or
after its `retired_at`. Message format v2 (a record with `"v": 2`) authenticates the device, the key and the
message id (`associated_data`); v1 (no `v`) only the device (docs/contracts.md). A key with `"min_format": 2`
refuses v1 records (`unknown_key`): a v1 ciphertext can be replayed under a new message id, a v2 one cannot.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wenulake.errors import KeyringError, StorageError

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32


#: message format versions: 1 = associated data is the device id; 2 = device, key and message ids
MESSAGE_FORMATS = (1, 2)
AD_V2_TAG = "wenulake/v2"


def associated_data(version: int, device_id: str, key_id: str, message_id: str) -> bytes:
    """The AEAD associated data of a message: v1 `device_id` in UTF-8; v2 the compact JSON array
    `["wenulake/v2", device_id, key_id, message_id]` (ASCII, unambiguous whatever the ids hold)."""
    if version == 1:
        return device_id.encode()
    return json.dumps([AD_V2_TAG, device_id, key_id, message_id], separators=(",", ":")).encode()


#: (cipher, owning device or None for a v1 key, retired_at in microseconds since the epoch or None, the oldest
#: message format the key accepts)
KeyEntry = tuple[AESGCM, str | None, int | None, int]


class Keyring:
    """key_id -> cached AESGCM cipher, the device the key belongs to, and when it was retired."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        devices: Mapping[str, str] | None = None,
        retired: Mapping[str, datetime] | None = None,
        min_formats: Mapping[str, int] | None = None,
    ) -> None:
        devices, retired, min_formats = devices or {}, retired or {}, min_formats or {}
        self._entries: dict[str, KeyEntry] = {
            key_id: (
                AESGCM(key),
                devices.get(key_id),
                _epoch_us(retired[key_id]) if key_id in retired else None,
                min_formats.get(key_id, MESSAGE_FORMATS[0]),
            )
            for key_id, key in keys.items()
        }

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._entries)

    def cipher(self, key_id: str) -> AESGCM | None:
        entry = self._entries.get(key_id)
        return entry[0] if entry else None

    def entry(self, key_id: str) -> KeyEntry | None:
        """(cipher, device_id or None, retired_at_us or None, min_format): the hot path's one lookup."""
        return self._entries.get(key_id)

    def device_of(self, key_id: str) -> str | None:
        entry = self._entries.get(key_id)
        return entry[1] if entry else None

    @classmethod
    def parse(cls, body: bytes, where: str) -> Keyring:
        """Validate and load a keyring document, v2 (`{"key", "device_id", "retired_at"?, "min_format"?}` per
        key) or v1
        (a base64 string per key); one clear line for anything wrong."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyringError(f"keyring {where} is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
            raise KeyringError(
                f'keyring {where} must be a JSON object {{"keys": {{"<key_id>": {{"key": "<base64>", '
                '"device_id": "<id>"}}}}'
            )
        keys: dict[str, bytes] = {}
        devices: dict[str, str] = {}
        retired: dict[str, datetime] = {}
        min_formats: dict[str, int] = {}
        for key_id, value in doc["keys"].items():
            if isinstance(value, dict):
                encoded = value.get("key")
                device_id = value.get("device_id")
                if not isinstance(device_id, str) or not device_id:
                    raise KeyringError(f"keyring {where}: key {key_id!r} has no device_id string")
                devices[key_id] = device_id
                if value.get("retired_at") is not None:
                    retired[key_id] = _instant(value["retired_at"], where, key_id)
                if value.get("min_format") is not None:
                    min_format = value["min_format"]
                    if type(min_format) is not int or min_format not in MESSAGE_FORMATS:
                        raise KeyringError(
                            f"keyring {where}: key {key_id!r} min_format {min_format!r} is not one of "
                            f"{list(MESSAGE_FORMATS)}"
                        )
                    min_formats[key_id] = min_format
                unknown = sorted(set(value) - {"key", "device_id", "retired_at", "min_format"})
                if unknown:
                    raise KeyringError(f"keyring {where}: key {key_id!r} has unknown fields {unknown}")
            else:
                encoded = value
            if not isinstance(encoded, str):
                raise KeyringError(f"keyring {where}: key {key_id!r} is not a base64 string")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"keyring {where}: key {key_id!r} is not valid base64") from None
            if len(raw) != KEY_BYTES:
                raise KeyringError(
                    f"keyring {where}: key {key_id!r} is {len(raw)} bytes; AES-256 needs {KEY_BYTES}"
                )
            keys[key_id] = raw
        if not keys:
            raise KeyringError(f"keyring {where} holds no keys")
        return cls(keys, devices, retired, min_formats)


def _instant(value: object, where: str, key_id: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or not isinstance(value, str):
        raise KeyringError(
            f"keyring {where}: key {key_id!r} retired_at {value!r} is not an ISO 8601 instant with offset"
        )
    return parsed


def _epoch_us(value: datetime) -> int:
    from wenulake.timeutil import EPOCH, ONE_US

    return (value - EPOCH) // ONE_US


@dataclass(frozen=True)
class KeyringSource:
    """Where to load the keyring from; picklable, so workers load it themselves (keys never travel)."""

    location: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    secrets_endpoint_url: str | None = None
    #: a long-lived process (Spark worker, Airflow worker) reloads the keyring after this many seconds, so a
    #: rotated or revoked key takes effect without a restart (WENULAKE_KEYRING_TTL_SECONDS); a local file is
    #: also reloaded as soon as its mtime changes
    ttl_seconds: float = 300.0

    def load(self) -> Keyring:
        return _load_cached(self, _mtime(self.location))


def is_secret_arn(location: str) -> bool:
    """A Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), as Terraform outputs."""
    return location.startswith("arn:") and ":secretsmanager:" in location


def _mtime(location: str) -> float:
    if location.startswith("s3://") or is_secret_arn(location):
        return 0.0
    try:
        return os.stat(location).st_mtime
    except OSError:
        return -1.0


_CACHE: dict[KeyringSource, tuple[float, float, Keyring]] = {}


def _load_cached(source: KeyringSource, mtime: float) -> Keyring:
    """The source's keyring, read again when its file changed or the cached copy is older than the TTL."""
    now = time.monotonic()
    cached = _CACHE.get(source)
    if cached is not None:
        loaded_at, loaded_mtime, keyring = cached
        if loaded_mtime == mtime and now - loaded_at < source.ttl_seconds:
            return keyring
    keyring = _read(source)
    _CACHE[source] = (now, mtime, keyring)
    return keyring


def _read(source: KeyringSource) -> Keyring:
    from wenulake.storage import StoreSpec, split_s3_url

    if is_secret_arn(source.location):
        return Keyring.parse(_read_secret(source), source.location)
    try:
        if source.location.startswith("s3://"):
            bucket, key = split_s3_url(source.location)
            body = StoreSpec(f"s3://{bucket}", source.endpoint_url, source.region).open().get(key)
        else:
            with open(source.location, "rb") as fh:
                body = fh.read()
    except FileNotFoundError:
        raise KeyringError(
            f"keyring {source.location} not found (set WENULAKE_KEYRING, or generate one with "
            "`wenulake landing generate`)"
        ) from None
    except (OSError, StorageError) as exc:
        raise KeyringError(f"keyring {source.location} cannot be read: {exc}") from exc
    return Keyring.parse(body, source.location)


def _read_secret(source: KeyringSource) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    region = source.location.split(":")[3] or source.region
    client = boto3.client("secretsmanager", region_name=region, endpoint_url=source.secrets_endpoint_url)
    try:
        # AWSCURRENT named explicitly (AWS's default): moto's default version does not follow the stage moves
        # of `wenulake.keystore`'s compare-and-set writes
        secret = client.get_secret_value(SecretId=source.location, VersionStage="AWSCURRENT")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise KeyringError(
                f"keyring secret {source.location} not found, or it has no value yet (put the keyring with "
                "`aws secretsmanager put-secret-value`)"
            ) from None
        raise KeyringError(f"keyring secret {source.location} cannot be read: {code or exc}") from exc
    except BotoCoreError as exc:
        raise KeyringError(f"keyring secret {source.location} cannot be read: {exc}") from exc
    if "SecretString" in secret:
        return str(secret["SecretString"]).encode()
    return bytes(secret["SecretBinary"])


def encrypt(
    key: bytes,
    device_id: str,
    plaintext: bytes,
    nonce: bytes,
    key_id: str | None = None,
    message_id: str | None = None,
) -> bytes:
    """The device side of the contract (used by the generator): nonce || ciphertext || tag. With `key_id` and
    `message_id`, message format v2 (the record then carries `"v": 2`); without, v1."""
    if key_id is None or message_id is None:
        aad = associated_data(1, device_id, "", "")
    else:
        aad = associated_data(2, device_id, key_id, message_id)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
