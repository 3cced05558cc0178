"""maintenance: daily upkeep of the lake and the warehouse (`wenulake maintain` as a DAG).

maintain: per lake table, compaction (silver.reading z-ordered by sensor and time inside each day), VACUUM of
files replaced more than WENULAKE_VACUUM_RETENTION_HOURS ago (never below WENULAKE_LONGEST_READER_HOURS),
a checkpoint, and log entries older than that retention deleted (the table's delta.logRetentionDuration);
staging batches and stage files of runs finished more than WENULAKE_STAGING_RETENTION_HOURS ago deleted (a live
batch's never); the warehouse's ANALYZE (PostgreSQL: VACUUM ANALYZE; DuckDB: ANALYZE +
CHECKPOINT). Quarantine rows are kept. The task's XCom and log carry the report: files, bytes and versions
before and after, per table.
It runs in the lake writers' pool (one slot, shared with every writer), so it never rewrites a table another
run is writing. If it fails: read the task log, fix the cause and clear the task; maintenance is idempotent.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from wenulake.airflow_home import LAKE_WRITERS_POOL
from wenulake.lineage import attach
from wenulake.settings import Settings

SETTINGS = Settings()

with DAG(
    dag_id="maintenance",
    description="Daily: compact, VACUUM and checkpoint the lake tables, drop finished staging, ANALYZE the warehouse",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 4, 4, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["maintenance", "operations"],
    doc_md=__doc__,
) as dag:

    @task(task_id="maintain", max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def maintain(**context):
        """Lake tables, staging and warehouse maintenance; returns the report (before/after per table)."""
        from wenulake import tasks

        return tasks.maintain(context)

    maintain()

    attach(dag, SETTINGS)  # OpenLineage inputs/outputs of every task (wenulake.lineage)
