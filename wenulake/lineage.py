"""Lineage: what each DAG task reads and writes, as OpenLineage datasets.

The Airflow provider (apache-airflow-providers-openlineage) emits one START and one COMPLETE (or FAIL) event per
task run, with the task's `inlets` as inputs and its `outlets` as outputs. `TASKS` below declares them per DAG and
task from the contracts (lake tables: wenulake.contracts.tables; warehouse tables: wenulake.warehouse), and every
DAG file ends with `attach(dag, SETTINGS)`, which sets them (a task missing here fails the DAG file's import, so
a new task cannot go without lineage).

Dataset names:
- a lake table: namespace the lake (`file:///.../lake`, `s3://bucket/prefix`), name the contract's table name
  (`silver.reading`, `ops.quarantine`);
- a warehouse table: namespace the warehouse (`duckdb:///.../warehouse.duckdb`, `postgres://host:5432/db`,
  `redshift://host:5439/db`, never credentials), name the table (`fact_reading`);
- a landing stream: namespace the landing, name the stream (`sensors`, `workorders`).
Staged batches, stage files and the per-task `ops.run_metric` row (every task writes one) are left out: they are
the pipeline's own plumbing, not data anyone reads.

Where the events go (wenulake.airflow_home sets Airflow's `[openlineage]` section from the settings): the
JSON-lines file WENULAKE_OPENLINEAGE_FILE (default $WENULAKE_HOME/lineage/openlineage.jsonl), or, when
WENULAKE_OPENLINEAGE_URL is set, that HTTP endpoint (Marquez); jobs in namespace WENULAKE_OPENLINEAGE_NAMESPACE.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from wenulake.contracts.tables import (
    ALARM_COVERAGE,
    DQ_RESULT,
    FACT_ALARM,
    INGEST_LEDGER,
    MIGRATION_LEDGER,
    NOTIFICATION_OUTBOX,
    QUARANTINE,
    SENSOR_MESSAGE,
    SILVER_READING,
    TABLES,
    TOUCHED_ORDER,
    TOUCHED_PERIOD,
    WORK_ORDER,
    WORK_ORDER_EVENT,
    WORK_ORDER_EVENT_COPY,
    WORK_ORDER_LEDGER,
    WORK_ORDER_REQUEST,
    TableSpec,
)
from wenulake.errors import ConfigError
from wenulake.settings import Settings, is_s3

#: a dataset: (kind, name), kind one of "lake", "warehouse", "landing"
Ref = tuple[str, str]
#: a task's lineage: (reads, writes)
Lineage = tuple[tuple[Ref, ...], tuple[Ref, ...]]


def lake(*specs: TableSpec) -> tuple[Ref, ...]:
    return tuple(("lake", spec.name) for spec in specs)


def warehouse(*tables: str) -> tuple[Ref, ...]:
    return tuple(("warehouse", table) for table in tables)


def landing(stream: str) -> tuple[Ref, ...]:
    return (("landing", stream),)


def _warehouse_tables() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(every warehouse table, the sensors DAG's loads, the warehouse's ops tables), from wenulake.warehouse."""
    from wenulake.warehouse import OPS_TABLES, SENSORS_TABLES, WAREHOUSE_TABLES

    return WAREHOUSE_TABLES, SENSORS_TABLES, OPS_TABLES


def tasks_lineage() -> dict[str, dict[str, Lineage]]:
    """Per DAG and task: the datasets it reads and writes (the task docs' Reads/Writes, as contracts)."""
    every_wh, sensors_wh, ops_wh = _warehouse_tables()
    every_lake = lake(*TABLES.values())
    return {
        "sensors": {
            "ingest_bronze": (landing("sensors") + lake(INGEST_LEDGER), ()),
            "gate_bronze": ((), lake(SENSOR_MESSAGE, QUARANTINE, INGEST_LEDGER, DQ_RESULT)),
            "enrich_silver": (lake(SENSOR_MESSAGE), ()),
            "gate_silver": (
                lake(SILVER_READING),
                lake(SILVER_READING, QUARANTINE, TOUCHED_PERIOD, DQ_RESULT),
            ),
            "stage_gold": (lake(SILVER_READING, TOUCHED_PERIOD), ()),
            "compute_stats": (lake(SILVER_READING, TOUCHED_PERIOD), ()),
            "gate_stats": ((), lake(DQ_RESULT)),
            "load_warehouse": ((), warehouse(*sensors_wh, *ops_wh)),
            "gate_warehouse": (warehouse("fact_reading"), lake(DQ_RESULT)),
            "purge_stats": ((), ()),
        },
        "alarms": {
            "detect_alarms": (
                lake(SILVER_READING, FACT_ALARM, ALARM_COVERAGE),
                lake(FACT_ALARM, NOTIFICATION_OUTBOX, ALARM_COVERAGE),
            ),
            "deliver_notifications": (lake(NOTIFICATION_OUTBOX), lake(NOTIFICATION_OUTBOX)),
            "load_alarms": (lake(FACT_ALARM), warehouse("fact_alarm")),
            "open_work_orders": (
                lake(FACT_ALARM, WORK_ORDER_REQUEST),
                lake(WORK_ORDER_REQUEST) + landing("workorders"),
            ),
        },
        "workorders": {
            "ingest_workorder_events": (landing("workorders") + lake(WORK_ORDER_LEDGER), ()),
            "gate_workorder_events": (
                (),
                lake(WORK_ORDER_EVENT_COPY, QUARANTINE, WORK_ORDER_LEDGER, DQ_RESULT),
            ),
            "build_work_orders": (lake(WORK_ORDER_EVENT_COPY, WORK_ORDER), lake(TOUCHED_ORDER)),
            "gate_work_orders": ((), lake(WORK_ORDER_EVENT, WORK_ORDER, QUARANTINE, DQ_RESULT)),
            "load_work_orders": (
                lake(WORK_ORDER, WORK_ORDER_EVENT),
                warehouse("fact_work_order", "fact_work_order_event", "dim_technician", "dim_material"),
            ),
        },
        "historical_migration": {
            "plan_months": (lake(MIGRATION_LEDGER), ()),
            "migrate_month": (
                lake(SILVER_READING, MIGRATION_LEDGER),
                lake(SILVER_READING, QUARANTINE, TOUCHED_PERIOD, FACT_ALARM, DQ_RESULT, MIGRATION_LEDGER)
                + warehouse(*sensors_wh, "fact_alarm"),
            ),
            "summarise": (lake(MIGRATION_LEDGER), ()),
        },
        "catalog_sync": {
            "load_catalog": ((), ()),
            "apply_catalog_jobs": (lake(QUARANTINE, SILVER_READING), lake(SILVER_READING, QUARANTINE)),
        },
        # compaction and VACUUM rewrite every table's files (never its rows)
        "maintenance": {"maintain": (every_lake + warehouse(*every_wh), every_lake + warehouse(*every_wh))},
    }


