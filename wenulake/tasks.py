"""What DAG tasks call. Each function takes the Airflow context, works out its interval, runs one step of a job
and returns a small JSON-able summary (shown as the task's XCom in the UI). The wrapper (`_wrap`) records every
try's run metrics (rows, bytes, seconds, peak memory) in ops.run_metric (wenulake.runmetrics).

Errors that a retry cannot fix (bad keyring, bad configuration, failed gate) fail the task at once
(`AirflowFailException`); others (an S3 endpoint down) go through the DAG's retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from wenulake import logmask, runmetrics
from wenulake.errors import ConfigError, GateFailed, KeyringError, LakeLockLost, LandingIncomplete
from wenulake.settings import Settings, report_path
from wenulake.timeutil import Interval, parse_instant

log = logging.getLogger(__name__)

PERMANENT: tuple[type[Exception], ...] = (
    ConfigError,
    GateFailed,
    KeyringError,
    LandingIncomplete,
    LakeLockLost,
)


def interval_of(context: dict[str, Any]) -> Interval:
    """The run's interval: Params `start`/`end` when given (CLI ranges, backfills), else the data interval."""
    params = context.get("params") or {}
    start = params.get("start") or None
    end = params.get("end") or None
    if start and end:
        return Interval(parse_instant(str(start)), parse_instant(str(end)))
    if start or end:
        raise ConfigError("give both Params start and end, or neither")
    return Interval(context["data_interval_start"], context["data_interval_end"])


