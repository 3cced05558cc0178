"""catalog_sync: the catalog's own work. Every 10 minutes, the catalog service's queued work (`apply_catalog_jobs`:
replays, and reprocessing handed to Airflow's REST API as a sensors backfill when a scheduler runs, else run in
the task); on a manual run, also load a catalog directory (contract-v1 CSVs) into the catalog store first.

Validation reports every problem (file, line, column); nothing is written if any exists. Runs the sensors DAG
keep using the snapshot they took, so a load never changes a run half-way.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="catalog_sync",
    description="Load the business catalog from a CSV directory; apply the catalog service's queued work",
    schedule="*/10 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "path": Param(
            None, type=["null", "string"], description="Catalog directory; default $WENULAKE_HOME/catalog"
        )
    },
    tags=["catalog"],
    doc_md=__doc__,
) as dag:

    @task(task_id="load_catalog", retries=0)
    def load_catalog(**context):
        """Manual runs: validate and apply the directory in one transaction (scheduled runs skip it)."""
        from wenulake import tasks

        return tasks.load_catalog_on_demand(context)

    @task(task_id="apply_catalog_jobs", retries=0, trigger_rule="all_done")
    def apply_catalog_jobs(**context):
        """The catalog service's queued replays and reprocessing."""
        from wenulake import tasks

        return tasks.apply_catalog_jobs(context)

    load_catalog() >> apply_catalog_jobs()
