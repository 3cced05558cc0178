"""sensors: the hourly pipeline over the Firehose landing's arrival-hour partitions.

ingest_bronze -> gate_bronze -> enrich_silver -> gate_silver -> stage_gold -> compute_stats -> gate_stats ->
load_warehouse -> gate_warehouse -> purge_stats:
each stage writes a staged batch, its gate validates it and publishes it (write, audit, publish).
The Spark steps (ingest_bronze, enrich_silver) run in the task or, with WENULAKE_SPARK_MODE=emr-serverless, as EMR
Serverless job runs of jobs/bronze.py and jobs/silver.py (--step stage); gates and publishing stay here.
Params `start`/`end` (ISO 8601 UTC) override the data interval: one run over a longer range.
Publishers run one at a time (max_active_tis_per_dag=1) in the lake writers' pool (one slot, shared with the alarms
DAG and the historical migration): scheduled runs and backfills never write the same table at once.

**Schedule and catch-up.** The schedule starts at WENULAKE_SENSORS_CATCHUP_START, by default the landing's first
arrival hour (never a fixed past date). Unpausing catches up from there at most WENULAKE_CATCHUP_MAX_ACTIVE_RUNS
runs at once (default 1: each run starts a Spark JVM); unpause `alarms` too, or no alarm is raised.

**When it fails.** Every failed or retried task publishes one alert (WENULAKE_OPS_TOPIC_ARN or the notifications
file) naming the run, the task, the error and where to look; a failed gate names its failed expectations
(`ops.dq_result`) and its log prints the `wenulake sql` query that shows them. A run not finished
WENULAKE_SENSORS_DEADLINE_MINUTES (45) after its hour's end publishes one `deadline_missed` alert.
"""

from __future__ import annotations

