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

from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from wenulake.airflow_home import LAKE_WRITERS_POOL
from wenulake.dag_defaults import HOUR_PATTERN, RERUN, default_args, schedule_start, task_doc
from wenulake.lineage import attach
from wenulake.settings import Settings

SETTINGS = Settings()
WORK_ORDERS = Asset("wenulake://lake/gold/work_order")

with DAG(
    dag_id="workorders",
    description="Work-order events -> order lifecycle (SLA, time to repair) -> warehouse, hourly by arrival hour",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=schedule_start(SETTINGS, "workorders"),
    catchup=True,
    max_active_runs=SETTINGS.catchup_max_active_runs,
    default_args=default_args(SETTINGS),
    params={
        "start": Param(
            None,
            type=["null", "string"],
            pattern=HOUR_PATTERN,
            title="Range start",
            description="ISO 8601 UTC on the hour, e.g. 2026-04-04T00:00:00Z; empty = the data interval",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            pattern=HOUR_PATTERN,
            title="Range end",
            description="Exclusive, ISO 8601 UTC on the hour; give both start and end, or neither",
        ),
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

    @task(
        task_id="ingest_workorder_events",
        doc_md=task_doc(
            "Parse the interval's work-order landing objects (SNS envelopes or raw, both framings).",
            "landing `workorders/YYYY/MM/DD/HH/` objects of the interval; ops.workorder_ledger.",
            "staged bronze.work_order_event copies, parse quarantine and ledger rows.",
            "the ledger's objects of ingested hours are still in the landing.",
            "missing objects fail at once (Param allow_missing_objects accepts them). " + RERUN,
        ),
    )
    def ingest_workorder_events(**context):
        from wenulake import tasks

        return tasks.ingest_workorder_events(context)

    @task(
        task_id="gate_workorder_events",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Validate the staged events and publish the interval's hours.",
            "the staged batch of ingest_workorder_events.",
            "bronze.work_order_event, ops.quarantine, ops.workorder_ledger; ops.dq_result.",
            "GX suite workorder_event; the accounting balance.",
            "a failed gate publishes nothing (query in the log and the alert). " + RERUN,
        ),
    )
    def gate_workorder_events(**context):
        from wenulake import tasks

        return tasks.gate_workorder_events(context)

    @task(
        task_id="build_work_orders",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Rebuild every order the interval touched from all its events, in occurred_at order.",
            "bronze.work_order_event of the touched orders.",
            "staged silver.work_order_event, gold.work_order and lifecycle quarantine; ops.touched_order.",
            "transitions follow the order lifecycle, else invalid_transition quarantine.",
            RERUN,
        ),
    )
    def build_work_orders(**context):
        from wenulake import tasks

        return tasks.build_work_orders(context)

    @task(
        task_id="gate_work_orders",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        outlets=[WORK_ORDERS],
        doc_md=task_doc(
            "Validate the rebuilt orders and replace exactly the touched orders.",
            "the staged batch of build_work_orders.",
            "silver.work_order_event, gold.work_order, ops.quarantine; ops.dq_result.",
            "GX work_order suites.",
            "a failed gate publishes nothing (query in the log and the alert). " + RERUN,
        ),
    )
    def gate_work_orders(**context):
        from wenulake import tasks

        return tasks.gate_work_orders(context)

    @task(
        task_id="load_work_orders",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Load the field-service tables into the warehouse (stage file, COPY, one transaction).",
            "gold.work_order, silver.work_order_event, the technicians and materials catalog.",
            "warehouse fact_work_order, fact_work_order_event, dim_technician, dim_material.",
            "none here.",
            "check WENULAKE_WAREHOUSE_URL. " + RERUN,
        ),
    )
    def load_work_orders(**context):
        from wenulake import tasks

        return tasks.load_work_orders(context)

    (
        ingest_workorder_events()
        >> gate_workorder_events()
        >> build_work_orders()
        >> gate_work_orders()
        >> load_work_orders()
    )

    attach(dag, SETTINGS)  # OpenLineage inputs/outputs of every task (wenulake.lineage)