def _location(uri: str) -> str:
    """A lake or landing location as an OpenLineage namespace: `s3://bucket/prefix` or `file:///abs/path`."""
    if is_s3(uri) or "://" in uri:
        return uri.rstrip("/")
    from pathlib import Path

    return Path(uri).absolute().as_uri()


def warehouse_namespace(settings: Settings) -> str:
    """The warehouse as an OpenLineage namespace, without credentials."""
    url = settings.warehouse_url
    if not url:
        return (settings.home / "warehouse.duckdb").absolute().as_uri().replace("file://", "duckdb://", 1)
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    scheme = "postgres" if scheme in ("postgresql", "postgres") else scheme
    default_port = {"postgres": 5432, "redshift": 5439}.get(scheme)
    port = parts.port or default_port
    host = f"{parts.hostname}:{port}" if port else str(parts.hostname)
    return f"{scheme}://{host}{parts.path}"


def namespaces(settings: Settings) -> dict[str, str]:
    return {
        "lake": _location(settings.lake_uri),
        "landing": _location(settings.landing_uri),
        "warehouse": warehouse_namespace(settings),
    }


def datasets(settings: Settings, refs: tuple[Ref, ...]) -> list[Any]:
    """OpenLineage datasets (openlineage.client.event_v2.Dataset) of `refs`."""
    from openlineage.client.event_v2 import Dataset

    where = namespaces(settings)
    return [Dataset(namespace=where[kind], name=name) for kind, name in refs]


def attach(dag: Any, settings: Settings) -> None:
    """Set every task's inlets and outlets of `dag` from `tasks_lineage()` (outlets keep the DAG's Assets)."""
    declared = tasks_lineage().get(dag.dag_id)
    if declared is None:
        raise ConfigError(f"wenulake.lineage declares no lineage for DAG {dag.dag_id!r}")
    missing = sorted(set(dag.task_dict) - set(declared))
    if missing:
        raise ConfigError(f"wenulake.lineage declares no lineage for {dag.dag_id} tasks {', '.join(missing)}")
    for task_id, task in dag.task_dict.items():
        reads, writes = declared[task_id]
        task.inlets = [*(task.inlets or []), *datasets(settings, reads)]
        task.outlets = [*(task.outlets or []), *datasets(settings, writes)]


def airflow_config(settings: Settings, in_process: bool = False) -> dict[str, str]:
    """Airflow's `[openlineage]` section as AIRFLOW__OPENLINEAGE__* variables: the file transport by default,
    HTTP when WENULAKE_OPENLINEAGE_URL is set. Kept cheap: events are sent from a thread of the task process (no
    fork: the task may hold a Spark JVM), without source code or hook lineage (the declared inlets and outlets
    are the lineage). In-process runs (`wenulake run`, tests) emit task events only: the DAG-run events go
    through a process pool the provider would fork from the command's own process."""
    if settings.openlineage_url:
        transport: dict[str, Any] = {
            "type": "http",
            "url": settings.openlineage_url,
            "endpoint": "api/v1/lineage",
            "timeout": 5,
        }
    else:
        transport = {"type": "file", "log_file_path": str(settings.openlineage_file_path), "append": True}
    controls: dict[str, bool] = {"hook_lineage": False, "include_source_code": False}
    if in_process:
        controls["emit_dag_events"] = False
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": settings.openlineage_namespace,
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__DISABLE_SOURCE_CODE": "True",
        "AIRFLOW__OPENLINEAGE__EMISSION_POLICY": json.dumps([{"scope": {}, "controls": controls}]),
    }


_applied: dict[str, str] | None = None


def refresh_provider(settings: Settings) -> None:
    """For in-process runs: the provider caches its configuration and its client at first use, so a later run in
    the same process with other lineage settings (tests, a long-lived command) would keep the first transport.
    Forget them when the settings changed; nothing to do before the provider is first used."""
    import sys

    global _applied
    wanted = airflow_config(settings, in_process=True)
    if wanted == _applied:
        return
    _applied = wanted
    provider_conf = sys.modules.get("airflow.providers.openlineage.conf")
    if provider_conf is not None:
        for value in list(vars(provider_conf).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()
    listener = sys.modules.get("airflow.providers.openlineage.plugins.listener")
    if listener is not None:
        listener.get_openlineage_listener().adapter._client = None
