"""Operational alerts: a failing task, a retry and a missed deadline each publish exactly one alert (a real
in-process DAG run of tests/data/dags/alert_probe.py), to the notifications file or to SNS (moto's server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from wenulake import ops_alerts
from wenulake.errors import GateFailed
from wenulake.settings import Settings

PROBE = Path(__file__).parent / "data" / "dags" / "alert_probe.py"


def alerts(settings: Settings) -> list[dict[str, Any]]:
    path = settings.notifications_file_path
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("kind") == "ops_alert"]


def test_an_alert_is_published_once_to_the_notifications_file(tmp_path, monkeypatch):
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    settings = Settings()
    alert = {
        "alert_id": "sensors/run1/gate_bronze/-1/1/task_failed",
        "alert": "task_failed",
        "dag_id": "sensors",
    }
    assert ops_alerts.publish(settings, alert) is True
    assert ops_alerts.publish(settings, alert) is False  # a second callback of the same event sends nothing
    assert [a["alert_id"] for a in alerts(settings)] == [alert["alert_id"]]


def test_a_failed_gate_alert_names_the_expectations_and_the_dq_result_query(tmp_path, monkeypatch):
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))

    class TI:
        dag_id, task_id, run_id, try_number, map_index = "sensors", "gate_bronze", "scheduled__x", 1, -1

    gate = GateFailed(
        "bronze gate failed, nothing published: bronze_sensor_message on x: FAILED (not_null(ts))"
    )
    try:  # wenulake.tasks raises AirflowFailException from the GateFailed (importing Airflow here would fix its
        raise RuntimeError(str(gate)) from gate  # configuration before the DAG tests' home is prepared)
    except RuntimeError as exc:
        error = exc
    ops_alerts.on_task_failure({"ti": TI(), "run_id": "scheduled__x", "exception": error})
    [alert] = alerts(Settings())
    assert alert["alert"] == "gate_failed"
    assert "not_null(ts)" in alert["error"]
    assert any("ops.dq_result" in look and "scheduled__x" in look for look in alert["how_to_look"])


@pytest.mark.s3
def test_alerts_go_to_the_ops_topic_exactly_once(tmp_path, monkeypatch, moto_endpoint):
    import boto3

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name="wenulake-ops")["TopicArn"]
    queue = sqs.create_queue(QueueName="ops")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("WENULAKE_OPS_TOPIC_ARN", topic)
    monkeypatch.setenv("WENULAKE_SNS_ENDPOINT_URL", moto_endpoint)
    settings = Settings()
    alert = {
        "alert_id": "sensors/run2/load_warehouse/-1/2/task_retry",
        "alert": "task_retry",
        "dag_id": "sensors",
    }
    ops_alerts.publish(settings, alert)
    ops_alerts.publish(settings, alert)
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    bodies = [json.loads(json.loads(m["Body"])["Message"]) for m in got]
    assert [b["alert_id"] for b in bodies] == [alert["alert_id"]]
    assert not settings.notifications_file_path.exists()  # the topic replaces the file


PROBE_RUN = """
import json, sys
from datetime import datetime, UTC
from wenulake.orchestrate import run_with_conf
from wenulake.settings import Settings
from wenulake.timeutil import Interval