def _task(
    func: Callable[[Settings, Interval, str], dict[str, Any]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return _wrap(func, lambda context: interval_of(context))


def _untimed(func: Callable[[Settings, str], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A task that works on what is new rather than on an interval (the alarms DAG, asset-triggered)."""
    return _wrap(
        lambda settings, _interval, run_id: func(settings, run_id), lambda context: None, func.__name__
    )


def _wrap(
    func: Callable[[Settings, Any, str], dict[str, Any]],
    interval_from: Callable[[dict[str, Any]], Interval | None],
    name: str | None = None,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    @wraps(func)
    def run(context: dict[str, Any]) -> dict[str, Any]:
        settings = Settings()
        logmask.install(settings)
        run_id = str(context["run_id"])
        task_id = context["ti"].task_id if context.get("ti") else (name or func.__name__)
        path = report_path(settings, run_id, task_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        meter = runmetrics.Meter()
        interval = None
        try:
            interval = interval_from(context)
            summary = func(settings, interval, run_id)
        except Exception as raw:
            from wenulake.failures import DiskFull, explain

            exc = explain(raw, settings) or raw
            path.write_text(
                json.dumps({"task": task_id, "ok": False, "error": str(exc), "type": type(exc).__name__})
            )
            runmetrics.record(settings, meter.row(context, task_id, interval, None, exc))
            if isinstance(exc, (*PERMANENT, DiskFull)):
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(str(exc)) from raw
            if exc is not raw:
                raise exc from raw
            raise
        finally:
            _release_memory()
        path.write_text(json.dumps({"task": task_id, "ok": True, "summary": summary}, default=str))
        log_summary(task_id, summary)
        runmetrics.record(settings, meter.row(context, task_id, interval, summary, None))
        return summary

    return run


def log_summary(task_id: str, summary: Any) -> None:
    """What a task did, at INFO in its log (the UI's Logs tab): objects, records, rows written, quarantine by
    reason, expectations; one line per top-level key so a long summary stays readable."""
    if not isinstance(summary, dict):
        log.info("%s done: %s", task_id, summary)
        return
    log.info("%s done", task_id)
    for key, value in summary.items():
        log.info("  %s: %s", key, json.dumps(value, default=str) if isinstance(value, dict | list) else value)


def _release_memory() -> None:
    """Hand the task's freed Arrow buffers back to the OS: in-process runs (dag.test, the CLI) run every task of
    a DAG in one process, where the allocator's cached pages would otherwise add up across tasks. (No gc.collect:
    with Airflow and GX loaded it costs half a second a task.)"""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def allow_missing_objects(context: dict[str, Any]) -> bool:
    """Param `allow_missing_objects`: accept that the landing lost objects of hours already ingested."""
    value = (context.get("params") or {}).get("allow_missing_objects")
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _ingest(
    func: Callable[[Settings, Interval, str, bool], dict[str, Any]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An ingest task: like `_task`, and it hands over the run's `allow_missing_objects` Param."""

    @wraps(func)
    def run(context: dict[str, Any]) -> dict[str, Any]:
        allow = allow_missing_objects(context)
        if allow:
            log.warning("run %s: Param allow_missing_objects is set", context.get("run_id"))
        step = _wrap(lambda s, i, r: func(s, i, r, allow), interval_of, func.__name__)
        return step(context)

    return run


@_ingest
def ingest_bronze(settings: Settings, interval: Interval, run_id: str, allow_missing: bool) -> dict[str, Any]:
    from wenulake.pipeline import bronze

    return bronze.ingest(settings, interval, run_id, allow_missing_objects=allow_missing).as_dict()


@_task
def gate_bronze(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import bronze

    return bronze.publish(settings, interval, run_id).as_dict()


@_task
def enrich_silver(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import silver

    return silver.enrich(settings, interval, run_id).as_dict()


@_task
def gate_silver(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import silver

    return silver.publish(settings, interval, run_id).as_dict()


@_task
def stage_gold(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import gold

    return gold.stage(settings, interval, run_id)


@_task
def compute_stats(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import stats

    return stats.compute(settings, interval, run_id)


@_task
def gate_stats(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import stats

    return stats.publish(settings, interval, run_id).as_dict()


@_task
def purge_stats(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import stats

    return stats.purge(settings)


@_task
def load_warehouse(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import gold

    return gold.load(settings, interval, run_id)


@_task
def gate_warehouse(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import gold

    return gold.publish(settings, interval, run_id).as_dict()


@_ingest
def ingest_workorder_events(
    settings: Settings, interval: Interval, run_id: str, allow_missing: bool
) -> dict[str, Any]:
    from wenulake.pipeline import workorders

    return workorders.ingest(settings, interval, run_id, allow_missing_objects=allow_missing).as_dict()


@_task
def gate_workorder_events(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import workorders

    return workorders.publish_events(settings, interval, run_id).as_dict()


@_task
def build_work_orders(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import workorders

    return workorders.build(settings, interval, run_id)


@_task
def gate_work_orders(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import workorders

    return workorders.publish_orders(settings, interval, run_id).as_dict()


@_task
def load_work_orders(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import workorders

    return workorders.load_warehouse(settings, interval, run_id)


@_task
def maintain(settings: Settings, interval: Interval, run_id: str) -> dict[str, Any]:
    from wenulake.maintenance import maintain as run_maintenance

    report = run_maintenance(settings)
    log.info("maintenance report:\n%s", report.table_text())
    return report.as_dict()


def _detect_alarms(settings: Settings, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import alarms

    return alarms.detect(settings, run_id)


def _deliver_notifications(settings: Settings, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import alarms

    return alarms.deliver(settings, run_id)


def _load_alarms(settings: Settings, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import alarms

    return alarms.load_warehouse(settings, run_id)


def _open_work_orders(settings: Settings, run_id: str) -> dict[str, Any]:
    from wenulake.pipeline import alarm_orders

    return alarm_orders.open_orders(settings, run_id)


detect_alarms = _untimed(_detect_alarms)
open_work_orders = _untimed(_open_work_orders)
load_alarms = _untimed(_load_alarms)
deliver_notifications = _untimed(_deliver_notifications)


def load_catalog(context: dict[str, Any]) -> dict[str, Any]:
    """Task `load_catalog` of the catalog_sync DAG: Param `path` (default $WENULAKE_HOME/catalog)."""
    from pathlib import Path

    from wenulake.catalog.csvfiles import CatalogInvalid
    from wenulake.catalog.store import CatalogStore

    settings = Settings()
    path = Path((context.get("params") or {}).get("path") or settings.home / "catalog")
    try:
        report = CatalogStore(settings).load(path)
    except (CatalogInvalid, ConfigError) as exc:
        from airflow.sdk.exceptions import AirflowFailException

        details = getattr(exc, "problems", [])
        for problem in details:
            log.error("%s", problem)
        raise AirflowFailException(str(exc)) from exc
    log.info("%s", report)
    return {"path": str(path), "report": str(report)}


def apply_catalog_jobs(context: dict[str, Any]) -> dict[str, Any]:
    """Task `apply_catalog_jobs` of the catalog_sync DAG: the catalog service's queued work. Replays run here;
    reprocessing is handed to Airflow's REST API as a backfill when a scheduler runs (as under `make airflow`),
    else run here; jobs already handed over are followed to their end."""
    from wenulake.catalog.store import CatalogStore
    from wenulake.service import jobs

    settings = Settings()
    store = CatalogStore(settings)
    store.migrate()
    finished = jobs.run_pending(settings, store.engine, jobs.SERVER_KINDS)
    finished += jobs.apply_reprocessing(settings, store.engine)
    for job in finished:
        log.info("job %s %s: %s: %s", job["job_id"], job["kind"], job["status"], job["result"])
    failed = [job["job_id"] for job in finished if job["status"] == "failed"]
    if failed:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"catalog job(s) {failed} failed (see the backoffice's Work page)")
    return {"jobs": {str(job["job_id"]): job["status"] for job in finished}}


def load_catalog_on_demand(context: dict[str, Any]) -> dict[str, Any]:
    """Task `load_catalog`: a manual run loads the directory; the scheduled runs (which drain the queue) skip it."""
    dag_run = context.get("dag_run")
    if dag_run is not None and str(getattr(dag_run, "run_type", "manual")) not in (
        "manual",
        "DagRunType.MANUAL",
    ):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("scheduled run: only the queued catalog work is applied")
    return load_catalog(context)


def _migration_params(context: dict[str, Any]) -> dict[str, Any]:
    params = context.get("params") or {}
    source = str(params.get("source") or "").strip()
    if not source:
        raise ConfigError("Param source is required: a folder or s3:// URL of legacy exports")
    return {
        "source": source,
        "from_month": params.get("from_month") or None,
        "to_month": params.get("to_month") or None,
        "redo": bool(params.get("redo")),
    }


def _fail(exc: Exception) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(str(exc)) from exc


def plan_months(context: dict[str, Any]) -> list[str]:
    """Task `plan_months` of historical_migration: the months its mapped task runs."""
    from wenulake.pipeline import migrate

    settings = Settings()
    try:
        p = _migration_params(context)
        first, last = migrate.month_range(p["from_month"], p["to_month"])
        todo, skipped = migrate.plan(settings, p["source"], first, last, p["redo"])
    except (ConfigError, ValueError) as exc:
        _fail(exc)
    log.info("months to migrate: %s; already done: %s", todo, skipped)
    return todo


def migrate_month(context: dict[str, Any], month: str) -> dict[str, Any]:
    """Mapped task `migrate_month` of historical_migration: one month, recorded in ops.migration_ledger."""
    from wenulake.pipeline import migrate

    settings = Settings()
    p = _migration_params(context)
    try:
        report = migrate.migrate_month(settings, p["source"], month)
    except PERMANENT as exc:
        _fail(exc)
    summary = report.as_dict()
    log.info("%s", summary)
    return summary


def summarise_migration(context: dict[str, Any]) -> dict[str, Any]:
    """Task `summarise` of historical_migration: the ledger rows of the Params' range."""
    from wenulake.pipeline import migrate

    settings = Settings()
    p = _migration_params(context)
    first, last = migrate.month_range(p["from_month"], p["to_month"])
    rows = [
        row
        for month, row in sorted(migrate.ledger(settings).items())
        if (first is None or month >= first) and (last is None or month <= last)
    ]
    keys = ("rows", "readings", "malformed_row", "unknown_device", "implausible_timestamp", "unknown_channel",
            "duplicates", "live_wins")  # fmt: skip
    summary = {
        "months": {row["month"]: row["status"] for row in rows},
        **{key: sum(int(row[key]) for row in rows) for key in keys},
    }
    log.info("%s", summary)
    return summary
