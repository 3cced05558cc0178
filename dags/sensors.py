"""sensors: the hourly pipeline over the Firehose landing's arrival-hour partitions.

ingest_bronze -> gate_bronze -> enrich_silver -> gate_silver -> stage_gold -> compute_stats -> gate_stats ->
load_warehouse -> gate_warehouse -> purge_stats:
each stage writes a staged batch, its gate validates it and publishes it (write, audit, publish).
The Spark steps (ingest_bronze, enrich_silver) run in the task or, with WENULAKE_SPARK_MODE=emr-serverless, as EMR
Serverless job runs of jobs/bronze.py and jobs/silver.py (--step stage); gates and publishing stay here.
Params `start`/`end` (ISO 8601 UTC) override the data interval: one run over a longer range.
Publishers run one at a time (max_active_tis_per_dag=1) in the lake writers' pool (one slot, shared with the alarms
DAG and the historical migration): scheduled runs and backfills never write the same table at once.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from wenulake.airflow_home import LAKE_WRITERS_POOL
from wenulake.settings import Settings
from wenulake.spark_steps import spark_step

SETTINGS = Settings()

BRONZE = Asset("wenulake://lake/bronze/sensor_message")
SILVER = Asset("wenulake://lake/silver/reading")
WAREHOUSE = Asset("wenulake://warehouse/fact_reading")

with DAG(
    dag_id="sensors",
    description="Firehose landing -> bronze (decrypted, accounted) -> silver (enriched), hourly by arrival hour",
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
    tags=["sensors", "bronze", "silver", "warehouse"],
    doc_md=__doc__,
) as dag:
    # the Spark steps: in-task (local, cluster) or EMR Serverless job runs (emr-serverless): WENULAKE_SPARK_MODE
    ingest_bronze = spark_step(
        SETTINGS,
        "ingest_bronze",
        "Decode the interval's landing objects with Spark and stage bronze, quarantine and ledger rows.",
    )

    @task(task_id="gate_bronze", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL, outlets=[BRONZE])
    def gate_bronze(**context):
        """Validate the staged batch (GX suites + accounting); publish it only if all pass."""
        from wenulake import tasks

        return tasks.gate_bronze(context)

    enrich_silver = spark_step(
        SETTINGS,
        "enrich_silver",
        "Enrich the interval's winning messages with one catalog snapshot; stage readings and quarantine.",
    )

    @task(task_id="gate_silver", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL, outlets=[SILVER])
    def gate_silver(**context):
        """Validate staged readings (silver suite); merge them into silver.reading only if it passes."""
        from wenulake import tasks

        return tasks.gate_silver(context)

    @task(task_id="stage_gold")
    def stage_gold(**context):
        """Write the touched fact partitions and the dimensions as Parquet stage files."""
        from wenulake import tasks

        return tasks.stage_gold(context)

    @task(task_id="compute_stats")
    def compute_stats(**context):
        """Recompute stats_hourly/daily and the roll-ups for the touched periods, as stage files."""
        from wenulake import tasks

        return tasks.compute_stats(context)

    @task(task_id="gate_stats", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def gate_stats(**context):
        """Stats suites on the staged rows; pass: write the serving store (TTL), leave them for the load."""
        from wenulake import tasks

        return tasks.gate_stats(context)

    @task(task_id="purge_stats", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def purge_stats(**context):
        """Delete expired rows from the stats serving store."""
        from wenulake import tasks

        return tasks.purge_stats(context)

    @task(task_id="load_warehouse", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def load_warehouse(**context):
        """Staging table <- COPY; one transaction per table replacing exactly the touched keys."""
        from wenulake import tasks

        return tasks.load_warehouse(context)

    @task(task_id="gate_warehouse", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL, outlets=[WAREHOUSE])
    def gate_warehouse(**context):
        """Gold suite on the loaded partitions; publish the analysts' snapshot, or discard the load."""
        from wenulake import tasks

        return tasks.gate_warehouse(context)

    (
        ingest_bronze
        >> gate_bronze()
        >> enrich_silver
        >> gate_silver()
        >> stage_gold()
        >> compute_stats()
        >> gate_stats()
        >> load_warehouse()
        >> gate_warehouse()
        >> purge_stats()
    )
