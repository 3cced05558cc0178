"""Operational alerts: a task failed or goes to retry, a gate failed, the hourly sensors run is late.

Every DAG sets `task_callbacks()` in its default_args (`on_failure_callback`, `on_retry_callback`) and the sensors
DAG carries `sensors_deadline(settings)` (an Airflow 3 DeadlineAlert: the run of an hour not finished
WENULAKE_SENSORS_DEADLINE_MINUTES after the hour's end). Each event publishes exactly one alert, a JSON object
with `kind` = `ops_alert`, `alert` (task_failed, task_retry, gate_failed, deadline_missed), the run, the task, the
error and `how_to_look` (where the log and the failed rows are), to the SNS topic WENULAKE_OPS_TOPIC_ARN or, when
unset, as one line of the notifications file (WENULAKE_NOTIFICATIONS_FILE, beside the alarm notifications).

Exactly once: every alert has an `alert_id` (DAG, run, task, try, kind); a marker file under
$WENULAKE_HOME/ops/alerts records it once published, and a second call with the same id publishes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wenulake.settings import Settings

log = logging.getLogger(__name__)

ALERT_KIND = "ops_alert"


def dq_query(run_id: str) -> str:
    """The `wenulake sql` command that shows a run's failed expectations (stored in ops.dq_result)."""
    safe = run_id.replace("'", "''")
    return (
        'wenulake sql "select stage, suite, table_name, rows, failed, failed_expectations from ops.dq_result '
        f"where run_id = '{safe}' and not success\""
    )


def _marker(settings: Settings, alert_id: str) -> Path:
    digest = hashlib.sha256(alert_id.encode()).hexdigest()[:32]
    return settings.home.absolute() / "ops" / "alerts" / f"{digest}.json"


def publish(settings: Settings, alert: dict[str, Any]) -> bool:
    """Publish `alert` once (by its alert_id): True when published now, False when it already was."""
    alert = {"kind": ALERT_KIND, "created_at": datetime.now(UTC).isoformat(), **alert}
    marker = _marker(settings, str(alert["alert_id"]))
    if marker.exists():
        log.info("alert %s already published", alert["alert_id"])
        return False
    body = json.dumps(alert, default=str, sort_keys=True)
    if settings.ops_topic_arn:
        import boto3

        from wenulake.storage import aws_config

        client = boto3.client(
            "sns",
            region_name=settings.s3_region,
            endpoint_url=settings.sns_endpoint_url,
            config=aws_config(settings),
        )
        client.publish(
            TopicArn=settings.ops_topic_arn,
            Message=body,
            Subject=f"wenulake {alert['alert']}: {alert.get('dag_id')}.{alert.get('task_id') or 'run'}"[:100],
            MessageAttributes={
                "alert_id": {"DataType": "String", "StringValue": str(alert["alert_id"])},
                "alert": {"DataType": "String", "StringValue": str(alert["alert"])},
            },
        )
        target = settings.ops_topic_arn
    else:
        path = settings.notifications_file_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fh.write(body + "\n")
        target = str(path)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(body)
    log.warning("alert %s published to %s", alert["alert_id"], target)
    return True


def _ui_link(settings: Settings, dag_id: str, run_id: str, task_id: str | None = None) -> str:
    from urllib.parse import quote

    link = f"{settings.airflow_api_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id, safe='')}"
    return f"{link}/tasks/{task_id}" if task_id else link


