"""Queued catalog work outside the server: reprocess jobs are never run by the server's worker; without a
scheduler of this Airflow home they wait (queued) for the catalog_sync DAG's task or `wenulake catalog apply`;
the task function drains the queue. (The DAG itself runs with dag.test in the slow suite.)"""

from __future__ import annotations

from pathlib import Path

from wenulake.catalog.store import CatalogStore
from wenulake.service import jobs
from wenulake.settings import Settings


def _store(tmp_path: Path) -> tuple[Settings, CatalogStore]:
    settings = Settings(home=tmp_path / "home")
    store = CatalogStore(settings)
    store.migrate()
    return settings, store


def test_without_a_scheduler_reprocessing_waits_for_the_dag_or_the_cli(tmp_path: Path) -> None:
    settings, store = _store(tmp_path)
    params = {"sensor_id": "s1", "start": "2026-04-04T00:00:00Z", "end": "2026-04-04T02:00:00Z"}
    job = jobs.queue(store.engine, "reprocess", params, "operator")
    assert not jobs.scheduler_running(settings)  # no Airflow home: not even imported
    assert jobs.apply_reprocessing(settings, store.engine, in_process=False) == []
    assert jobs.get(store.engine, job["job_id"])["status"] == "queued"
    assert (
        jobs.run_pending(settings, store.engine, jobs.SERVER_KINDS) == []
    )  # the server's kinds: replays only
    assert jobs.get(store.engine, job["job_id"])["status"] == "queued"


def test_the_catalog_sync_task_reports_an_empty_queue(tmp_path: Path, monkeypatch) -> None:
    from wenulake import tasks

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    assert tasks.apply_catalog_jobs({}) == {"jobs": {}}


def test_a_submitted_job_is_followed_and_shown_with_its_backfill(tmp_path: Path) -> None:
    """A job handed to Airflow keeps its backfill id; while the API cannot be reached it stays submitted."""
    _, store = _store(tmp_path)
    job = jobs.queue(store.engine, "reprocess", {"start": "2026-04-04T00:00:00Z", "end": "x"}, "operator")
    jobs._finish(store.engine, job["job_id"], "submitted", "Airflow backfill 7", {"airflow_backfill_id": 7})
    unreachable = Settings(
        home=tmp_path / "home", airflow_api_url="http://127.0.0.1:9", airflow_api_password="pw"
    )
    assert jobs.follow_submitted(unreachable, store.engine) == []
    again = jobs.get(store.engine, job["job_id"])
    assert (again["status"], again["params"]["airflow_backfill_id"]) == ("submitted", 7)
    assert [j["job_id"] for j in jobs.recent(store.engine, status="submitted")] == [job["job_id"]]