from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from wenulake.airflow_home import LAKE_WRITERS_POOL
from wenulake.dag_defaults import HOUR_PATTERN, RERUN, default_args, schedule_start, task_doc
from wenulake.lineage import attach
from wenulake.ops_alerts import sensors_deadline
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
    start_date=schedule_start(SETTINGS, "sensors"),
    catchup=True,
    max_active_runs=SETTINGS.catchup_max_active_runs,
    default_args=default_args(SETTINGS),
    deadline=sensors_deadline(SETTINGS),
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
    tags=["sensors", "bronze", "silver", "warehouse"],
    doc_md=__doc__,
) as dag:
    # the Spark steps: in-task (local, cluster) or EMR Serverless job runs (emr-serverless): WENULAKE_SPARK_MODE
    ingest_bronze = spark_step(
        SETTINGS,
        "ingest_bronze",
        task_doc(
            "Decode the interval's landing objects with Spark (split, decrypt, dedupe) and stage the batch.",
            "landing `sensors/YYYY/MM/DD/HH/` objects of the interval; the keyring; ops.ingest_ledger.",
            "staged bronze.sensor_message, ops.quarantine and ops.ingest_ledger rows (published by gate_bronze).",
            "objects the ledger has for an ingested hour are still in the landing (else LandingIncomplete).",
            "a keyring error or missing objects fail at once (see the log's first ERROR line); Param "
            "allow_missing_objects accepts lost objects. " + RERUN,
        ),
    )

    @task(
        task_id="gate_bronze",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        outlets=[BRONZE],
        doc_md=task_doc(
            "Validate the staged bronze batch and publish it (write, audit, publish).",
            "the staged batch of ingest_bronze.",
            "bronze.sensor_message, ops.quarantine, ops.ingest_ledger (replacing the interval's hours); "
            "ops.dq_result (every result, passed or failed).",
            "GX suites bronze_sensor_message and bronze_quarantine; the accounting balance.",
            "a failed gate publishes nothing: its log and alert carry the `wenulake sql` query of the failed "
            "expectations in ops.dq_result; fix the data or the code, then " + RERUN,
        ),
    )
    def gate_bronze(**context):
        from wenulake import tasks

        return tasks.gate_bronze(context)

    enrich_silver = spark_step(
        SETTINGS,
        "enrich_silver",
        task_doc(
            "Enrich the interval's winning messages with one catalog snapshot (sensor, unit, scale, offset).",
            "bronze.sensor_message of the interval; the catalog (devices, sensors).",
            "staged silver.reading rows and enrichment quarantine (unknown_device, unknown_channel).",
            "every reading maps to a sensor valid at its timestamp, else it is quarantined with its reason.",
            "catalog problems show as quarantine, not failures (`wenulake replay` after fixing the catalog). "
            + RERUN,
        ),
    )

    @task(
        task_id="gate_silver",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        outlets=[SILVER],
        doc_md=task_doc(
            "Validate the staged readings and merge them into silver (by sensor_id, ts).",
            "the staged batch of enrich_silver.",
            "silver.reading (merge), ops.quarantine, ops.touched_period, ops.dq_result.",
            "GX suite silver_reading.",
            "a failed gate publishes nothing (query in the log and the alert). " + RERUN,
        ),
    )
    def gate_silver(**context):
        from wenulake import tasks

        return tasks.gate_silver(context)

    @task(
        task_id="stage_gold",
        doc_md=task_doc(
            "Write the touched fact_reading partitions and the dimensions as Parquet stage files.",
            "silver.reading of the touched periods (ops.touched_period); the catalog.",
            "stage files under WENULAKE_STAGE (nothing visible to analysts yet).",
            "none (gate_warehouse validates what is loaded).",
            RERUN,
        ),
    )
    def stage_gold(**context):
        from wenulake import tasks

        return tasks.stage_gold(context)

    @task(
        task_id="compute_stats",
        doc_md=task_doc(
            "Recompute stats_hourly/daily and the site and company roll-ups for the touched periods.",
            "silver.reading of the touched periods; sites' time zones.",
            "stats stage files.",
            "none here (gate_stats validates).",
            RERUN,
        ),
    )
    def compute_stats(**context):
        from wenulake import tasks

        return tasks.compute_stats(context)

    @task(
        task_id="gate_stats",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Validate the staged stats; write the serving store (TTL) when they pass.",
            "the stats stage files of compute_stats.",
            "the stats serving store (serving.stats_hourly / serving.stats_daily, or DynamoDB); ops.dq_result.",
            "GX suites stats_hourly, stats_daily, stats_daily_site, stats_daily_company.",
            "a failed gate writes nothing (query in the log and the alert). " + RERUN,
        ),
    )
    def gate_stats(**context):
        from wenulake import tasks

        return tasks.gate_stats(context)

    @task(
        task_id="purge_stats",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Delete expired rows from the stats serving store.",
            "the serving store.",
            "the serving store (expired rows deleted).",
            "expiry from WENULAKE_STATS_RETENTION_DAYS, counted from the end of the period.",
            "harmless to rerun; the next run purges again.",
        ),
    )
    def purge_stats(**context):
        from wenulake import tasks

        return tasks.purge_stats(context)

    @task(
        task_id="load_warehouse",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "Load the stage files into the warehouse: staging table, COPY, one transaction per table.",
            "the gold and stats stage files of this run.",
            "warehouse fact_reading, stats_* and dim_* (exactly the touched keys replaced), ops.warehouse_load.",
            "none here (gate_warehouse validates the loaded partitions).",
            "a database error rolls the table's transaction back; check WENULAKE_WAREHOUSE_URL. " + RERUN,
        ),
    )
    def load_warehouse(**context):
        from wenulake import tasks

        return tasks.load_warehouse(context)

    @task(
        task_id="gate_warehouse",
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        outlets=[WAREHOUSE],
        doc_md=task_doc(
            "Validate the loaded partitions and publish the analysts' snapshot (or discard the load).",
            "the warehouse's loaded fact_reading partitions.",
            "the analysts' warehouse snapshot; ops.dq_result.",
            "GX suite gold_fact_reading.",
            "a failed gate leaves analysts on the previous snapshot (query in the log and the alert). "
            + RERUN,
        ),
    )
    def gate_warehouse(**context):
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

    attach(dag, SETTINGS)  # OpenLineage inputs/outputs of every task (wenulake.lineage)
