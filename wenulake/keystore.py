"""Writing the device keyring where `wenulake.crypto` reads it: a local file, an `s3://` object or a Secrets
Manager secret (WENULAKE_KEYRING), in keyring v2 format.

Every change is a read-modify-write that cannot lose a concurrent writer's change:
- a file: an exclusive `flock` on `<file>.lock` around the whole change, then a temporary file in the same
  folder (mode 600) renamed over the keyring (readers see the old or the new document, never half of one);
- S3: `PutObject` with `If-Match: <ETag read>` (`If-None-Match: *` for a first keyring); a 412/409 means someone
  else wrote in between: read again and redo the change;
- Secrets Manager: the new value is put as an `AWSPENDING` version, then `UpdateSecretVersionStage` moves
  `AWSCURRENT` to it *from the version read* (`RemoveFromVersionId`), which the service refuses when that
  version is no longer current: read again and redo. The first value of a secret (Terraform creates it empty)
  gets a version id derived from the ARN, so two first writers cannot both create it.
Key material stays in this module and its callers' one answer; errors name the location, never a key.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wenulake.crypto import Keyring, is_secret_arn
from wenulake.errors import KeyringError
from wenulake.settings import Settings

T = TypeVar("T")
#: how often a change is redone after losing a race to another writer
ATTEMPTS = 8
PENDING = "AWSPENDING"


class Lost(Exception):
    """Another writer changed the keyring between our read and our write."""


def empty() -> dict[str, Any]:
    return {"keys": {}}


def _parse(body: bytes | None, where: str) -> dict[str, Any]:
    if body is None:
        return empty()
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyringError(f"keyring {where} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
        raise KeyringError(f'keyring {where} must be a JSON object {{"keys": {{...}}}}')
    return doc


def _dump(doc: dict[str, Any], where: str) -> bytes:
    body = json.dumps(doc, indent=2, sort_keys=True).encode()
    if doc["keys"]:
        Keyring.parse(body, where)  # never write a keyring the pipeline cannot read
    return body


@dataclass
class _File:
    path: Path

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        with open(lock, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                try:
                    body: bytes | None = self.path.read_bytes()
                except FileNotFoundError:
                    body = None
                doc = _parse(body, str(self.path))
                result = change(doc)
                fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
                try:
                    with os.fdopen(fd, "wb") as out:  # mkstemp creates it with mode 600
                        out.write(_dump(doc, str(self.path)))
                        out.flush()
                        os.fsync(out.fileno())
                    os.replace(tmp, self.path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                return result
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)


@dataclass
class _S3:
    location: str
    settings: Settings

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        from wenulake.storage import s3_client, split_s3_url

        bucket, key = split_s3_url(self.location)
        s = self.settings
        client = s3_client(s.s3_endpoint_url, s.s3_region, s.s3_max_attempts, s.s3_connect_timeout)
        try:
            try:
                got: Any = client.get_object(Bucket=bucket, Key=key)
                body: bytes | None = bytes(got["Body"].read())
                etag: str | None = got["ETag"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
                body, etag = None, None
            doc = _parse(body, self.location)
            result = change(doc)
            condition: dict[str, Any] = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=_dump(doc, self.location),
                ContentType="application/json",
                ServerSideEncryption="AES256",
                **condition,
            )
            return result
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise Lost() from exc
            raise KeyringError(f"keyring {self.location} cannot be written: {code or exc}") from exc
        except BotoCoreError as exc:
            raise KeyringError(f"keyring {self.location} cannot be written: {exc}") from exc


@dataclass
class _Secret:
    arn: str
    settings: Settings

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        region = self.arn.split(":")[3] or self.settings.s3_region
        client = boto3.client(
            "secretsmanager", region_name=region, endpoint_url=self.settings.secrets_endpoint_url
        )
        try:
            try:
                got = client.get_secret_value(SecretId=self.arn, VersionStage="AWSCURRENT")
                raw = got.get("SecretString")
                body: bytes | None = raw.encode() if raw is not None else bytes(got["SecretBinary"])
                current: str | None = got["VersionId"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                body, current = None, None  # the secret exists without a value yet (as Terraform leaves it)
            doc = _parse(body, self.arn)
            result = change(doc)
            value = _dump(doc, self.arn).decode()
            token = str(uuid.uuid4())
            if current is None:
                # the first value is version "initial" of this secret: a second first writer's put of another
                # value under the same version id is refused (ResourceExistsException), so it reads again
                initial = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.arn}#wenulake-initial"))
                try:
                    client.put_secret_value(SecretId=self.arn, SecretString=value, ClientRequestToken=initial)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") == "ResourceExistsException":
                        raise Lost() from exc
                    raise
                return result
            client.put_secret_value(
                SecretId=self.arn, SecretString=value, ClientRequestToken=token, VersionStages=[PENDING]
            )
            try:
                client.update_secret_version_stage(
                    SecretId=self.arn,
                    VersionStage="AWSCURRENT",
                    MoveToVersionId=token,
                    RemoveFromVersionId=current,
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "InvalidParameterException":
                    raise Lost() from exc  # the version we read is no longer current
                raise
            with contextlib.suppress(ClientError):  # tidy: the pending label on the now current version
                client.update_secret_version_stage(
                    SecretId=self.arn, VersionStage=PENDING, RemoveFromVersionId=token
                )
            return result
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise KeyringError(f"keyring secret {self.arn} cannot be written: {code or exc}") from exc
        except BotoCoreError as exc:
            raise KeyringError(f"keyring secret {self.arn} cannot be written: {exc}") from exc


class KeyringStore:
    """The configured keyring, for writers: `update(change)` runs `change(doc)` on the current document (a dict
    `{"keys": {...}}` it mutates) and stores the result, redoing it when another writer got in between."""

    def __init__(self, settings: Settings) -> None:
        self.location = settings.keyring_uri
        if is_secret_arn(self.location):
            self._backend: Any = _Secret(self.location, settings)
        elif self.location.startswith("s3://"):
            self._backend = _S3(self.location, settings)
        else:
            self._backend = _File(Path(self.location))

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        for _ in range(ATTEMPTS):
            try:
                return self._backend.update(change)
            except Lost:
                continue
        raise KeyringError(
            f"keyring {self.location} kept changing under {ATTEMPTS} attempts to write it: try again"
        )

    def read(self) -> dict[str, Any]:
        """The current document, read as a writer would (no cache)."""
        seen: list[dict[str, Any]] = []

        class _ReadOnly(Exception):
            pass

        def look(doc: dict[str, Any]) -> None:
            seen.append(json.loads(json.dumps(doc)))
            raise _ReadOnly()

        with contextlib.suppress(_ReadOnly):  # read under the same lock or ETag as a write, then stop
            self._backend.update(look)
        return seen[0]


def new_key() -> str:
    """32 random bytes, base64: an AES-256 key."""
    return base64.b64encode(os.urandom(32)).decode()
