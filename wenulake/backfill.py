"""Backfills of the sensors DAG: through the scheduler when one runs, else hour by hour in this process.

Both paths run the same hourly intervals the schedule runs (the DAG's data intervals, no Params), in order, so a
backfill gives the tables the schedule would have given. Which hours run follows Airflow's
`reprocess_behavior`, looking at the latest DAG run of each hour in the metadata database (scheduled runs,
earlier backfills and in-process runs alike):
- `none` (default): only hours without a finished run;
- `failed`: those, and hours whose latest run failed;
- `completed`: every hour, even those already done (success or failed).
A run still `running` or `queued` is in flight under a scheduler and never started twice; in-process, where no
scheduler can own it, it is an interrupted run and runs again. So stopping a backfill and starting it again
resumes where it stopped.

- with a scheduler (`make airflow`: a SchedulerJob heartbeat in $WENULAKE_AIRFLOW_HOME's metadata DB within the
  last HEARTBEAT_SECONDS): `create_backfill` writes the same Airflow backfill the UI's form and
  `airflow backfill create` write (airflow.models.backfill), and `watch` follows its runs;
- without: `run_in_process` runs each hour with `dag.test()` followed by the DAGs its assets schedule (alarms),
  as the scheduler would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from wenulake.airflow_home import prepare
from wenulake.errors import ConfigError, PipelineFailed
from wenulake.settings import Settings
from wenulake.timeutil import Interval

REPROCESS = ("none", "failed", "completed")
FINISHED = ("success", "failed")


@dataclass
class Progress:
    total: int
    done: int = 0
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    records: int = 0
    states: dict[str, int] = field(default_factory=dict)
    finished: bool = False


def hours_of(interval: Interval) -> list[Interval]:
    if interval.start.minute or interval.start.second or interval.end.minute or interval.end.second:
        raise ConfigError(f"a backfill range is whole UTC hours: {interval} is not")
    return interval.split_hourly()


def latest_states(settings: Settings, dag_id: str, hours: list[Interval]) -> dict[datetime, str | None]:
    """Each hour's latest DAG run state, keyed by the hour's start: the runs whose data interval is exactly
    the hour. (Matched by data interval, not logical date: the scheduler's runs and Airflow backfills carry
    the interval's start as logical date, `dag.test()` runs the interval's end.) A run over a longer range
    with Params start/end does not count for the hour."""
    prepare(settings)
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    starts = [h.start for h in hours]
    states: dict[datetime, str | None] = dict.fromkeys(starts)
    with create_session() as session:
        runs = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.data_interval_start.in_(starts))
            .order_by(DagRun.start_date.is_(None), DagRun.start_date)
        ).all()
        for run in runs:
            conf = run.conf or {}
            if conf.get("start") or conf.get("end"):
                continue
            start, end = run.data_interval_start, run.data_interval_end
            if start is None or end is None or end - start != timedelta(hours=1):
                continue
            states[start.astimezone(UTC)] = str(run.state)
    return states


def to_run(states: dict[datetime, str | None], reprocess: str, in_process: bool) -> list[datetime]:
    """The hours (by start) a backfill runs, Airflow's reprocess_behavior (see the module doc)."""
    if reprocess not in REPROCESS:
        raise ConfigError(f"--reprocess must be one of {', '.join(REPROCESS)}, not {reprocess!r}")
    rerun = {"none": (), "failed": ("failed",), "completed": FINISHED}[reprocess]

    def runs(state: str | None) -> bool:
        if state is None:
            return True
        return state in rerun if state in FINISHED else in_process

    return [hour for hour, state in sorted(states.items()) if runs(state)]


def run_in_process(
    settings: Settings,
    dag_id: str,
    interval: Interval,
    reprocess: str = "none",
    on_hour: Callable[[Interval, Progress], None] | None = None,
    params: dict[str, Any] | None = None,
) -> Progress:
    """Run the chosen hours in order (each followed by its downstream DAGs); stops at the first failure.
    `params` go to `dag_id`'s runs (e.g. allow_missing_objects). Holds the lake's writer lock throughout."""
    from wenulake.lakelock import lake_lock

    with lake_lock(settings, f"backfill {dag_id} {interval}", on_wait=logging.getLogger(__name__).warning):
        return _run_in_process(settings, dag_id, interval, reprocess, on_hour, params)


def _run_in_process(
    settings: Settings,
    dag_id: str,
    interval: Interval,
    reprocess: str,
    on_hour: Callable[[Interval, Progress], None] | None,
    params: dict[str, Any] | None,
) -> Progress:
    from wenulake.orchestrate import DOWNSTREAM, run_hourly, sweep_leftovers

    sweep_leftovers(settings)
    hours = hours_of(interval)
    chosen = set(to_run(latest_states(settings, dag_id, hours), reprocess, in_process=True))
    progress = Progress(total=len(hours))
    for hour in hours:
        if hour.start not in chosen:
            progress.skipped += 1
            progress.done += 1
            if on_hour:
                on_hour(hour, progress)
            continue
        for current in (dag_id, *DOWNSTREAM.get(dag_id, ())):
            report = run_hourly(settings, current, hour, params if current == dag_id else None)
            if current == dag_id:
                for task in report.tasks:
                    if task.task_id == "ingest_bronze" and task.summary:
                        progress.records += int(task.summary.get("records") or 0)
            if not report.ok:
                progress.failed += 1
                raise PipelineFailed(report.failure())
        progress.ran += 1
        progress.done += 1
        if on_hour:
            on_hour(hour, progress)
    progress.finished = True
    return progress


