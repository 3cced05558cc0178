"""WENULAKE_SPARK_MODE=emr-serverless: the sensors DAG's Spark steps are EMR Serverless job runs.

The submission runs for real: the Amazon provider's EmrServerlessStartJobOperator (through wenulake's subclass)
calls moto's EMR Serverless API in server mode on 127.0.0.1 over HTTP (AWS_ENDPOINT_URL_EMR_SERVERLESS). moto
creates every job run SUCCESS at once and has no API to change a run's state, so the tests that need a run to
be RUNNING first and to end FAILED or SUCCESS later set that state in moto's backend (the server runs in this
process), from a thread, while the operator polls GetJobRun over HTTP.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from wenulake.emr import job_environment, spark_submit_parameters
from wenulake.settings import Settings

pytestmark = pytest.mark.s3

ROOT = Path(__file__).resolve().parent.parent
ROLE = "arn:aws:iam::123456789012:role/wenulake-test-spark-job"
START, END = "2026-04-04T01:00:00Z", "2026-04-04T02:00:00Z"
RUN_ID = "scheduled__2026-04-04T01:00:00+00:00"


class RecordingTI:
    """The slice of a task instance the operator touches: its extra links' XComs."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture(autouse=True, scope="module")
def airflow_configured() -> None:
    """Airflow reads its configuration once, at import: point it at the session's Airflow home first (the
    operator imports Airflow), as every test module that imports Airflow does."""
    from wenulake.airflow_home import prepare

    prepare(Settings())


@pytest.fixture
def emr(moto_endpoint, monkeypatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_EMR_SERVERLESS", moto_endpoint)
    client = boto3.client("emr-serverless", region_name="us-east-1", endpoint_url=moto_endpoint)
    app = client.create_application(name="wenulake-test-spark", releaseLabel="emr-7.9.0", type="SPARK")
    return {"client": client, "application_id": app["applicationId"]}


def emr_settings(application_id: str, **more: Any) -> Settings:
    fields: dict[str, Any] = {
        "spark_mode": "emr-serverless",
        "emr_application_id": application_id,
        "emr_job_role_arn": ROLE,
        "emr_jobs_uri": "s3://wenulake-test-dags/jobs",
        "emr_py_files_uri": "s3://wenulake-test-dags/dist/wenulake-0.1.0.zip",
        "emr_log_uri": "s3://wenulake-test-logs/emr",
        "emr_poll_seconds": 1,
        "emr_max_polls": 20,
        "lake": "s3://wenulake-test-lake/lake",
        "landing": "s3://wenulake-test-landing/firehose",
        "keyring": "arn:aws:secretsmanager:us-east-1:123456789012:secret:wenulake-keyring",
    }
    return Settings(**{**fields, **more})


def operator(settings: Settings, task_id: str = "ingest_bronze"):
    from wenulake.spark_steps import spark_step

    return spark_step(settings, task_id, "a Spark step")


def context(**params: Any) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "data_interval_start": datetime(2026, 4, 4, 1, tzinfo=UTC),
        "data_interval_end": datetime(2026, 4, 4, 2, tzinfo=UTC),
        "params": params,
        "ti": RecordingTI(),
    }


def set_run_state(application_id: str, state: str, details: str | None = None, after: float = 0.0):
    """In a thread: wait until the application has a job run, (wait `after` s,) then give it `state`."""
    from moto.emrserverless.models import emrserverless_backends

    backend = emrserverless_backends["123456789012"]["us-east-1"]
    seen: dict[str, float] = {}

    def flip() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not backend.job_runs.get(application_id):
            time.sleep(0.05)
        seen["started"] = time.monotonic()
        time.sleep(after)
        run = backend.job_runs[application_id][-1]
        run.state, run.state_details = state, details
        seen["flipped"] = time.monotonic()

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    return thread, seen


def test_the_spark_step_is_a_job_run_of_the_entry_point_with_the_interval_and_the_settings(emr):
    settings = emr_settings(emr["application_id"])
    op = operator(settings)
    job_run_id = op.execute(context())

    run = emr["client"].get_job_run(applicationId=emr["application_id"], jobRunId=job_run_id)["jobRun"]
    assert run["state"] == "SUCCESS"
    assert run["executionRole"] == ROLE
    assert run["name"] == f"wenulake-bronze-{RUN_ID}"
    submit = run["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == "s3://wenulake-test-dags/jobs/bronze.py"
    assert submit["entryPointArguments"] == [
        "--start",
        START,
        "--end",
        END,
        "--run-id",
        RUN_ID,
        "--step",
        "stage",
    ]
    params = submit["sparkSubmitParameters"].split()
    assert params[:2] == ["--py-files", "s3://wenulake-test-dags/dist/wenulake-0.1.0.zip"]
    confs = dict(params[i + 1].split("=", 1) for i, p in enumerate(params) if p == "--conf")
    for where in ("spark.emr-serverless.driverEnv", "spark.executorEnv"):
        assert confs[f"{where}.WENULAKE_LAKE"] == "s3://wenulake-test-lake/lake"
        assert confs[f"{where}.WENULAKE_LANDING"] == "s3://wenulake-test-landing/firehose"
        assert confs[f"{where}.WENULAKE_KEYRING"].startswith("arn:aws:secretsmanager:")
        assert confs[f"{where}.WENULAKE_SPARK_MODE"] == "emr-serverless"
        assert confs[f"{where}.WENULAKE_HOME"] == "/tmp/wenulake"
        assert not any(k.startswith(f"{where}.WENULAKE_EMR_") for k in confs)
        assert f"{where}.WENULAKE_SPARK_MASTER" not in confs
    assert confs["spark.driver.memory"] == settings.spark_driver_memory
    assert run["configurationOverrides"] == {
        "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://wenulake-test-logs/emr"}}
    }


