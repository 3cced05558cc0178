"""alarms: rules over silver readings, alarm lifecycle, notifications. Separate from processing.

Scheduled by the `silver.reading` asset (data-aware): every sensors run that publishes silver triggers one
alarms run, so processing never waits for alarms and alarms can be rerun alone (`wenulake run alarms`).

detect_alarms -> [load_alarms, deliver_notifications, open_work_orders]:
- detect_alarms evaluates the silver runs not evaluated yet (ops.alarm_coverage): threshold, flatline, gap,
  anomaly and counter_reset rules; gold.fact_alarm (stable alarm_id, open/closed/retracted); one
  ops.notification_outbox row per transition;
- load_alarms replaces the warehouse's fact_alarm with gold.fact_alarm (stage file, COPY, one transaction);
- deliver_notifications publishes each undelivered transition once, to the SNS topic WENULAKE_ALARM_TOPIC_ARN
  or to the JSON-lines file WENULAKE_NOTIFICATIONS_FILE, with retries;
- open_work_orders publishes one order.created per alarm of severity WENULAKE_WORKORDER_ALARM_SEVERITY (default
  critical), exactly once, to WENULAKE_WORKORDER_TOPIC_ARN or straight into the work-order landing.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset, task

from wenulake.airflow_home import LAKE_WRITERS_POOL
from wenulake.settings import Settings

SETTINGS = Settings()
SILVER = Asset("wenulake://lake/silver/reading")

with DAG(
    dag_id="alarms",
    description="Alarms over silver.reading: detect, track, notify (triggered by the silver asset)",
    schedule=[SILVER],
    start_date=pendulum.datetime(2026, 4, 4, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": SETTINGS.task_retries,
        "retry_delay": timedelta(seconds=SETTINGS.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
    tags=["alarms", "notifications"],
    doc_md=__doc__,
) as dag:

    @task(task_id="detect_alarms", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def detect_alarms(**context):
        """Evaluate the rules on the new silver periods; update fact_alarm; queue transitions."""
        from wenulake import tasks

        return tasks.detect_alarms(context)

    @task(task_id="deliver_notifications", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def deliver_notifications(**context):
        """Publish each queued transition exactly once (SNS or JSON-lines file)."""
        from wenulake import tasks

        return tasks.deliver_notifications(context)

    @task(task_id="load_alarms", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def load_alarms(**context):
        """gold.fact_alarm, whole, into the warehouse's fact_alarm (stage file, COPY, one transaction)."""
        from wenulake import tasks

        return tasks.load_alarms(context)

    @task(task_id="open_work_orders", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def open_work_orders(**context):
        """One order.created per qualifying alarm, published once (work-order SNS topic or the landing)."""
        from wenulake import tasks

        return tasks.open_work_orders(context)

    detected = detect_alarms()
    detected >> [load_alarms(), deliver_notifications(), open_work_orders()]
