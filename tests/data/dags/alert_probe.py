"""alert_probe: a test DAG for the alert callbacks and the deadline (tests/test_ops_alerts.py)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from wenulake.dag_defaults import default_args
from wenulake.ops_alerts import sensors_deadline
from wenulake.settings import Settings

SETTINGS = Settings()

with DAG(
    dag_id="alert_probe",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=default_args(SETTINGS, retries=0, retry_delay=timedelta(seconds=0)),
    deadline=sensors_deadline(SETTINGS, timedelta(seconds=1), in_process_too=True),
) as dag:

    @task(task_id="fine")
    def fine():
        return 1

    @task(task_id="broken")
    def broken():
        raise RuntimeError("probe failure: the disk is full")

    @task(task_id="flaky", retries=1)
    def flaky(**context):
        if context["ti"].try_number < 2:
            raise RuntimeError("probe: transient")
        return "ok on try 2"

    fine() >> [broken(), flaky()]
