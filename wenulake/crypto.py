"""Device keyring and AES-256-GCM payload decryption.

One `AESGCM` object per key, built once per process (Spark worker) and reused for every record. Key material
never leaves this module: errors name the key id, never the key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wenulake.errors import KeyringError, StorageError

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32


class Keyring:
    """key_id -> cached AESGCM cipher."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._ciphers

    def __len__(self) -> int:
        return len(self._ciphers)

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def cipher(self, key_id: str) -> AESGCM | None:
        return self._ciphers.get(key_id)

    @classmethod
    def parse(cls, body: bytes, where: str) -> Keyring:
        """Validate and load a keyring document: {"keys": {"<key_id>": "<base64 of 32 bytes>"}}."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyringError(f"keyring {where} is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
            raise KeyringError(
                f'keyring {where} must be a JSON object {{"keys": {{"<key_id>": "<base64>"}}}}'
            )
        keys: dict[str, bytes] = {}
        for key_id, encoded in doc["keys"].items():
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
        return cls(keys)


@dataclass(frozen=True)
class KeyringSource:
    """Where to load the keyring from; picklable, so workers load it themselves (keys never travel)."""

    location: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    secrets_endpoint_url: str | None = None

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


_CACHE: dict[tuple[KeyringSource, float], Keyring] = {}


def _load_cached(source: KeyringSource, mtime: float) -> Keyring:
    cached = _CACHE.get((source, mtime))
    if cached is None:
        cached = _CACHE[(source, mtime)] = _read(source)
    return cached


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
        secret = client.get_secret_value(SecretId=source.location)
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


def encrypt(key: bytes, device_id: str, plaintext: bytes, nonce: bytes) -> bytes:
    """The device side of the contract (used by the generator): nonce || ciphertext || tag."""
    return nonce + AESGCM(key).encrypt(nonce, plaintext, device_id.encode())
