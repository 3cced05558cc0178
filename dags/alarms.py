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

**Unpause this DAG** as well as `sensors`: DAGs are created paused, and a paused alarms DAG raises no alarm for
runs made in the UI. Failures and retries publish one alert each (WENULAKE_OPS_TOPIC_ARN or the notifications file).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

from wenulake import ops_alerts
from wenulake.airflow_home import LAKE_WRITERS_POOL
from wenulake.dag_defaults import IN_PROCESS_START, default_args, task_doc
from wenulake.lineage import attach
from wenulake.settings import Settings

SETTINGS = Settings()
SILVER = Asset("wenulake://lake/silver/reading")

with DAG(
    dag_id="alarms",
    description="Alarms over silver.reading: detect, track, notify (triggered by the silver asset)",
    schedule=[SILVER],
    # in-process runs (`wenulake run`, benches) may cover any hours: a run logically before the start date
    # would create no task instance and "succeed" without evaluating anything
    start_date=IN_PROCESS_START if ops_alerts.IN_PROCESS else pendulum.datetime(2026, 4, 4, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(SETTINGS),
    tags=["alarms", "notifications"],
    doc_md=__doc__,
) as dag:

    @task(
        task_id="detect_alarms",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Evaluate the alarm rules on the silver periods not evaluated yet (ops.alarm_coverage).",
            "silver.reading of new periods; thresholds from the catalog; gold.fact_alarm.",
            "gold.fact_alarm (open/closed/retracted), ops.notification_outbox, ops.alarm_coverage.",
            "threshold, flatline, gap, anomaly and counter_reset rules.",
            "nothing is lost: the next run evaluates what this one did not. Clear the task to retry now.",
        ),
    )
    def detect_alarms(**context):
        from wenulake import tasks

        return tasks.detect_alarms(context)

    @task(
        task_id="deliver_notifications",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Publish each undelivered alarm transition exactly once.",
            "ops.notification_outbox.",
            "SNS WENULAKE_ALARM_TOPIC_ARN or the notifications file; delivered_at in the outbox.",
            "each transition delivered once across reruns.",
            "the outbox keeps undelivered transitions: check the topic/endpoint and clear the task.",
        ),
    )
    def deliver_notifications(**context):
        from wenulake import tasks

        return tasks.deliver_notifications(context)

    @task(
        task_id="load_alarms",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Replace the warehouse's fact_alarm with gold.fact_alarm.",
            "gold.fact_alarm.",
            "warehouse fact_alarm (stage file, COPY, one transaction).",
            "none here.",
            "check WENULAKE_WAREHOUSE_URL and clear the task.",
        ),
    )
    def load_alarms(**context):
        from wenulake import tasks

        return tasks.load_alarms(context)

    @task(
        task_id="open_work_orders",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Publish one order.created per alarm of severity WENULAKE_WORKORDER_ALARM_SEVERITY, exactly once.",
            "gold.fact_alarm; ops.work_order_request.",
            "WENULAKE_WORKORDER_TOPIC_ARN or the work-order landing (the current arrival hour, as Firehose "
            "would deliver it); "
            "ops.work_order_request.",
            "one order per alarm across reruns.",
            "requests stay recorded; clear the task to publish the rest.",
        ),
    )
    def open_work_orders(**context):
        from wenulake import tasks

        return tasks.open_work_orders(context)

    detected = detect_alarms()
    detected >> [load_alarms(), deliver_notifications(), open_work_orders()]

    attach(dag, SETTINGS)  # OpenLineage inputs/outputs of every task (wenulake.lineage)