def create_backfill(
    settings: Settings,
    dag_id: str,
    interval: Interval,
    reprocess: str = "none",
    max_active: int = 4,
    unpause: bool = False,
    params: dict[str, Any] | None = None,
) -> tuple[int, bool]:
    """Create an Airflow backfill (what the UI's backfill form and `airflow backfill create` do); returns its id
    and whether the DAG was unpaused for it.
    The scheduler creates and runs its DAG runs, at most `max_active` at a time. The scheduler starts no run of
    a paused DAG, backfill runs included: a paused DAG is refused unless `unpause` (then it is unpaused, as the
    UI's form offers; its schedule runs again too)."""
    hours_of(interval)
    if reprocess not in REPROCESS:
        raise ConfigError(f"--reprocess must be one of {', '.join(REPROCESS)}, not {reprocess!r}")
    sync_dag(settings, dag_id)
    paused = is_paused(settings, dag_id)
    if paused and not unpause:
        raise ConfigError(
            f"DAG {dag_id} is paused, and the scheduler starts no run of a paused DAG, backfill runs "
            "included: unpause it (the UI's toggle, or --unpause; its hourly schedule then runs too), or "
            "run the backfill with --mode in-process"
        )
    from airflow.models.backfill import AlreadyRunningBackfill, ReprocessBehavior, _create_backfill

    try:
        backfill = _create_backfill(
            dag_id=dag_id,
            # logical dates, both included: this timetable's runs carry their data interval's start
            from_date=interval.start,
            to_date=interval.end - timedelta(hours=1),
            max_active_runs=max_active,
            reverse=False,
            dag_run_conf=dict(params or {}),
            triggering_user_name="wenulake backfill",
            reprocess_behavior=ReprocessBehavior(reprocess),
        )
    except AlreadyRunningBackfill as exc:
        raise ConfigError(f"{exc} (see the UI's Backfills tab, or `airflow backfill cancel`)") from None
    if paused:  # only once the backfill exists: a failed creation leaves the DAG as it was
        _unpause(dag_id)
    return int(backfill.id), paused


def is_paused(settings: Settings, dag_id: str) -> bool:
    """Whether the DAG is paused in the metadata DB (a DAG not written there yet counts as not paused)."""
    prepare(settings)
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        return bool(model is not None and model.is_paused)


def _unpause(dag_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        if model is not None:
            model.is_paused = False


def sync_dag(settings: Settings, dag_id: str) -> None:
    """Write the DAG files to the metadata DB (what the DAG processor does) so a backfill can be created."""
    prepare(settings)
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    from wenulake.orchestrate import settings_in_environment

    with settings_in_environment(settings), create_session() as session:
        manager = DagBundlesManager()
        manager.sync_bundles_to_db(session=session)
        session.commit()
        for bundle in manager.get_all_dag_bundles():
            if not bundle.is_initialized:
                bundle.initialize()
            bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
            if dag_id in bag.dag_ids:
                sync_bag_to_db(bag, bundle.name, bundle.version)
                return
    raise ConfigError(f"no DAG {dag_id!r} in the Airflow home's DAG bundles")


def backfill_progress(settings: Settings, backfill_id: int) -> Progress:
    """The backfill's runs by state, records ingested by its finished runs, and whether it completed."""
    import json

    prepare(settings)
    from airflow.models.backfill import Backfill, BackfillDagRun
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from wenulake.settings import report_path

    with create_session() as session:
        backfill = session.get(Backfill, backfill_id)
        if backfill is None:
            raise ConfigError(f"no backfill {backfill_id}")
        links = session.scalars(select(BackfillDagRun).where(BackfillDagRun.backfill_id == backfill_id)).all()
        run_ids = [link.dag_run_id for link in links if link.dag_run_id is not None]
        runs = session.scalars(select(DagRun).where(DagRun.id.in_(run_ids))).all() if run_ids else []
        progress = Progress(total=len(links), skipped=len(links) - len(run_ids))
        for run in runs:
            state = str(run.state)
            progress.states[state] = progress.states.get(state, 0) + 1
            if state in FINISHED:
                progress.done += 1
                progress.ran += 1
                progress.failed += state == "failed"
                path = report_path(settings, run.run_id, "ingest_bronze")
                if path.exists():
                    progress.records += int(
                        (json.loads(path.read_text()).get("summary") or {}).get("records") or 0
                    )
        progress.done += progress.skipped
        progress.finished = backfill.completed_at is not None
    return progress


def watch(
    settings: Settings,
    backfill_id: int,
    on_change: Callable[[Progress], Any],
    poll_seconds: float = 5.0,
    timeout: float | None = None,
) -> Progress:
    """Poll the backfill until it completes (or `timeout` seconds), reporting progress on every change."""
    started = time.monotonic()
    last: tuple[int, int] | None = None
    while True:
        progress = backfill_progress(settings, backfill_id)
        if (progress.done, progress.records) != last:
            on_change(progress)
            last = (progress.done, progress.records)
        if progress.finished or (timeout is not None and time.monotonic() - started > timeout):
            return progress
        time.sleep(poll_seconds)
