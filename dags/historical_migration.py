"""historical_migration: legacy CSV exports (format v0, docs/legacy-format.md) -> silver, month by month.

Manual trigger only. plan_months -> migrate_month (one mapped task per month, dynamic task mapping) -> summarise:
- plan_months lists the source's months in the Params' range and leaves out those ops.migration_ledger has as
  done (unless Param `redo`);
- each migrate_month replaces what that month's previous migration wrote (silver rows with source 'legacy', its
  quarantine), refreshes stats, warehouse and alarms (historical, never notified) for the periods it touched and
  records the month in the ledger; live readings always win. One month at a time, in the lake writers' pool
  shared with the sensors and alarms DAGs' publishers, so no two tasks write the same table at once;
- summarise prints the range's accounting from the ledger (it runs even if a month failed).
`wenulake migrate --source PATH [--from YYYY-MM --to YYYY-MM]` runs the same code in-process.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from wenulake.airflow_home import LAKE_WRITERS_POOL

with DAG(
    dag_id="historical_migration",
    description="Migrate legacy CSV exports into silver, one mapped task per month",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "source": Param(
            "", type="string", description="Folder or s3:// URL holding <YYYY>/<MM>/<device_id>.csv[.gz]"
        ),
        "from_month": Param(
            None, type=["null", "string"], description="First month YYYY-MM (default: first)"
        ),
        "to_month": Param(None, type=["null", "string"], description="Last month YYYY-MM, inclusive"),
        "redo": Param(False, type="boolean", description="Migrate again months the ledger has as done"),
    },
    tags=["migration", "legacy", "silver"],
    doc_md=__doc__,
) as dag:

    @task(task_id="plan_months", retries=0)
    def plan_months(**context):
        """The months to migrate (the source's, in range, not done yet unless redo)."""
        from wenulake import tasks

        return tasks.plan_months(context)

    @task(task_id="migrate_month", retries=1, max_active_tis_per_dag=1, pool=LAKE_WRITERS_POOL)
    def migrate_month(month: str, **context):
        """One month: parse, attribute, gate, replace its legacy rows, refresh downstream, record the ledger."""
        from wenulake import tasks

        return tasks.migrate_month(context, month)

    @task(task_id="summarise", trigger_rule="all_done", retries=0)
    def summarise(**context):
        """The range's accounting from ops.migration_ledger."""
        from wenulake import tasks

        return tasks.summarise_migration(context)

    months = plan_months()
    migrate_month.expand(month=months) >> summarise()
