"""workorders: field-service work-order events (SNS -> Firehose -> landing/workorders/...), hourly by arrival hour.

ingest_workorder_events -> gate_workorder_events -> build_work_orders -> gate_work_orders -> load_work_orders:
- ingest_workorder_events parses the interval's objects (SNS envelopes or raw delivery, both framings) and stages
  the well-formed copies, the parse quarantine and the ledger;
- gate_workorder_events validates them (bronze_work_order_event suite + accounting) and publishes the interval's hours;
- build_work_orders rebuilds every order the interval touched from all its events (duplicates removed, in
  occurred_at order): the event statuses, the order snapshot, the lifecycle quarantine;
- gate_work_orders validates (work_order suites) and replaces exactly those orders;
- load_work_orders loads fact_work_order, fact_work_order_event, dim_technician, dim_material into the warehouse.
Publishers run in the lake writers' pool (one slot, shared with the sensors, alarms and migration DAGs: they
share ops.quarantine and the warehouse). Params `start`/`end` (ISO 8601 UTC) override the data interval.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from wenulake.airflow_home import LAKE_WRITERS_POOL
from wenulake.settings import Settings

SETTINGS = Settings()
WORK_ORDERS = Asset("wenulake://lake/gold/work_order")

with DAG(
    dag_id="workorders",
    description="Work-order events -> order lifecycle (SLA, time to repair) -> warehouse, hourly by arrival hour",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 4, 4, tz="UTC"),
    catchup=True,
    max_active_runs=4,
    default_args={
        "retries": SETTINGS.task_retries,
        "retry_delay": timedelta(seconds=SETTINGS.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
    params={
        "start": Param(
            None, type=["null", "string"], description="Range start (ISO 8601 UTC); default: data interval"
        ),
        "end": Param(None, type=["null", "string"], description="Range end, exclusive (ISO 8601 UTC)"),
        "allow_missing_objects": Param(
            False,
            type="boolean",
            description="Accept that the landing lost objects of hours already ingested and delete their rows "
            "(default: the run refuses and names the missing objects)",
        ),
    },
    tags=["workorders", "field-service", "warehouse"],
    doc_md=__doc__,
) as dag:

    @task(task_id="ingest_workorder_events")
    def ingest_workorder_events(**context):
        """Parse the interval's work-order landing objects; stage copies, quarantine and ledger."""
        from wenulake import tasks

        return tasks.ingest_workorder_events(context)

    @task(task_id="gate_workorder_events", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def gate_workorder_events(**context):
        """Validate the staged events (GX suite + accounting); publish the interval's hours."""
        from wenulake import tasks

        return tasks.gate_workorder_events(context)

    @task(task_id="build_work_orders", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def build_work_orders(**context):
        """Rebuild the touched orders from all their events; stage events, orders and quarantine."""
        from wenulake import tasks

        return tasks.build_work_orders(context)

    @task(task_id="gate_work_orders", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL, outlets=[WORK_ORDERS])
    def gate_work_orders(**context):
        """Validate the rebuilt orders (GX suites); replace exactly the touched orders."""
        from wenulake import tasks

        return tasks.gate_work_orders(context)

    @task(task_id="load_work_orders", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def load_work_orders(**context):
        """fact_work_order, fact_work_order_event and the field-service dimensions into the warehouse."""
        from wenulake import tasks

        return tasks.load_work_orders(context)

    (
        ingest_workorder_events()
        >> gate_workorder_events()
        >> build_work_orders()
        >> gate_work_orders()
        >> load_work_orders()
    )
