"""Run a DAG in-process with `dag.test()`: what the scheduler would run, for a CLI range or hour by hour."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from wenulake.airflow_home import prepare
from wenulake.errors import ConfigError, PipelineFailed
from wenulake.settings import Settings, report_path
from wenulake.timeutil import Interval, iso


@dataclass
class TaskReport:
    task_id: str
    state: str
    seconds: float
    tries: int = 1
    summary: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class RunReport:
    dag_id: str
    run_id: str
    interval: Interval
    state: str
    seconds: float
    tasks: list[TaskReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def failure(self) -> str:
        failed = [t for t in self.tasks if t.state not in ("success", "skipped")]
        reasons = [f"{t.task_id}: {t.error or t.state}" for t in failed]
        return f"{self.dag_id} run {self.interval} {self.state}: " + ("; ".join(reasons) or "no task ran")


@contextmanager
def settings_in_environment(settings: Settings) -> Iterator[None]:
    """Tasks build their Settings from WENULAKE_* variables, as under the scheduler: hand ours over."""
    overrides = settings.to_env()
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


#: the DAGs an asset of a DAG schedules, run after it in-process (the scheduler's data-aware scheduling)
DOWNSTREAM: dict[str, tuple[str, ...]] = {"sensors": ("alarms",)}


def load_dag(settings: Settings, dag_id: str) -> Any:
    from wenulake import ops_alerts

    ops_alerts.IN_PROCESS = True  # no scheduler here to watch deadlines (see ops_alerts.IN_PROCESS)
    prepare(settings, logging_level="WARNING", in_process=True)
    from wenulake.lineage import refresh_provider

    refresh_provider(settings)
    from airflow.dag_processing.dagbag import DagBag

    logging.getLogger("airflow").setLevel(logging.WARNING)
    bag = DagBag(str(settings.dags_folder), safe_mode=False)
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise ConfigError(f"DAG file {path} does not import: {error.strip().splitlines()[-1]}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise ConfigError(
            f"no DAG {dag_id!r} in {settings.dags_folder}; known: {', '.join(sorted(bag.dag_ids))}"
        )
    return dag


def run_dag(
    settings: Settings, dag_id: str, interval: Interval, params: dict[str, Any] | None = None
) -> RunReport:
    """One DAG run over `interval` (as Params start/end, with any other `params`), in this process."""
    conf = {**(params or {}), "start": iso(interval.start), "end": iso(interval.end)}
    return run_with_conf(settings, dag_id, interval, conf, interval.end)


def run_hourly(
    settings: Settings, dag_id: str, hour: Interval, params: dict[str, Any] | None = None
) -> RunReport:
    """One run of the hour as the schedule makes it: the data interval is the hour, no range Params (what a
    backfill runs). `dag.test()` takes the run's logical date as the moment it runs and infers the interval
    ending there, so the logical date is the hour's end (the scheduler's own runs carry the hour's start)."""
    return run_with_conf(settings, dag_id, hour, dict(params or {}), hour.end)


def run_manual(settings: Settings, dag_id: str, conf: dict[str, Any]) -> RunReport:
    """One run of a manually triggered DAG (historical_migration) with `conf` as its Params, in this process."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).replace(microsecond=0)
    return run_with_conf(
        settings, dag_id, Interval(now, now + timedelta(seconds=1)), conf, now, real_interval=False
    )


def record_run(dag_id: str, run_id: str, began: Any, interval: Interval | None) -> None:
    """Make an in-process run look in the Airflow UI as it ran: `dag.test()` records the run as starting at its
    logical date (for a CLI range, the range's end: months before today, a duration of months in the UI) with a
    one-hour data interval inferred from it. Record the wall-clock start and, for a run over a range, the range
    as its data interval."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
        if row is None:
            return
        row.start_date = began
        if interval is not None:
            row.data_interval_start = interval.start
            row.data_interval_end = interval.end
        for ti in row.task_instances:
            if ti.start_date is not None and ti.start_date < began:
                ti.start_date = began


def run_with_conf(
    settings: Settings,
    dag_id: str,
    interval: Interval,
    conf: dict[str, Any],
    logical_date: Any,
    real_interval: bool = True,
) -> RunReport:
    from datetime import UTC, datetime

    dag = load_dag(settings, dag_id)
    started = time.perf_counter()
    began = datetime.now(UTC)
    with settings_in_environment(settings):
        run = dag.test(logical_date=logical_date, run_conf=conf)
    record_run(dag_id, run.run_id, began, interval if real_interval else None)
    report = RunReport(
        dag_id=dag_id,
        run_id=run.run_id,
        interval=interval,
        state=str(run.state),
        seconds=round(time.perf_counter() - started, 3),
    )
    for ti in sorted(run.get_task_instances(), key=lambda t: (t.start_date is None, t.start_date)):
        path = report_path(settings, run.run_id, ti.task_id)
        detail = json.loads(path.read_text()) if path.exists() else {}
        report.tasks.append(
            TaskReport(
                task_id=ti.task_id,
                state=str(ti.state),
                seconds=round(ti.duration or 0.0, 3),
                tries=int(ti.try_number or 1),
                summary=detail.get("summary"),
                error=detail.get("error"),
            )
        )
    return report


def sweep_leftovers(settings: Settings) -> None:
    """Drop what failed runs left (staging batches, temporary warehouse copies); under the lake lock."""
    from wenulake.airflow_home import scheduler_alive
    from wenulake.leftovers import sweep

    sweep(settings, scheduler_alive(settings))


def run_range(
    settings: Settings,
    dag_id: str,
    interval: Interval,
    hourly: bool,
    on_report: Callable[[RunReport], None] | None = None,
    params: dict[str, Any] | None = None,
) -> list[RunReport]:
    """One run over the range, or one per UTC hour, each followed by the DAGs its assets schedule (sensors ->
    alarms), as the scheduler would; stops at the first failed run and raises. `params` go to `dag_id`'s runs
    (e.g. allow_missing_objects), not to the DAGs downstream of it. Holds the lake's writer lock throughout
    (re-entrant: the CLI takes it first, to wait or refuse with --no-wait)."""
    from wenulake.lakelock import lake_lock

    reports = []
    with lake_lock(settings, f"run_range {dag_id} {interval}", on_wait=logging.getLogger(__name__).warning):
        sweep_leftovers(settings)
        for part in interval.split_hourly() if hourly else [interval]:
            for current in (dag_id, *DOWNSTREAM.get(dag_id, ())):
                report = run_dag(settings, current, part, params if current == dag_id else None)
                reports.append(report)
                if on_report:
                    on_report(report)
                if not report.ok:
                    raise PipelineFailed(report.failure())
    return reports
