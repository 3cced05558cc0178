"""Every DAG file imports cleanly and has the expected shape (what the scheduler will parse)."""

from __future__ import annotations

import itertools

import pytest

from wenulake.orchestrate import load_dag
from wenulake.settings import Settings

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag():
    from wenulake.airflow_home import prepare

    settings = Settings()
    prepare(settings)
    from airflow.dag_processing.dagbag import DagBag

    from wenulake import ops_alerts

    # parsed as the scheduler parses them (in-process runs earlier in this session leave their DAGs without
    # the deadline: wenulake.ops_alerts.IN_PROCESS)
    saved, ops_alerts.IN_PROCESS = ops_alerts.IN_PROCESS, False
    try:
        return DagBag(str(settings.dags_folder))
    finally:
        ops_alerts.IN_PROCESS = saved


def test_every_dag_file_imports(dagbag):
    assert dagbag.import_errors == {}
    assert "sensors" in dagbag.dag_ids


def test_sensors_dag_shape(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = dagbag.get_dag("sensors")
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is True
    assert dag.max_active_runs <= 4
    assert dag.max_active_runs == Settings().catchup_max_active_runs  # the documented catch-up cap
    assert set(dag.task_ids) == {
        "ingest_bronze", "gate_bronze", "enrich_silver", "gate_silver", "stage_gold", "compute_stats",
        "gate_stats", "load_warehouse", "gate_warehouse", "purge_stats",
    }  # fmt: skip
    assert dag.get_task("gate_bronze").upstream_task_ids == {"ingest_bronze"}
    assert dag.get_task("enrich_silver").upstream_task_ids == {"gate_bronze"}
    assert dag.get_task("gate_silver").upstream_task_ids == {"enrich_silver"}
    assert dag.get_task("stage_gold").upstream_task_ids == {"gate_silver"}
    assert dag.get_task("compute_stats").upstream_task_ids == {"stage_gold"}
    assert dag.get_task("gate_stats").upstream_task_ids == {"compute_stats"}
    assert dag.get_task("load_warehouse").upstream_task_ids == {"gate_stats"}
    assert dag.get_task("gate_warehouse").upstream_task_ids == {"load_warehouse"}
    assert dag.get_task("purge_stats").upstream_task_ids == {"gate_warehouse"}
    for publisher in ("gate_bronze", "gate_silver", "gate_stats", "load_warehouse", "gate_warehouse"):
        assert dag.get_task(publisher).max_active_tis_per_dag == 1
    for task in dag.tasks:
        assert task.retries >= 1


def test_catalog_sync_dag_takes_a_path_param(dagbag):
    dag = dagbag.get_dag("catalog_sync")
    # every 10 minutes it drains the catalog service's queue; manual runs also load a directory
    assert dag.schedule == "*/10 * * * *"
    assert "path" in dag.params
    assert sorted(dag.task_ids) == ["apply_catalog_jobs", "load_catalog"]
    assert (
        dag.get_task("apply_catalog_jobs").trigger_rule == "all_done"
    )  # the queue drains even if a load fails


def test_unknown_dag_is_a_clear_error():
    with pytest.raises(Exception, match="no DAG 'nope'"):
        load_dag(Settings(), "nope")


def test_workorders_dag_shape(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = dagbag.get_dag("workorders")
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is True
    assert {"start", "end"} <= set(dag.params)
    chain = ["ingest_workorder_events", "gate_workorder_events", "build_work_orders", "gate_work_orders",
             "load_work_orders"]  # fmt: skip
    assert set(dag.task_ids) == set(chain)
    for upstream, task in itertools.pairwise(chain):
        assert dag.get_task(task).upstream_task_ids == {upstream}
    from wenulake.airflow_home import LAKE_WRITERS_POOL

    for publisher in chain[1:]:
        assert dag.get_task(publisher).max_active_tis_per_dag == 1
        assert dag.get_task(publisher).pool == LAKE_WRITERS_POOL
    assert dagbag.get_dag("alarms").get_task("open_work_orders").pool == LAKE_WRITERS_POOL
    for task in dag.tasks:
        assert task.retries >= 1


def test_alarms_dag_is_scheduled_by_the_silver_asset(dagbag):
    dag = dagbag.get_dag("alarms")
    assert [asset.uri for asset in dag.timetable.asset_condition.objects] == [
        "wenulake://lake/silver/reading"
    ]
    sensors = dagbag.get_dag("sensors")
    # the Assets only (not the lineage datasets wenulake.lineage adds)
    assets = [o.uri for o in sensors.get_task("gate_silver").outlets if hasattr(o, "uri")]
    assert assets == ["wenulake://lake/silver/reading"]  # the asset the sensors DAG publishes
    assert set(dag.task_ids) == {"detect_alarms", "load_alarms", "deliver_notifications", "open_work_orders"}
    assert dag.get_task("deliver_notifications").upstream_task_ids == {"detect_alarms"}
    assert dag.get_task("load_alarms").upstream_task_ids == {"detect_alarms"}
    assert dag.get_task("open_work_orders").upstream_task_ids == {"detect_alarms"}
    for task in dag.tasks:
        assert task.retries >= 1


def test_historical_migration_maps_one_task_per_month(dagbag):
    from wenulake.airflow_home import LAKE_WRITERS_POOL

    dag = dagbag.get_dag("historical_migration")
    # manual or backfill runs only: the catalog service's queue is drained by the catalog_sync DAG
    assert dag.schedule is None
    assert {"source", "from_month", "to_month", "redo"} <= set(dag.params)
    assert set(dag.task_ids) == {"plan_months", "migrate_month", "summarise"}
    month = dag.get_task("migrate_month")
    assert type(month).__name__.endswith("MappedOperator")  # dynamic task mapping over plan_months
    assert month.upstream_task_ids == {"plan_months"}
    assert dag.get_task("summarise").upstream_task_ids == {"migrate_month"}
    assert month.pool == LAKE_WRITERS_POOL
    sensors = dagbag.get_dag("sensors")
    for publisher in ("gate_bronze", "gate_silver", "gate_stats", "load_warehouse", "gate_warehouse"):
        assert sensors.get_task(publisher).pool == LAKE_WRITERS_POOL  # one writer at a time, across DAGs


def test_maintenance_dag_is_daily_in_the_lake_writers_pool(dagbag):
    from wenulake.airflow_home import LAKE_WRITERS_POOL
    from wenulake.status import DAGS

    dag = dagbag.get_dag("maintenance")
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert set(dag.task_ids) == {"maintain"}
    assert dag.get_task("maintain").pool == LAKE_WRITERS_POOL
    assert dag.doc_md
    # `wenulake status` knows each DAG's final tasks: they must be the DAGs' leaves
    for dag_id, (_, finals) in DAGS.items():
        leaves = {t.task_id for t in dagbag.get_dag(dag_id).tasks if not t.downstream_task_ids}
        assert set(finals) == leaves, dag_id


def callbacks(value):
    return list(value) if isinstance(value, list | tuple) else [value]


def test_every_dag_and_task_explains_itself_and_alerts(dagbag):
    """doc_md on every DAG and task (reads, writes, checks, on failure) and the alert callbacks on every task."""
    from wenulake.ops_alerts import on_task_failure, on_task_retry

    for dag_id in ("sensors", "alarms", "workorders", "catalog_sync", "historical_migration"):
        dag = dagbag.get_dag(dag_id)
        assert dag.doc_md, dag_id
        for task in dag.tasks:
            doc = task.doc_md or ""
            for part in ("**Reads:**", "**Writes:**", "**Checks:**", "**On failure:**"):
                assert part in doc, (dag_id, task.task_id, part)
            assert on_task_failure in callbacks(task.on_failure_callback), (dag_id, task.task_id)
            assert on_task_retry in callbacks(task.on_retry_callback), (dag_id, task.task_id)


def test_the_sensors_run_has_a_deadline_and_no_fixed_catchup_start(dagbag):
    from datetime import timedelta

    dag = dagbag.get_dag("sensors")
    [deadline] = dag.deadline
    assert deadline.interval == timedelta(hours=1, minutes=Settings().sensors_deadline_minutes)
    assert "deadline_missed" in str(deadline.callback.path)
    # the schedule starts where catchup_start says (the landing's first hour here), never at a fixed date
    from wenulake.dag_defaults import catchup_start

    assert dag.start_date == catchup_start(Settings(), "sensors")


def test_the_catchup_start_is_the_setting_else_the_landings_first_hour_else_now(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from wenulake.dag_defaults import catchup_start

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("WENULAKE_LANDING", str(tmp_path / "landing"))
    monkeypatch.delenv("WENULAKE_SENSORS_CATCHUP_START", raising=False)
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert catchup_start(Settings(), "sensors") >= before  # an empty landing: the current hour
    first = tmp_path / "landing" / "sensors" / "2025" / "11" / "03" / "07"
    first.mkdir(parents=True)
    (tmp_path / "landing" / "sensors" / "2025" / "11" / "04" / "01").mkdir(parents=True)
    (first / "object.gz").write_bytes(b"x")
    assert catchup_start(Settings(), "sensors") == datetime(2025, 11, 3, 7, tzinfo=UTC)
    (first / "object.gz").unlink()  # remembered in the Airflow home once found
    assert catchup_start(Settings(), "sensors") == datetime(2025, 11, 3, 7, tzinfo=UTC)
    monkeypatch.setenv("WENULAKE_SENSORS_CATCHUP_START", "2026-01-02T03:45:00Z")
    assert catchup_start(Settings(), "sensors") == datetime(2026, 1, 2, 3, tzinfo=UTC)


def test_params_forms_validate_their_input(dagbag):
    """The trigger form's Params refuse a range not on the hour and bad migration months before a run starts."""
    import copy

    def check(dag_id, **values):
        params = copy.deepcopy(dagbag.get_dag(dag_id).params)
        for key, value in values.items():
            params[key] = value
        params.validate()

    check("sensors", start="2026-04-04T00:00:00Z", end="2026-04-04T06:00:00Z")
    check("sensors", start="2026-04-04T00:00:00+00:00", end="2026-04-04T06:00:00.000Z")
    for bad in ("2026-04-04T00:30:00Z", "yesterday", "2026-04-04"):
        with pytest.raises(Exception, match="does not match"):
            check("sensors", start=bad)
    check("historical_migration", source="/data/legacy", from_month="2025-12", to_month="2026-02")
    with pytest.raises(Exception, match="does not match"):
        check("historical_migration", source="/data/legacy", from_month="2025-13")
    with pytest.raises(Exception, match="source"):
        check("historical_migration", source="")


def test_in_process_runs_are_not_bound_by_the_remembered_catchup_start(tmp_path, monkeypatch):
    """A catch-up start remembered in the Airflow home (another landing's first hour, later than the hours a
    command asks for) binds the scheduler only: DAGs parsed for `wenulake run` start early enough for any range."""
    from datetime import UTC, datetime

    from wenulake import ops_alerts
    from wenulake.dag_defaults import IN_PROCESS_START, catchup_start
    from wenulake.orchestrate import load_dag

    settings = Settings()
    remembered = settings.airflow_home_path / "catchup_start_workorders"
    saved = remembered.read_text() if remembered.exists() else None
    remembered.parent.mkdir(parents=True, exist_ok=True)
    remembered.write_text(datetime(2030, 1, 1, tzinfo=UTC).isoformat())
    monkeypatch.setattr(ops_alerts, "IN_PROCESS", False)
    try:
        assert catchup_start(settings, "workorders") == datetime(2030, 1, 1, tzinfo=UTC)
        assert load_dag(settings, "workorders").start_date == IN_PROCESS_START
    finally:
        if saved is None:
            remembered.unlink()
        else:
            remembered.write_text(saved)
