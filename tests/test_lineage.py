"""Lineage: the DAGs emit OpenLineage events (apache-airflow-providers-openlineage) naming every lake and warehouse
table a task reads and writes, to the file transport by default and to an HTTP endpoint (Marquez) by setting."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from wenulake.lineage import namespaces, tasks_lineage, warehouse_namespace
from wenulake.orchestrate import load_dag, run_dag
from wenulake.settings import Settings
from wenulake.timeutil import Interval, parse_instant

WORKORDER_TASKS = [
    "ingest_workorder_events",
    "gate_workorder_events",
    "build_work_orders",
    "gate_work_orders",
    "load_work_orders",
]


@pytest.fixture(scope="module")
def wo_sample(sample: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small work-order landing over the session sample's catalog."""
    from wenulake.devtools.generator_workorders import generate_workorders

    out = tmp_path_factory.mktemp("lineage-workorders")
    shutil.copytree(sample["dir"] / "catalog", out / "catalog")
    manifest = generate_workorders(out, orders=20, hours=2, seed=3, fault_rate=0.0)
    return {"dir": out, "manifest": manifest}


def _interval(wo_sample: dict[str, Any]) -> Interval:
    manifest = wo_sample["manifest"]
    return Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))


def _task_events(events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(task id, eventType) -> the task's event (job name `<dag_id>.<task_id>`)."""
    out = {}
    for event in events:
        name = event["job"]["name"]
        if "." in name:
            out[(name.split(".", 1)[1], event["eventType"])] = event
    return out


def _forks_of_this_process() -> list[Any]:
    import psutil

    me = psutil.Process()
    forks = []
    for child in me.children(recursive=True):
        try:
            if child.cmdline() == me.cmdline():
                forks.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # exited (a zombie waiting for its parent, or gone): it holds nothing open
    return forks


def _names(event: dict[str, Any], side: str) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in event.get(side, [])}


def _expected(settings: Settings, dag_id: str, task_id: str) -> tuple[set[Any], set[Any]]:
    where = namespaces(settings)
    reads, writes = tasks_lineage()[dag_id][task_id]
    return {(where[k], n) for k, n in reads}, {(where[k], n) for k, n in writes}


@pytest.mark.slow
@pytest.mark.airflow
def test_a_dag_run_emits_start_and_complete_per_task_with_its_tables(
    wo_home: Settings, wo_sample: dict[str, Any]
) -> None:
    settings = wo_home
    report = run_dag(settings, "workorders", _interval(wo_sample))
    assert report.ok, report.failure()
    # in-process runs emit no DAG-run events: the provider would fork a process pool from this process for them
    assert not _forks_of_this_process()

    path = settings.home.absolute() / "lineage" / "openlineage.jsonl"  # the default file transport
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_task = _task_events(events)
    for task_id in WORKORDER_TASKS:
        start, complete = by_task[(task_id, "START")], by_task[(task_id, "COMPLETE")]
        assert start["job"]["namespace"] == "wenulake"
        assert start["run"]["runId"] == complete["run"]["runId"]
        reads, writes = _expected(settings, "workorders", task_id)
        assert _names(complete, "inputs") == reads, task_id
        assert _names(complete, "outputs") == writes, task_id
    lake = Path(settings.lake_uri).absolute().as_uri()
    assert _names(by_task[("gate_work_orders", "COMPLETE")], "outputs") == {
        (lake, "silver.work_order_event"),
        (lake, "gold.work_order"),
        (lake, "ops.quarantine"),
        (lake, "ops.dq_result"),
    }
    duckdb = warehouse_namespace(settings)
    assert duckdb == "duckdb://" + str(settings.home.absolute() / "warehouse.duckdb")
    assert (duckdb, "fact_work_order") in _names(by_task[("load_work_orders", "COMPLETE")], "outputs")
    assert (Path(settings.landing_uri).absolute().as_uri(), "workorders") in _names(
        by_task[("ingest_workorder_events", "START")], "inputs"
    )


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def marquez() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A tiny OpenLineage endpoint on 127.0.0.1 recording what is POSTed to it."""
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.airflow
def test_events_go_to_the_http_endpoint_when_set(
    wo_home: Settings,
    wo_sample: dict[str, Any],
    marquez: tuple[str, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = marquez
    monkeypatch.setenv("WENULAKE_OPENLINEAGE_URL", url)
    monkeypatch.setenv("WENULAKE_OPENLINEAGE_NAMESPACE", "plant-a")
    settings = Settings()
    report = run_dag(settings, "workorders", _interval(wo_sample))
    assert report.ok, report.failure()

    assert {path for path, _ in received} == {"/api/v1/lineage"}
    by_task = _task_events([event for _, event in received])
    for task_id in WORKORDER_TASKS:
        assert by_task[(task_id, "START")]["job"]["namespace"] == "plant-a"
        assert (task_id, "COMPLETE") in by_task
    _, writes = _expected(settings, "workorders", "gate_workorder_events")
    assert _names(by_task[("gate_workorder_events", "COMPLETE")], "outputs") == writes
    assert not (settings.home.absolute() / "lineage" / "openlineage.jsonl").exists()  # not the file


@pytest.mark.airflow
def test_every_task_of_every_dag_declares_its_lineage(home: Path) -> None:
    settings = Settings()
    for dag_id, declared in tasks_lineage().items():
        dag = load_dag(settings, dag_id)
        assert set(dag.task_dict) == set(declared), dag_id
    sensors = load_dag(settings, "sensors")
    outlets = sensors.task_dict["gate_silver"].outlets
    assert any(getattr(o, "uri", "") == "wenulake://lake/silver/reading" for o in outlets)  # the Asset stays
    assert {getattr(o, "name", None) for o in outlets} >= {"silver.reading", "ops.quarantine"}


def test_warehouse_namespaces_carry_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    monkeypatch.setenv("WENULAKE_WAREHOUSE_URL", "postgresql+psycopg://etl:s3cret@db.internal/wh")
    assert warehouse_namespace(Settings()) == "postgres://db.internal:5432/wh"
    monkeypatch.setenv("WENULAKE_WAREHOUSE_URL", "redshift://etl:s3cret@cluster.example:5439/dev")
    assert warehouse_namespace(Settings()) == "redshift://cluster.example:5439/dev"
