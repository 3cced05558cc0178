"""Failures of the layers underneath (delta-rs, DuckDB, the OS) as one line saying what to do.

delta-rs reports an object-store failure as a multi-line `OSError` ("Kernel error -> Generic S3 error ↳ ..."),
DuckDB as `IOException`, the OS as `OSError` with an errno. `explain` turns the ones an operator can act on into
the project's errors (one line, what to do); the CLI and the tasks' reports print those. Anything else is left
as it is (a bug: the CLI still prints one line, and the traceback with --debug).
"""

from __future__ import annotations

import errno
import re

from wenulake.errors import ConfigError, StorageError, WenulakeError
from wenulake.settings import Settings


class DiskFull(StorageError):
    """A write found no space left on its device."""


#: how delta-rs' object store and DuckDB's httpfs say they could not connect
_UNREACHABLE = re.compile(
    r"error sending request|tcp connect error|connection refused|could not establish connection|"
    r"dns error|failed to lookup address|connect timed out|connection timed out|unable to connect",
    re.IGNORECASE,
)
#: a project error wrapping a raw delta-rs / object-store message ("cannot create Delta table X: <chain>")
_WRAPPED = re.compile(r"Kernel error|Generic S3 error|os error \d+|Generic LocalFileSystem error")
_NO_BUCKET = re.compile(r"NoSuchBucket|The specified bucket does not exist", re.IGNORECASE)
_NO_SPACE = re.compile(r"No space left on device|os error 28|ENOSPC", re.IGNORECASE)
_BUCKET_IN_URL = re.compile(r"https?://[^/\s]+/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/")
_PATH = re.compile(r"""(?:"|'|\s)(/[^\s"':]+)""")


def one_line(text: str) -> str:
    """Every line of a message joined, without the colour codes and arrows delta-rs puts in them."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("↳", " ")
    return " ".join(text.split())


def explain(exc: BaseException, settings: Settings | None = None) -> WenulakeError | None:
    """The failure as an error that says what to do, or None when it is none of the known kinds."""
    text = one_line(str(exc))
    if isinstance(exc, DiskFull) or (isinstance(exc, WenulakeError) and not _WRAPPED.search(text)):
        return None  # already one of ours, not wrapping a raw failure of the layers underneath
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or _NO_SPACE.search(text):
        where = getattr(exc, "filename", None) or _first_path(text)
        on = f" writing {where}" if where else ""
        return DiskFull(
            f"disk full{on}: free space on that file system (or point WENULAKE_HOME / WENULAKE_LAKE elsewhere) "
            "and run the command again; a failed run's leftovers are cleaned by the next run"
        )
    endpoint = (settings.s3_endpoint_url if settings else None) or "AWS S3"
    if _NO_BUCKET.search(text):
        found = _BUCKET_IN_URL.search(text)
        bucket = f"bucket {found.group(1)!r}" if found else "a bucket"
        return ConfigError(
            f"{bucket} does not exist at {endpoint}: create it, or fix WENULAKE_LAKE / WENULAKE_LANDING / "
            "WENULAKE_STAGE"
        )
    if _UNREACHABLE.search(text) and ("S3" in text or "HTTP" in text or "http" in text):
        return StorageError(
            f"cannot reach the S3 endpoint {endpoint}: check that it is up and WENULAKE_S3_ENDPOINT_URL, then "
            "run the command again"
        )
    return None


def _first_path(text: str) -> str | None:
    found = _PATH.search(text)
    return found.group(1) if found else None
