"""catalog_sync: load a catalog directory (contract-v1 CSVs) into the catalog store, on demand.

Validation reports every problem (file, line, column); nothing is written if any exists. Runs the sensors DAG
keep using the snapshot they took, so a load never changes a run half-way.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="catalog_sync",
    description="Load the business catalog from a CSV directory",
    schedule=None,
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
        """Validate and apply the directory in one transaction."""
        from wenulake import tasks

        return tasks.load_catalog(context)

    load_catalog()