def test_params_override_the_interval_and_allow_missing_objects_travels_to_bronze_only(emr):
    settings = emr_settings(emr["application_id"])
    wide = {"start": "2026-04-04T00:00:00Z", "end": "2026-04-05T00:00:00Z", "allow_missing_objects": True}
    bronze = operator(settings, "ingest_bronze").execute(context(**wide))
    silver = operator(settings, "enrich_silver").execute(context(**wide))
    runs = {
        job_run_id: emr["client"].get_job_run(applicationId=emr["application_id"], jobRunId=job_run_id)[
            "jobRun"
        ]
        for job_run_id in (bronze, silver)
    }
    bronze_submit = runs[bronze]["jobDriver"]["sparkSubmit"]
    silver_submit = runs[silver]["jobDriver"]["sparkSubmit"]
    assert bronze_submit["entryPointArguments"][:4] == ["--start", wide["start"], "--end", wide["end"]]
    assert bronze_submit["entryPointArguments"][-1] == "--allow-missing-objects"
    assert silver_submit["entryPoint"] == "s3://wenulake-test-dags/jobs/silver.py"
    assert "--allow-missing-objects" not in silver_submit["entryPointArguments"]


def test_the_task_waits_while_the_run_is_running_then_succeeds(emr, monkeypatch):
    import moto.emrserverless.models as models

    monkeypatch.setattr(models, "JOB_STATUS", "RUNNING")
    thread, seen = set_run_state(emr["application_id"], "SUCCESS", after=2.5)
    started = time.monotonic()
    job_run_id = operator(emr_settings(emr["application_id"])).execute(context())
    done = time.monotonic()
    thread.join(5)
    assert job_run_id
    assert done >= seen["flipped"], "the task returned before the job run succeeded"
    assert done - started >= 2.5


def test_a_failed_job_run_fails_the_task_with_its_reason(emr, monkeypatch):
    import moto.emrserverless.models as models
    from airflow.exceptions import AirflowException

    monkeypatch.setattr(models, "JOB_STATUS", "RUNNING")
    reason = "Job failed, ExitCode: 1. Last few exceptions: wenulake.errors.KeyringError: unknown key k9"
    thread, _ = set_run_state(emr["application_id"], "FAILED", reason, after=1.5)
    with pytest.raises(AirflowException) as failed:
        operator(emr_settings(emr["application_id"])).execute(context())
    thread.join(5)
    message = str(failed.value)
    assert "ended FAILED" in message
    assert "jobs/bronze.py" in message
    assert reason in message


def test_a_run_still_running_after_the_last_check_is_cancelled_and_fails_the_task(emr, monkeypatch):
    import moto.emrserverless.models as models
    from airflow.exceptions import AirflowException

    monkeypatch.setattr(models, "JOB_STATUS", "RUNNING")
    op = operator(emr_settings(emr["application_id"], emr_max_polls=2))
    with pytest.raises(AirflowException, match="ended CANCELLED"):
        op.execute(context())
    run = emr["client"].get_job_run(applicationId=emr["application_id"], jobRunId=op.job_id)["jobRun"]
    assert run["state"] == "CANCELLED"


def test_missing_emr_settings_are_one_clear_error_at_parse_time():
    from wenulake.errors import ConfigError

    with pytest.raises(ConfigError, match="WENULAKE_EMR_APPLICATION_ID, WENULAKE_EMR_JOB_ROLE_ARN"):
        operator(Settings(spark_mode="emr-serverless"))


def test_settings_with_a_password_are_never_sent_to_a_job_run():
    from wenulake.errors import ConfigError

    settings = emr_settings("00abc", catalog_url="postgresql://wenulake:hunter2@db:5432/catalog")
    with pytest.raises(ConfigError, match="WENULAKE_CATALOG_URL holds a password"):
        job_environment(settings)
    # the warehouse is loaded by Airflow tasks, not by the Spark steps: its URL is not sent at all
    settings = emr_settings("00abc", warehouse_url="postgresql://wenulake:hunter2@db:5432/wh")
    assert "hunter2" not in spark_submit_parameters(settings)


def test_the_sensors_dag_submits_its_spark_steps_in_emr_mode_and_keeps_its_shape(emr, monkeypatch):
    from wenulake.emr_operator import SparkJobRunOperator

    for key, value in emr_settings(emr["application_id"]).to_env().items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("sensors_emr", ROOT / "dags" / "sensors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    for task_id in ("ingest_bronze", "enrich_silver"):
        assert isinstance(dag.get_task(task_id), SparkJobRunOperator)
    assert not isinstance(dag.get_task("gate_bronze"), SparkJobRunOperator)
    assert dag.get_task("gate_bronze").upstream_task_ids == {"ingest_bronze"}
    assert dag.get_task("enrich_silver").upstream_task_ids == {"gate_bronze"}
    assert dag.get_task("gate_silver").upstream_task_ids == {"enrich_silver"}
