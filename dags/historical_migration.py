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
from wenulake.dag_defaults import MONTH_PATTERN, SOURCE_PATTERN, default_args, task_doc
from wenulake.lineage import attach
from wenulake.settings import Settings

SETTINGS = Settings()

with DAG(
    dag_id="historical_migration",
    description="Migrate legacy CSV exports into silver, one mapped task per month",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(SETTINGS, retries=0),
    params={
        "source": Param(
            "",
            type="string",
            minLength=1,
            pattern=SOURCE_PATTERN,
            title="Legacy source",
            description="Folder or s3:// URL holding <YYYY>/<MM>/<device_id>.csv[.gz] (required)",
        ),
        "from_month": Param(
            None,
            type=["null", "string"],
            pattern=MONTH_PATTERN,
            title="First month",
            description="YYYY-MM (default: the source's first)",
        ),
        "to_month": Param(
            None,
            type=["null", "string"],
            pattern=MONTH_PATTERN,
            title="Last month",
            description="YYYY-MM, inclusive (default: the source's last)",
        ),
        "redo": Param(False, type="boolean", description="Migrate again months the ledger has as done"),
    },
    tags=["migration", "legacy", "silver"],
    doc_md=__doc__,
) as dag:

    @task(
        task_id="plan_months",
        retries=0,
        doc_md=task_doc(
            "List the source's months in the Params' range, leaving out those the ledger has as done.",
            "the legacy source (Param source); ops.migration_ledger.",
            "nothing (the month list is this task's XCom).",
            "Params: source a folder or s3:// URL, months YYYY-MM, from <= to.",
            "a bad source or range fails at once with the reason; trigger again with corrected Params.",
        ),
    )
    def plan_months(**context):
        from wenulake import tasks

        return tasks.plan_months(context)

    @task(
        task_id="migrate_month",
        retries=1,
        max_active_tis_per_dag=1,
        pool=LAKE_WRITERS_POOL,
        doc_md=task_doc(
            "One month: parse, attribute, gate, replace its legacy rows, refresh downstream, record the ledger.",
            "the month's legacy CSV files; the catalog.",
            "silver.reading (source legacy), ops.quarantine (stage legacy), stats, warehouse, gold.fact_alarm, "
            "ops.migration_ledger.",
            "GX silver_reading suite; live readings always win.",
            "the month is not recorded as done; fix and clear the mapped task (it replaces its own rows).",
        ),
    )
    def migrate_month(month: str, **context):
        from wenulake import tasks

        return tasks.migrate_month(context, month)

    @task(
        task_id="summarise",
        trigger_rule="all_done",
        retries=0,
        doc_md=task_doc(
            "The range's accounting from ops.migration_ledger (runs even if a month failed).",
            "ops.migration_ledger.",
            "nothing (the summary is the XCom and the log).",
            "none.",
            "harmless to rerun.",
        ),
    )
    def summarise(**context):
        from wenulake import tasks

        return tasks.summarise_migration(context)

    months = plan_months()
    migrate_month.expand(month=months) >> summarise()

    attach(dag, SETTINGS)  # OpenLineage inputs/outputs of every task (wenulake.lineage)