def task_alert(settings: Settings, context: dict[str, Any], kind: str) -> dict[str, Any]:
    """The alert of a task callback's context (kind task_failed or task_retry; gate_failed for a gate)."""
    from wenulake.errors import GateFailed

    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = str(getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", ""))
    run_id = str(context.get("run_id") or getattr(ti, "run_id", ""))
    task_id = str(getattr(ti, "task_id", ""))
    try_number = int(getattr(ti, "try_number", 0) or 0)
    map_index = int(getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1)
    error = context.get("exception")
    cause = getattr(error, "__cause__", None)
    gate = isinstance(error, GateFailed) or isinstance(cause, GateFailed)
    if gate and kind == "task_failed":
        kind = "gate_failed"
    from wenulake.settings import report_path

    look = [
        f"Airflow UI: {_ui_link(settings, dag_id, run_id, task_id)} (the task's log)",
        f"task report: {report_path(settings, run_id, task_id)}",
    ]
    if gate:
        look.append(f"failed expectations (ops.dq_result): {dq_query(run_id)}")
    interval = [context.get("data_interval_start"), context.get("data_interval_end")]
    return {
        "alert_id": f"{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}/{kind}",
        "alert": kind,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "try_number": try_number,
        "data_interval": [str(v) if v is not None else None for v in interval],
        "error": f"{type(error).__name__}: {error}" if error is not None else None,
        "how_to_look": look,
    }


def on_task_failure(context: dict[str, Any]) -> None:
    """on_failure_callback of every task: one alert (task_failed, or gate_failed for a failed gate)."""
    _safely(context, "task_failed")


def on_task_retry(context: dict[str, Any]) -> None:
    """on_retry_callback of every task: one alert per retry (task_retry)."""
    _safely(context, "task_retry")


def _safely(context: dict[str, Any], kind: str) -> None:
    # an alert that cannot be sent must not hide the task's own error: log it, loudly
    try:
        publish(Settings(), task_alert(Settings(), context, kind))
    except Exception:
        log.exception("could not publish the %s alert", kind)


def task_callbacks() -> dict[str, Any]:
    """default_args entries every DAG sets: the failure and retry callbacks."""
    return {"on_failure_callback": on_task_failure, "on_retry_callback": on_task_retry}


def deadline_missed(context: dict[str, Any] | None = None, **_: Any) -> None:
    """Callback of the sensors DAG's DeadlineAlert (run by Airflow's executor when the scheduler sees the
    deadline pass): one deadline_missed alert for the run."""
    settings = Settings()
    context = context or {}
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id = str(run.get("dag_id", ""))
    run_id = str(run.get("dag_run_id") or run.get("run_id") or "")
    publish(
        settings,
        {
            "alert_id": f"{dag_id}/{run_id}/-/-1/0/deadline_missed",
            "alert": "deadline_missed",
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": None,
            "state": run.get("state"),
            "data_interval": [run.get("data_interval_start"), run.get("data_interval_end")],
            "deadline": str(deadline.get("deadline_time")),
            "error": f"run not finished by its deadline {deadline.get('deadline_time')}",
            "how_to_look": [
                f"Airflow UI: {_ui_link(settings, dag_id, run_id)} (queued? a pool slot, a paused DAG, "
                "a long task)",
                f"wenulake accounting --start {run.get('data_interval_start')} --end "
                f"{run.get('data_interval_end')}",
            ],
        },
    )


#: set by wenulake.orchestrate before it parses the DAG files: in-process runs (`dag.test()`) have no scheduler
#: to watch deadlines, and Airflow 3.3.2's in-process DAG sync failed on the sensors DAG's deadline when a second
#: run followed in the same process ("'dict' object has no attribute 'hex'" loading deadline_alert), so DAGs
#: parsed for in-process runs carry none.
IN_PROCESS = False


def sensors_deadline(
    settings: Settings, after_hour_end: timedelta | None = None, in_process_too: bool = False
) -> Any:
    """The sensors DAG's deadline: a run's logical date is its hour's start, so the deadline is one hour plus
    WENULAKE_SENSORS_DEADLINE_MINUTES after it. None when parsed for in-process runs (unless in_process_too)."""
    if IN_PROCESS and not in_process_too:
        return None
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    late = after_hour_end or timedelta(minutes=settings.sensors_deadline_minutes)
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=timedelta(hours=1) + late,
        callback=SyncCallback(deadline_missed),
        name="sensors_run_late",
    )
