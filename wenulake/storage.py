"""Object storage behind one small interface: a local directory or an S3 bucket (AWS, moto, MinIO).

The landing reader and the keyring use it on the driver and inside Spark workers, so everything here is
picklable by value (`StoreSpec`) and clients are cached per process, never per object.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wenulake.errors import ConfigError, StorageError
from wenulake.settings import Settings, is_s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the store's root, '/'-separated
    size: int
    etag: str | None
    last_modified: datetime | None


@dataclass(frozen=True)
class StoreSpec:
    """Where a store lives and how to reach it; small and picklable (sent to Spark workers)."""

    root: str  # local absolute path or s3://bucket/prefix
    endpoint_url: str | None = None
    region: str = "us-east-1"
    max_attempts: int = 4
    connect_timeout: float = 5.0

    @classmethod
    def from_settings(cls, root: str, settings: Settings) -> StoreSpec:
        return cls(
            root=root if is_s3(root) else str(Path(root).absolute()),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            max_attempts=settings.s3_max_attempts,
            connect_timeout=settings.s3_connect_timeout,
        )

    def open(self) -> ObjectStore:
        return S3Store(self) if is_s3(self.root) else LocalStore(self)


class ObjectStore(Protocol):
    spec: StoreSpec

    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...
    def get(self, key: str) -> bytes: ...
    def put(self, key: str, body: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def check_root(self) -> None: ...
    def describe(self, key: str) -> str: ...


class LocalStore:
    def __init__(self, spec: StoreSpec) -> None:
        self.spec = spec
        self.root = Path(spec.root)

    def check_root(self) -> None:
        if not self.root.is_dir():
            raise ConfigError(f"landing directory {self.root} does not exist (set WENULAKE_LANDING)")

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.root / prefix
        if not base.is_dir():
            return
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            stat = path.stat()
            yield ObjectInfo(
                key=path.relative_to(self.root).as_posix(),
                size=stat.st_size,
                etag=None,  # filled with the body's MD5 when read, as S3 computes it for single-part objects
                last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            )

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {self.root / key}: {exc.strerror}") from exc

    def put(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def delete(self, key: str) -> None:
        """Remove an object; one that is already gone is fine."""
        (self.root / key).unlink(missing_ok=True)

    def describe(self, key: str) -> str:
        return str(self.root / key)


def split_s3_url(url: str) -> tuple[str, str]:
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StorageError(f"{url!r} names no bucket; expected s3://bucket/prefix")
    return bucket, prefix.strip("/")


@lru_cache(maxsize=8)
def s3_client(endpoint_url: str | None, region: str, max_attempts: int, connect_timeout: float) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=60,
        max_pool_connections=32,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def aws_config(settings: Settings) -> Any:
    """botocore settings every AWS client of the pipeline shares: standard retries with
    WENULAKE_S3_MAX_ATTEMPTS attempts, WENULAKE_S3_CONNECT_TIMEOUT to connect."""
    from botocore.config import Config

    return Config(
        retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        connect_timeout=settings.s3_connect_timeout,
    )


class S3Store:
    def __init__(self, spec: StoreSpec) -> None:
        self.spec = spec
        self.bucket, self.prefix = split_s3_url(spec.root)
        self.client = s3_client(spec.endpoint_url, spec.region, spec.max_attempts, spec.connect_timeout)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _fail(self, exc: Exception, what: str) -> StorageError | ConfigError:
        from botocore.exceptions import ClientError, EndpointConnectionError

        where = self.spec.endpoint_url or "AWS S3"
        if isinstance(exc, EndpointConnectionError):
            return StorageError(
                f"cannot reach the S3 endpoint {where} ({self.spec.max_attempts} attempts) while {what}: check "
                "that it is up and WENULAKE_S3_ENDPOINT_URL, then run the command again"
            )
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket" or (code == "404" and what.startswith("checking bucket")):
                return ConfigError(
                    f"bucket {self.bucket!r} does not exist at {where}: create it, or fix the setting that names "
                    "it (WENULAKE_LANDING, WENULAKE_LAKE, WENULAKE_STAGE, WENULAKE_KEYRING)"
                )
            if code in ("NoSuchKey", "404"):
                return StorageError(f"{what}: no such object")
            return StorageError(f"S3 error {code} while {what}: {exc}")
        return StorageError(f"S3 failure while {what}: {exc}")

    def check_root(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._fail(exc, f"checking bucket {self.bucket}") from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        full = self._key(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    yield ObjectInfo(
                        key=key[len(self.prefix) + 1 :] if self.prefix else key,
                        size=int(obj["Size"]),
                        etag=obj.get("ETag", "").strip('"') or None,
                        last_modified=obj.get("LastModified"),
                    )
        except Exception as exc:
            raise self._fail(exc, f"listing s3://{self.bucket}/{full}") from exc

    def get(self, key: str) -> bytes:
        try:
            response: Any = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(response["Body"].read())
        except Exception as exc:
            raise self._fail(exc, f"reading {self.describe(key)}") from exc

    def put(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)
        except Exception as exc:
            raise self._fail(exc, f"writing {self.describe(key)}") from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail(exc, f"checking {self.describe(key)}") from exc
        except Exception as exc:
            raise self._fail(exc, f"checking {self.describe(key)}") from exc
        return True

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._fail(exc, f"deleting {self.describe(key)}") from exc


def md5_hex(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def remove_tree(location: str, settings: Settings) -> None:
    """Delete a folder (local) or every object under a prefix (S3)."""
    if not is_s3(location):
        import shutil

        shutil.rmtree(location, ignore_errors=True)
        return
    bucket, prefix = split_s3_url(location)
    store = S3Store(StoreSpec.from_settings(f"s3://{bucket}", settings))
    keys = [info.key for info in store.list(prefix + "/")]
    for start in range(0, len(keys), 1000):
        store.client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]}
        )


def arrow_filesystem(settings: Settings) -> Any:
    """A pyarrow S3 file system for this settings' endpoint (credentials from the AWS_* variables)."""
    from pyarrow import fs

    endpoint = settings.s3_endpoint_url
    if not endpoint:
        return fs.S3FileSystem(region=settings.s3_region)
    scheme, _, host = endpoint.partition("://")
    return fs.S3FileSystem(region=settings.s3_region, endpoint_override=host.rstrip("/"), scheme=scheme)


def open_parquet(location: str, settings: Settings) -> Any:
    """A pyarrow ParquetFile for a local path or an s3:// URL (stage files)."""
    import pyarrow.parquet as pq

    if is_s3(location):
        return pq.ParquetFile(arrow_filesystem(settings).open_input_file(location.removeprefix("s3://")))
    return pq.ParquetFile(location)


def atomic_copy(source: Path, target: Path) -> None:
    """Replace `target` with a copy of `source` in one step (copy beside it, then rename: readers see the old
    file or the new one, never half of one)."""
    import os
    import shutil

    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:  # a failed copy (a disk full) leaves no half-written file behind
        tmp.unlink(missing_ok=True)