logical = datetime(2026, 1, 2, tzinfo=UTC)
report = run_with_conf(Settings(), "alert_probe", Interval(logical, logical.replace(hour=1)), {}, logical)
print(json.dumps({"run_id": report.run_id, "tasks": {t.task_id: t.state for t in report.tasks}}))
"""


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One run of the probe DAG: `fine` succeeds, `broken` fails (no retries), `flaky` fails once then passes;
    its deadline (one second after the hour following its logical date, long past) is missed.
    Run in a process of its own: Airflow fixes its DAG bundles (the dags folder) the first time a process uses
    them, and the probe lives in a dags folder of its own."""
    from wenulake.airflow_home import prepare

    base = tmp_path_factory.mktemp("alerts")
    (base / "dags").mkdir()
    shutil.copy(PROBE, base / "dags" / PROBE.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WENULAKE_HOME", str(base / "home"))
        mp.setenv("WENULAKE_DAGS_FOLDER", str(base / "dags"))
        settings = Settings()
        began = datetime.now(UTC)
        done = subprocess.run(
            [sys.executable, "-c", PROBE_RUN], capture_output=True, text=True, check=False, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        ran = json.loads(done.stdout.strip().splitlines()[-1])
        report = SimpleNamespace(
            run_id=ran["run_id"],
            tasks=[SimpleNamespace(task_id=k, state=v) for k, v in ran["tasks"].items()],
        )
        prepare(settings)  # this process's Airflow on the same metadata database (the deadline test reads it)
        after_run = alerts(settings)
        yield {"settings": settings, "report": report, "after_run": after_run, "began": began}


@pytest.mark.slow
@pytest.mark.airflow
def test_a_failing_task_publishes_exactly_one_alert(probe_run):
    report = probe_run["report"]
    states = {t.task_id: t.state for t in report.tasks}
    assert states == {"fine": "success", "broken": "failed", "flaky": "success"}
    failed = [a for a in probe_run["after_run"] if a["alert"] == "task_failed"]
    assert len(failed) == 1
    [alert] = failed
    assert (alert["dag_id"], alert["task_id"], alert["run_id"]) == ("alert_probe", "broken", report.run_id)
    assert "the disk is full" in alert["error"]
    assert any("/dags/alert_probe/runs/" in look for look in alert["how_to_look"])


@pytest.mark.slow
@pytest.mark.airflow
def test_a_retry_publishes_one_alert_and_a_success_none(probe_run):
    retries = [a for a in probe_run["after_run"] if a["alert"] == "task_retry"]
    assert [(a["task_id"], a["try_number"]) for a in retries] == [("flaky", 1)]
    assert not [a for a in probe_run["after_run"] if a["task_id"] == "fine"]
    assert len(probe_run["after_run"]) == 2


@pytest.mark.slow
@pytest.mark.airflow
def test_a_missed_deadline_publishes_exactly_one_alert(probe_run):
    """The scheduler's deadline step (select the run's expired deadlines, handle_miss), then the executor's
    callback runner, as Airflow runs them; done twice, it still alerts once."""
    import structlog
    from airflow.models.dagrun import DagRun
    from airflow.models.deadline import Deadline
    from airflow.sdk.execution_time.callback_supervisor import execute_callback
    from airflow.utils.session import create_session
    from sqlalchemy import select

    settings, run_id = probe_run["settings"], probe_run["report"].run_id
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WENULAKE_HOME", str(settings.home))
        for _ in range(2):
            with create_session() as session:
                query = (
                    select(Deadline)
                    .join(DagRun, Deadline.dagrun_id == DagRun.id)
                    .where(DagRun.dag_id == "alert_probe", DagRun.run_id == run_id)
                    .where(Deadline.deadline_time < datetime.now(UTC))
                )
                deadlines = list(session.scalars(query))
                assert len(deadlines) == 1
                [deadline] = deadlines
                if not deadline.missed:
                    deadline.handle_miss(session)
                data = deadline.callback.data
                ok, error = execute_callback(data["path"], data["kwargs"], None, None, structlog.get_logger())
                assert ok, error
    late = [a for a in alerts(settings) if a["alert"] == "deadline_missed"]
    assert len(late) == 1
    assert (late[0]["run_id"], late[0]["dag_id"]) == (run_id, "alert_probe")


@pytest.mark.slow
@pytest.mark.airflow
def test_an_in_process_run_shows_its_real_interval_and_duration_in_the_ui(probe_run):
    """`wenulake run`'s runs showed a one-hour interval and a duration of months (issue 21)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.run_id == probe_run["report"].run_id)).one()
        assert (run.data_interval_start, run.data_interval_end) == (
            datetime(2026, 1, 2, tzinfo=UTC),
            datetime(2026, 1, 2, 1, tzinfo=UTC),
        )
        assert run.start_date >= probe_run["began"]
        assert (run.end_date - run.start_date).total_seconds() < 600
