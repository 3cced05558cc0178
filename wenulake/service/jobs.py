"""Work a catalog change needs, queued in the catalog database and run one at a time.

A job is a row of catalog_jobs: queued -> running -> done | failed, with its result; a reprocess job handed to
Airflow is queued -> submitted (an Airflow backfill, its id in the params) -> done | failed once the backfill
completes. The server runs queued replays in a worker thread (WENULAKE_SERVICE_RUN_JOBS), each holding the lake's
writer lock like an in-process command (waiting WENULAKE_SERVICE_LAKE_LOCK_WAIT at most); reprocess jobs are
- handed to Airflow through its REST API when a scheduler of this Airflow home runs (`wenulake.backfill
  .scheduler_alive`): by the server's worker (when the Airflow home exists), the `catalog_sync` DAG's
  `apply_catalog_jobs` task or `wenulake catalog apply`;
- else run in-process (the sensors DAG with dag.test) by that task or that command.
A job is claimed by one runner only (status compare-and-set).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from wenulake.catalog import schema
from wenulake.errors import WenulakeError
from wenulake.settings import Settings

#: replay: the enrichment quarantine against today's catalog (light: the server's worker runs it);
#: reprocess: the sensors DAG over a range of arrival hours (Spark and Airflow: `wenulake catalog apply` runs it)
KINDS = ("replay", "reprocess")
SERVER_KINDS = ("replay",)
STATUSES = ("queued", "running", "submitted", "done", "failed")
log = logging.getLogger(__name__)
REPLAY_REASONS = ("unknown_device", "unknown_channel")


def queue(engine: Engine, kind: str, params: dict[str, Any], actor: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise WenulakeError(f"unknown job kind {kind!r}")
    with engine.begin() as connection:
        result = connection.execute(
            insert(schema.catalog_jobs).values(
                kind=kind,
                params=json.dumps(params, sort_keys=True),
                status="queued",
                created_by=actor,
                created_at=datetime.now(UTC),
            )
        )
        job_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return get(engine, job_id)


def _job(row: Any) -> dict[str, Any]:
    job = dict(row._mapping)
    job["params"] = json.loads(job["params"])
    for key in ("created_at", "started_at", "finished_at"):
        if job[key] is not None and job[key].tzinfo is None:
            job[key] = job[key].replace(tzinfo=UTC)
    return job


def get(engine: Engine, job_id: int) -> dict[str, Any]:
    j = schema.catalog_jobs
    with engine.connect() as connection:
        row = connection.execute(select(j).where(j.c.job_id == job_id)).first()
    if row is None:
        raise WenulakeError(f"no job {job_id}")
    return _job(row)


def recent(engine: Engine, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
    j = schema.catalog_jobs
    query = select(j).order_by(j.c.job_id.desc()).limit(limit)
    if status:
        query = query.where(j.c.status == status)
    with engine.connect() as connection:
        return [_job(r) for r in connection.execute(query)]


def _claim(engine: Engine, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    j = schema.catalog_jobs
    with engine.begin() as connection:
        row = connection.execute(
            select(j).where(j.c.status == "queued", j.c.kind.in_(kinds)).order_by(j.c.job_id).limit(1)
        ).first()
        if row is None:
            return None
        done = connection.execute(
            update(j)
            .where(j.c.job_id == row.job_id, j.c.status == "queued")
            .values(status="running", started_at=datetime.now(UTC))
        )
        if done.rowcount != 1:
            return None
    return _job(row)


def run_job(settings: Settings, job: dict[str, Any]) -> str:
    if job["kind"] == "replay":
        from wenulake.pipeline.replay import replay

        reasons = [r for r in job["params"].get("reasons", REPLAY_REASONS) if r in REPLAY_REASONS]
        return str(replay(settings, reasons or None, None))
    if job["kind"] == "reprocess":
        from wenulake.orchestrate import run_range
        from wenulake.timeutil import Interval, parse_instant

        interval = Interval(parse_instant(job["params"]["start"]), parse_instant(job["params"]["end"]))
        reports = run_range(settings, "sensors", interval, False)
        return "; ".join(f"{r.dag_id} {r.interval}: {r.state}" for r in reports)
    raise WenulakeError(f"unknown job kind {job['kind']!r}")


def run_pending(
    settings: Settings,
    engine: Engine,
    kinds: tuple[str, ...] = KINDS,
    lake_lock_wait: float | None = None,
) -> list[dict[str, Any]]:
    """Run every queued job of `kinds`, oldest first; returns them as finished. With `lake_lock_wait` (the
    server's worker), each job holds the lake's writer lock while it runs, waiting at most that many seconds for
    another run's (the job shows the waiting line as its result meanwhile) and failing naming the holder; without,
    the caller holds it (`catalog apply`) or is serialised by Airflow's pool (the catalog_sync DAG)."""
    finished = []
    j = schema.catalog_jobs
    while (job := _claim(engine, kinds)) is not None:
        try:
            status, result = "done", _run_holding_the_lake(settings, engine, job, lake_lock_wait)
        except Exception as exc:  # the job fails, with its reason; the runner goes on
            status, result = "failed", f"{type(exc).__name__}: {exc}"
        with engine.begin() as connection:
            connection.execute(
                update(j)
                .where(j.c.job_id == job["job_id"])
                .values(status=status, result=result, finished_at=datetime.now(UTC))
            )
        finished.append(get(engine, job["job_id"]))
    return finished


def _run_holding_the_lake(
    settings: Settings, engine: Engine, job: dict[str, Any], lake_lock_wait: float | None
) -> str:
    if lake_lock_wait is None:
        return run_job(settings, job)
    from wenulake.lakelock import lake_lock

    def waiting(line: str) -> None:
        _finish(engine, job["job_id"], "running", line)

    with lake_lock(
        settings,
        f"wenulake serve: {job['kind']} job {job['job_id']}",
        on_wait=waiting,
        timeout=lake_lock_wait,
        timeout_setting="WENULAKE_SERVICE_LAKE_LOCK_WAIT",
    ):
        return run_job(settings, job)


def _finish(
    engine: Engine, job_id: int, status: str, result: str, params: dict[str, Any] | None = None
) -> None:
    j = schema.catalog_jobs
    values: dict[str, Any] = {"status": status, "result": result}
    if status in ("done", "failed"):
        values["finished_at"] = datetime.now(UTC)
    if params is not None:
        values["params"] = json.dumps(params, sort_keys=True)
    with engine.begin() as connection:
        connection.execute(update(j).where(j.c.job_id == job_id).values(**values))


def submit_to_airflow(settings: Settings, engine: Engine) -> list[dict[str, Any]]:
    """Hand every queued reprocess job to Airflow as a backfill of the sensors DAG over its hours (reprocess
    behaviour `completed`: hours already run are run again); the jobs become `submitted`."""
    from wenulake.airflow_api import AirflowApi
    from wenulake.timeutil import Interval, parse_instant

    submitted = []
    api = AirflowApi(settings)
    try:
        while (job := _claim(engine, ("reprocess",))) is not None:
            params = job["params"]
            interval = Interval(parse_instant(params["start"]), parse_instant(params["end"]))
            try:
                backfill = api.create_backfill("sensors", interval)
            except WenulakeError as exc:
                _finish(engine, job["job_id"], "failed", f"{type(exc).__name__}: {exc}")
            else:
                params = {**params, "airflow_backfill_id": int(backfill["id"])}
                _finish(
                    engine, job["job_id"], "submitted",
                    f"Airflow backfill {backfill['id']} of sensors from {params['start']} to {params['end']}",
                    params,
                )  # fmt: skip
            submitted.append(get(engine, job["job_id"]))
    finally:
        api.close()
    return submitted


def follow_submitted(settings: Settings, engine: Engine) -> list[dict[str, Any]]:
    """Update submitted jobs from their Airflow backfills: done (or failed, if a run failed) once completed."""
    from wenulake.airflow_api import AirflowApi
    from wenulake.timeutil import parse_instant

    changed = []
    api = AirflowApi(settings)
    try:
        for job in recent(engine, limit=200, status="submitted"):
            backfill_id = int(job["params"]["airflow_backfill_id"])
            try:
                backfill = api.backfill(backfill_id)
                states = api.backfill_runs(
                    "sensors", parse_instant(backfill["from_date"]), parse_instant(backfill["to_date"])
                )
            except WenulakeError as exc:
                log.warning("job %s: %s", job["job_id"], exc)
                continue
            shown = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no runs yet"
            if backfill.get("completed_at"):
                status = "failed" if states.get("failed") else "done"
                _finish(engine, job["job_id"], status, f"Airflow backfill {backfill_id} completed: {shown}")
            else:
                _finish(
                    engine, job["job_id"], "submitted", f"Airflow backfill {backfill_id} running: {shown}"
                )
            changed.append(get(engine, job["job_id"]))
    finally:
        api.close()
    return changed


def scheduler_running(settings: Settings) -> bool:
    """A scheduler of this Airflow home runs (heartbeat in its metadata DB); False when the home was never set
    up (no Airflow import then: the service does not need Airflow)."""
    if not (settings.airflow_home_path / ".db-migrated").exists():
        return False
    from wenulake.airflow_home import scheduler_alive

    return scheduler_alive(settings)


def apply_reprocessing(settings: Settings, engine: Engine, in_process: bool = True) -> list[dict[str, Any]]:
    """The reprocess jobs: follow those submitted to Airflow; hand the queued ones to Airflow's REST API when a
    scheduler runs, else (`in_process`) run them here, oldest first."""
    done = follow_submitted(settings, engine) if recent(engine, limit=1, status="submitted") else []
    if scheduler_running(settings):
        return done + submit_to_airflow(settings, engine)
    if in_process:
        return done + run_pending(settings, engine, ("reprocess",))
    return done


class Worker:
    """A daemon thread of the server that runs queued replays; `wake()` after queueing one. Reprocessing runs
    Airflow's dag.test, which belongs in a process of its own (`wenulake catalog apply`), not a server thread."""

    def __init__(self, settings: Settings, engine: Engine, poll_seconds: float = 5.0) -> None:
        self.settings, self.engine, self.poll_seconds = settings, engine, poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="catalog-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            run_pending(self.settings, self.engine, SERVER_KINDS, self.settings.service_lake_lock_wait)
            try:  # reprocessing goes to Airflow when a scheduler runs; never run in this thread
                apply_reprocessing(self.settings, self.engine, in_process=False)
            except Exception:  # the worker keeps running; the jobs stay queued for the DAG or the CLI
                log.exception("handing reprocess jobs to Airflow failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
