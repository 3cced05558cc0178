"""Failures of the layers underneath (delta-rs, DuckDB, the OS) as one line saying what to do.

delta-rs reports an object-store failure as a multi-line `OSError` ("Kernel error -> Generic S3 error ↳ ..."),
DuckDB as `IOException`, the OS as `OSError` with an errno, libpq (psycopg, DuckDB's postgres scanner) as an
`OperationalError` / `IOException` quoting the URL with its password. `explain` turns the ones an operator can act
on into the project's errors (one line, what to do); the CLI and the tasks' reports print those. Anything else is
left as it is (a bug: the CLI still prints one line, and the traceback with --debug). `warehouse_failure` does
the same for a PostgreSQL warehouse that could not be opened, naming the URL without its password.
"""

from __future__ import annotations

import errno
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from wenulake.errors import ConfigError, StorageError, WenulakeError
from wenulake.settings import Settings

if TYPE_CHECKING:
    from wenulake.warehouse import WarehouseUnavailable


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


class WarehouseRefused(ConfigError):
    """The PostgreSQL server answered and refused: the database or the role does not exist, the password or the
    host is not accepted. A setting is wrong; retrying does not help."""


#: how libpq says the server could not be reached (psycopg's OperationalError, DuckDB's postgres scanner)
_PG_DOWN = re.compile(
    r"connection refused|timeout expired|timed out|could not translate host name|name or service not known|"
    r"no route to host|network is unreachable|server closed the connection unexpectedly|"
    r"the database system is (?:starting up|shutting down)|could not connect to server",
    re.IGNORECASE,
)

#: the server answered no: what it said, and the line that says what to fix
_PG_REFUSALS = (
    (
        re.compile(r'database "([^"]+)" does not exist'),
        'warehouse database "{named}" does not exist on {server} ({shown}): create it '
        "(createdb -h {host} -p {port} {named}) or fix the database in {setting}",
    ),
    (
        re.compile(r'role "([^"]+)" does not exist'),
        'warehouse role "{named}" does not exist on {server} ({shown}): create it (create role ... login) or fix '
        "the user in {setting}",
    ),
    (
        re.compile(r"password authentication failed for user|no password supplied"),
        "warehouse at {server} refused the password of {user} ({shown}): fix the password in {setting}",
    ),
    (
        re.compile(
            r'no pg_hba\.conf entry[^"]*"[^"]*"[^,]*|permission denied for database "[^"]+"|'
            r'role "[^"]+" is not permitted to log in|too many clients already|'
            r"remaining connection slots are reserved",
            re.IGNORECASE,
        ),
        "warehouse at {server} refused {user} ({shown}: {named}): grant the role access (pg_hba.conf, CONNECT) "
        "or fix the user in {setting}",
    ),
)


def warehouse_failure(
    exc: BaseException, url: str, setting: str, then: str = "run the command again"
) -> WarehouseUnavailable | WarehouseRefused:
    """A PostgreSQL warehouse that could not be opened at `url` (named by the setting `setting`), as one line
    naming its host:port/database (password masked) and what to do: WarehouseUnavailable when the server cannot
    be reached (retried by tasks), WarehouseRefused when it answered no (a setting to fix)."""
    from wenulake.warehouse import WarehouseUnavailable
    from wenulake.warehouse.urls import plain_url, redacted

    text = one_line(str(exc))
    parts = urlsplit(plain_url(url))
    if parts.password:
        text = text.replace(parts.password, "***")
    shown = redacted(url)
    host, port = parts.hostname or "localhost", parts.port or 5432
    server = f"{host}:{port}"
    user = parts.username or "(the current OS user)"
    for pattern, template in _PG_REFUSALS:
        if found := pattern.search(text):
            named = found[found.lastindex] if found.lastindex else found[0]
            return WarehouseRefused(
                template.format(
                    named=named, server=server, shown=shown, setting=setting, user=user, host=host, port=port
                )
            )
    if found := _PG_DOWN.search(text):
        return WarehouseUnavailable(
            f"warehouse unreachable at {shown} ({found[0].lower()}): start PostgreSQL on {server} or fix "
            f"{setting}, then {then}"
        )
    return WarehouseUnavailable(
        f"warehouse unreachable at {shown}: start PostgreSQL on {server} or fix {setting}, then {then} ({text})"
    )


def one_line(text: str) -> str:
    """Every line of a message joined, without the colour codes and arrows delta-rs puts in them."""
    from wenulake.logmask import mask_text

    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("↳", " ")
    return mask_text(" ".join(text.split()))


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
