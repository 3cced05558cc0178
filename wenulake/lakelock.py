"""One writer per lake: the lock every in-process run that writes the lake takes (`wenulake run`, an in-process
`backfill`, `migrate`, `replay`, `maintain`, `catalog apply`, and each replay job of `wenulake serve`, which waits
at most WENULAKE_SERVICE_LAKE_LOCK_WAIT seconds for it).

Local lake: `<lake>.lock`, a file beside the lake folder, held with flock(2). The kernel releases it when the
holder exits, however it exits (kill -9 included), so a crashed run never leaves the lake locked; the file keeps
the last holder's pid, host, command and start time, which a waiting run names.

Lake on S3: the object `<lake>.lock` (the lake's prefix with `.lock` appended), created with a conditional put
(`If-None-Match: *`: exactly one creator wins) and holding the same JSON plus an expiry. The holder renews it
(`If-Match` on its ETag) every third of WENULAKE_LAKE_LOCK_TTL seconds from a heartbeat thread and deletes it on
exit; a holder killed with -9 leaves an object that expires, and a waiter then takes it over with a conditional
put on the stale object's ETag (one taker wins).

Fencing (S3): the holder's lease runs WENULAKE_LAKE_LOCK_TTL seconds from the start of its last successful put
(the take or a renewal, measured on the monotonic clock). When a renewal is refused (another run took the lock
over) or the lease runs out (the holder stalled: a pause, a frozen VM, S3 unreachable), the lock is lost; every
lake commit calls `check_lease` first, which then raises LakeLockLost instead of committing. A local lock
(flock) cannot be lost while its process lives.

Airflow's scheduler runs do not take it: their publishers are serialised by the `lake_writer` pool. Delta commits
on S3 are safe against concurrent writers anyway (delta-rs 1.x puts each commit file with `If-None-Match: *`,
see `Settings.delta_storage_options`); this lock keeps whole runs from interleaving.

The lock is re-entrant within a process: `run_range` takes it again under the CLI's hold without waiting.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wenulake.errors import LakeLocked, LakeLockLost, StorageError
from wenulake.settings import Settings, is_s3

#: seconds between two attempts to take a lock another process holds
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    command: str
    started: str
    expires: str | None = None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (`{self.command}`, since {self.started})"

    @classmethod
    def parse(cls, text: str | bytes) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(
                pid=int(data["pid"]),
                host=str(data["host"]),
                command=str(data["command"]),
                started=str(data["started"]),
                expires=data.get("expires"),
            )
        except (ValueError, KeyError, TypeError):
            return None


def lock_location(settings: Settings) -> str:
    """`<lake>.lock`: beside the lake folder (or the lake prefix on S3), never inside a table."""
    return settings.lake_uri.rstrip("/") + ".lock"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _me(command: str) -> Holder:
    return Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        command=command,
        started=_now().isoformat().replace("+00:00", "Z"),
    )


# -- re-entrance within a process ------------------------------------------------------------------------------
@dataclass
class _Held:
    owner: int  # thread id
    depth: int
    release: Callable[[], None]
    #: raises LakeLockLost when the lock ran out or was taken over (S3); None for a lock that cannot be lost
    check: Callable[[str], None] | None = None


def check_lease(settings: Settings, writing: str) -> None:
    """Before a lake commit (`writing`: the table): raise LakeLockLost when this process held the lake's lock and
    lost it. A process that does not hold it (an Airflow task, serialised by the pool) is not checked."""
    with _GUARD:
        held = _HELD.get(lock_location(settings))
    if held is not None and held.check is not None:
        held.check(writing)


_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


@contextmanager
def lake_lock(
    settings: Settings,
    command: str,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    timeout: float | None = None,
    timeout_setting: str = "",
) -> Iterator[None]:
    """Hold the lake's writer lock for the block. Another process holding it: with `wait`, call `on_wait` once
    with a line naming the holder and wait (at most `timeout` seconds, then raise LakeLocked naming the holder
    and `timeout_setting`); without, raise LakeLocked naming it."""
    where = lock_location(settings)
    waiting = _Waiting(wait, on_wait, timeout, timeout_setting)
    me = threading.get_ident()
    with _GUARD:
        held = _HELD.get(where)
        if held is not None and held.owner == me:
            held.depth += 1
            reentered = True
        else:
            reentered = False
    if not reentered:
        if is_s3(where):
            release, check = _take_s3(settings, where, command, waiting)
        else:
            release, check = _take_local(settings, where, command, waiting), None
        with _GUARD:
            _HELD[where] = _Held(owner=me, depth=1, release=release, check=check)
    try:
        yield
    finally:
        with _GUARD:
            held = _HELD[where]
            held.depth -= 1
            done = held.depth == 0
            if done:
                del _HELD[where]
        if done:
            held.release()


@dataclass
class _Waiting:
    """Whether a taker waits for another holder, whom it tells (`on_wait`, once), how long (`timeout`, None:
    until the lock is free) and the setting that says so."""

    wait: bool
    on_wait: Callable[[str], None] | None
    timeout: float | None
    setting: str

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def give_up(self, where: str, holder: Holder | None) -> None:
        """Raise LakeLocked once the wait has lasted `timeout` seconds."""
        if self.timeout is None or time.monotonic() - self.started < self.timeout:
            return
        who = holder.describe() if holder else "another process"
        by = f" ({self.setting})" if self.setting else ""
        raise LakeLocked(
            f"the lake is still locked by {who} ({where}) after waiting {self.timeout:g} s{by}: wait for that "
            "run to finish, then try again"
        )

    def pause(self) -> None:
        left = None if self.timeout is None else self.timeout - (time.monotonic() - self.started)
        time.sleep(POLL_SECONDS if left is None else max(0.0, min(POLL_SECONDS, left)))


def _refuse(where: str, holder: Holder | None) -> LakeLocked:
    who = holder.describe() if holder else "another process"
    return LakeLocked(
        f"the lake is locked by {who} ({where}); wait for that run to finish, or run again without --no-wait "
        "to wait for it"
    )


def _waiting_line(where: str, holder: Holder | None) -> str:
    who = holder.describe() if holder else "another process"
    return f"waiting for the lake lock {where}, held by {who}"


# -- local: flock on a file beside the lake ----------------------------------------------------------------
def _take_local(settings: Settings, where: str, command: str, waiting: _Waiting) -> Callable[[], None]:
    import fcntl

    path = Path(where)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot create the lake lock {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = Holder.parse(path.read_bytes())
        if not waiting.wait:
            os.close(fd)
            raise _refuse(where, holder) from None
        if waiting.on_wait:
            waiting.on_wait(_waiting_line(where, holder))
        if waiting.timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    try:
                        waiting.give_up(where, Holder.parse(path.read_bytes()))
                    except LakeLocked:
                        os.close(fd)
                        raise
                    waiting.pause()
    body = json.dumps(_me(command).__dict__).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, body, 0)
    os.fsync(fd)

    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    return release


# -- S3: a lock object created with a conditional put, renewed by a heartbeat --------------------------------
def _s3_error_code(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


#: how S3 (and moto) refuse a conditional put whose condition does not hold
_PRECONDITION = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def _take_s3(
    settings: Settings, where: str, command: str, waiting: _Waiting
) -> tuple[Callable[[], None], Callable[[str], None]]:
    from wenulake.storage import S3Store, StoreSpec, split_s3_url

    bucket, key = split_s3_url(where)
    store = S3Store(StoreSpec.from_settings(f"s3://{bucket}", settings))
    client: Any = store.client
    ttl = settings.lake_lock_ttl
    started = _me(command).started
    told = False

    def body_now() -> bytes:
        expires = (_now() + timedelta(seconds=ttl)).isoformat().replace("+00:00", "Z")
        return json.dumps({**_me(command).__dict__, "started": started, "expires": expires}).encode()

    while True:
        sent = time.monotonic()  # the lease runs from before the put: never longer than the object says
        body = body_now()
        try:
            etag = client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")["ETag"]
            break
        except Exception as exc:
            if _s3_error_code(exc) not in _PRECONDITION:
                raise store._fail(exc, f"taking the lake lock {where}") from exc
        # someone holds it: read who, take it over if it expired
        try:
            current = client.get_object(Bucket=bucket, Key=key)
            holder = Holder.parse(current["Body"].read())
            current_etag = current["ETag"]
        except Exception as exc:
            if _s3_error_code(exc) in ("NoSuchKey", "404"):
                continue  # released meanwhile: try again at once
            raise store._fail(exc, f"reading the lake lock {where}") from exc
        if holder is None or (holder.expires and holder.expires < _me(command).started):
            try:
                etag = client.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=current_etag)["ETag"]
                break
            except Exception as exc:
                if _s3_error_code(exc) not in _PRECONDITION:
                    raise store._fail(exc, f"taking over the expired lake lock {where}") from exc
                continue
        if not waiting.wait:
            raise _refuse(where, holder)
        if waiting.on_wait and not told:
            waiting.on_wait(_waiting_line(where, holder))
            told = True
        waiting.give_up(where, holder)
        waiting.pause()

    state: dict[str, Any] = {"etag": etag, "renewed": sent, "refused": False}
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(ttl / 3):
            sent = time.monotonic()
            try:
                renewed = client.put_object(Bucket=bucket, Key=key, Body=body_now(), IfMatch=state["etag"])
            except Exception as exc:
                if _s3_error_code(exc) in (*_PRECONDITION, "NoSuchKey", "404"):
                    state["refused"] = True  # taken over (or deleted): lost for good
                    return
                continue  # unreachable: try again; the lease runs out meanwhile if it lasts
            state["etag"], state["renewed"] = renewed["ETag"], sent

    def check(writing: str) -> None:
        age = time.monotonic() - state["renewed"]
        if not state["refused"] and age < ttl:
            return
        now = None
        with contextlib.suppress(Exception):
            now = Holder.parse(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        why = "its renewal was refused" if state["refused"] else f"it was last renewed {age:.0f} s ago"
        taken = f"; it is now held by {now.describe()}" if now and now.pid != os.getpid() else ""
        raise LakeLockLost(
            f"this run lost the lake lock {where} ({why}, WENULAKE_LAKE_LOCK_TTL is {ttl:g} s){taken}: "
            f"nothing was committed to {writing}; run the command again once the lake is free (raise "
            "WENULAKE_LAKE_LOCK_TTL if runs stall this long)"
        )

    thread = threading.Thread(target=heartbeat, name="lake-lock-heartbeat", daemon=True)
    thread.start()

    def release() -> None:
        stop.set()
        thread.join(timeout=5)
        # taken over after expiring, or S3 unreachable: it expires by itself
        with contextlib.suppress(Exception):
            client.delete_object(Bucket=bucket, Key=key, IfMatch=state["etag"])

    return release, check
