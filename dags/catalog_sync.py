"""catalog_sync: the catalog's own work. Every 10 minutes, the catalog service's queued work (`apply_catalog_jobs`:
replays, and reprocessing handed to Airflow's REST API as a sensors backfill when a scheduler runs, else run in
the task); on a manual run, also load a catalog directory (contract-v1 CSVs) into the catalog store first.

Validation reports every problem (file, line, column); nothing is written if any exists. Runs the sensors DAG
keep using the snapshot they took, so a load never changes a run half-way.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from wenulake.dag_defaults import default_args, task_doc
from wenulake.lineage import attach
from wenulake.settings import Settings

SETTINGS = Settings()

with DAG(
    dag_id="catalog_sync",
    description="Load the business catalog from a CSV directory; apply the catalog service's queued work",
    schedule="*/10 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(SETTINGS),
    params={
        "path": Param(
            None, type=["null", "string"], description="Catalog directory; default $WENULAKE_HOME/catalog"
        )
    },
    tags=["catalog"],
    doc_md=__doc__,
) as dag:

    @task(
        task_id="load_catalog",
        retries=0,
        doc_md=task_doc(
            "Manual runs: validate the catalog directory (Param path) and apply it in one transaction; "
            "scheduled runs skip.",
            "companies/sites/devices/sensors/thresholds/technicians/materials CSVs.",
            "the catalog store (SQLite or WENULAKE_CATALOG_URL).",
            "every problem reported with file, line, column; nothing written if any exists.",
            "read the problems in the log, fix the CSVs and trigger again.",
        ),
    )
    def load_catalog(**context):
        from wenulake import tasks

        return tasks.load_catalog_on_demand(context)

    @task(
        task_id="apply_catalog_jobs",
        retries=0,
        trigger_rule="all_done",
        doc_md=task_doc(
            "Run the catalog service's queued work: replays here, reprocessing as a sensors backfill.",
            "the catalog service's job queue.",
            "silver.reading and quarantine (replays); backfills of the sensors DAG.",
            "each job's status.",
            "see the backoffice's Work page for the failed job's message; fix and requeue.",
        ),
    )
    def apply_catalog_jobs(**context):
        from wenulake import tasks

        return tasks.apply_catalog_jobs(context)

    load_catalog() >> apply_catalog_jobs()

    attach(dag, SETTINGS)  # OpenLineage inputs/outputs of every task (wenulake.lineage)
