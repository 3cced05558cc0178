"""What every DAG file shares: default_args (retries, the alert callbacks), the hourly DAGs' catch-up start and
cap, and the JSON-schema patterns of the Params forms. Cheap to import: the scheduler parses DAG files often.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from wenulake.ops_alerts import task_callbacks
from wenulake.settings import Settings

#: Params `start`/`end`: an ISO 8601 UTC instant on the hour (the pipeline's partitions are arrival hours)
HOUR_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:00(:00(\.0+)?)?(Z|\+00:00)$"
#: Params `from_month`/`to_month` of the historical migration
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
#: Param `source` of the historical migration: a folder or an s3:// URL
SOURCE_PATTERN = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|/.+|[^/\s].*)$"


def default_args(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Retries with exponential backoff and the failure/retry alert callbacks (wenulake.ops_alerts)."""
    return {
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        **task_callbacks(),
        **extra,
    }


def _first_hour_local(root: str, stream: str) -> datetime | None:
    """The first arrival hour of a local landing stream: the smallest YYYY/MM/DD/HH folder holding a file."""
    base = os.path.join(root, stream)

    def dirs(path: str, width: int) -> list[str]:
        try:
            names = os.listdir(path)
        except OSError:
            return []
        return sorted(n for n in names if len(n) == width and n.isdigit())

    for year in dirs(base, 4):
        for month in dirs(os.path.join(base, year), 2):
            for day in dirs(os.path.join(base, year, month), 2):
                for hour in dirs(os.path.join(base, year, month, day), 2):
                    folder = os.path.join(base, year, month, day, hour)
                    if any(os.scandir(folder)):
                        return datetime(int(year), int(month), int(day), int(hour), tzinfo=UTC)
    return None


def _first_hour_s3(settings: Settings, stream: str) -> datetime | None:
    from wenulake.storage import s3_client, split_s3_url

    bucket, prefix = split_s3_url(settings.landing_uri)
    client = s3_client(settings.s3_endpoint_url, settings.s3_region, 1, settings.s3_connect_timeout)
    path = f"{prefix.rstrip('/')}/{stream}/".lstrip("/")
    parts: list[str] = []
    for _level in range(4):
        listed = client.list_objects_v2(Bucket=bucket, Prefix=path, Delimiter="/", MaxKeys=1000)
        names = sorted(p["Prefix"][len(path) :].rstrip("/") for p in listed.get("CommonPrefixes", []))
        names = [n for n in names if n.isdigit()]
        if not names:
            return None
        parts.append(names[0])
        path = f"{path}{names[0]}/"
    year, month, day, hour = (int(p) for p in parts)
    return datetime(year, month, day, hour, tzinfo=UTC)


def catchup_start(settings: Settings, stream: str = "sensors") -> datetime:
    """Where an hourly DAG's schedule starts: WENULAKE_SENSORS_CATCHUP_START when set, else the landing's first
    arrival hour of `stream` (remembered in the Airflow home once found), else the current hour: never a fixed
    past date, so unpausing a DAG does not catch up months nobody landed."""
    if settings.sensors_catchup_start is not None:
        start = settings.sensors_catchup_start
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        return start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    remembered = settings.airflow_home_path / f"catchup_start_{stream}"
    try:
        return datetime.fromisoformat(remembered.read_text().strip())
    except (OSError, ValueError):
        pass
    try:
        if settings.landing_uri.startswith("s3://"):
            first = _first_hour_s3(settings, stream)
        else:
            first = _first_hour_local(settings.landing_uri, stream)
    except Exception:  # an unreachable landing must not break parsing the DAG file
        first = None
    if first is None:
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(first.isoformat())
    except OSError:
        pass
    return first


#: the start date of the hourly DAGs when parsed for an in-process run (`wenulake run`, tests): any interval a
#: command asks for must be runnable, whatever the scheduler's catch-up start remembered in this Airflow home
IN_PROCESS_START = datetime(2000, 1, 1, tzinfo=UTC)


def schedule_start(settings: Settings, stream: str = "sensors") -> datetime:
    """An hourly DAG's start_date: `catchup_start` for the scheduler; for in-process runs (wenulake.ops_alerts
    .IN_PROCESS, set by wenulake.orchestrate.load_dag) an early fixed date, so that a run over hours before the
    remembered catch-up start (an older landing, another landing sharing this Airflow home) is not refused."""
    from wenulake import ops_alerts

    return IN_PROCESS_START if ops_alerts.IN_PROCESS else catchup_start(settings, stream)


def task_doc(does: str, reads: str, writes: str, checks: str, on_failure: str) -> str:
    """A task's doc_md (the UI's Task Instance > Details): what it does, reads, writes and checks, and what to do
    when it fails."""
    return (
        f"{does}\n\n"
        f"**Reads:** {reads}\n\n"
        f"**Writes:** {writes}\n\n"
        f"**Checks:** {checks}\n\n"
        f"**On failure:** {on_failure} Every failure and retry publishes one alert (WENULAKE_OPS_TOPIC_ARN or "
        "the notifications file); the task's log says what it read, wrote and quarantined.\n"
    )


#: what every hourly task's failure note starts with
RERUN = (
    "Fix the cause, then clear the task (Clear > Downstream) or rerun the interval: reruns replace exactly "
    "what the interval owns."
)
