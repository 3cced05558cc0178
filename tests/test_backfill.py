"""Backfills: Airflow's reprocess_behavior, the scheduler path (an Airflow backfill with queued runs) and the
in-process path (equal to the hourly runs, resumable, idempotent)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import snapshots
from wenulake import airflow_home, backfill
from wenulake.errors import ConfigError
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.timeutil import Interval, parse_instant

H = [datetime(2026, 5, 1, h, tzinfo=UTC) for h in range(1, 5)]


def test_reprocess_behaviour_mirrors_airflow() -> None:
    states = {H[0]: None, H[1]: "success", H[2]: "failed", H[3]: "running"}
    assert backfill.to_run(states, "none", in_process=False) == [H[0]]
    assert backfill.to_run(states, "failed", in_process=False) == [H[0], H[2]]
    assert backfill.to_run(states, "completed", in_process=False) == [H[0], H[1], H[2]]
    # in-process nothing else can own a `running` run: it was interrupted, so it runs again
    assert backfill.to_run(states, "none", in_process=True) == [H[0], H[3]]
    with pytest.raises(ConfigError, match="--reprocess must be one of"):
        backfill.to_run(states, "all", in_process=True)
    with pytest.raises(ConfigError, match="whole UTC hours"):
        backfill.hours_of(Interval(H[0] + timedelta(minutes=5), H[2]))


@pytest.mark.slow
@pytest.mark.airflow
def test_with_a_scheduler_an_airflow_backfill_is_created_with_its_runs_queued() -> None:
    """The scheduler path writes the Airflow backfill the UI's form writes, one run per requested hour (its
    data interval exactly that hour); the runs wait for the scheduler, which starts none of a paused DAG."""
    from wenulake.airflow_home import prepare

    settings = Settings()
    prepare(settings)  # before Airflow is imported: it reads its configuration once
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    # no scheduler in tests: `auto` would run in-process
    assert airflow_home.scheduler_alive(settings) is False
    with pytest.raises(ConfigError, match="is paused"):  # DAGs are paused at creation in this Airflow home
        backfill.create_backfill(settings, "sensors", Interval(H[0], H[3]), "none", max_active=2)
    with create_session() as session:
        assert session.scalars(select(Backfill)).all() == []
    backfill_id, unpaused = backfill.create_backfill(
        settings, "sensors", Interval(H[0], H[3]), "none", max_active=2, unpause=True
    )
    assert unpaused is True
    assert backfill.is_paused(settings, "sensors") is False
    with create_session() as session:
        created = session.get(Backfill, backfill_id)
        assert created is not None
        assert (created.dag_id, created.max_active_runs, created.reprocess_behavior) == ("sensors", 2, "none")
        runs = session.scalars(select(DagRun).where(DagRun.backfill_id == backfill_id)).all()
        intervals = sorted(
            (r.data_interval_start.astimezone(UTC), r.data_interval_end.astimezone(UTC)) for r in runs
        )
        assert intervals == [(H[0], H[1]), (H[1], H[2]), (H[2], H[3])]
        assert {str(r.run_type) for r in runs} == {"backfill"}
        assert {str(r.state) for r in runs} == {"queued"}
    hours = Interval(H[0], H[3]).split_hourly()
    assert backfill.latest_states(settings, "sensors", hours) == {
        H[0]: "queued",
        H[1]: "queued",
        H[2]: "queued",
    }
    progress = backfill.backfill_progress(settings, backfill_id)
    assert (progress.total, progress.done, progress.finished) == (3, 0, False)
    with pytest.raises(ConfigError, match="Another backfill is running"):
        backfill.create_backfill(settings, "sensors", Interval(H[0], H[3]))
    with create_session() as session:  # done with it: later tests may create their own
        done = session.get(Backfill, backfill_id)
        assert done is not None
        done.completed_at = datetime.now(UTC)


def _tables(settings: Settings) -> dict[str, Any]:
    state: dict[str, Any] = snapshots(settings)
    for table in ("fact_reading", "stats_hourly", "stats_daily"):
        state[table] = sorted(map(tuple, run_query(settings, f"select * from {table}").rows))
    return state


def _home(path: Path, sample: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    from wenulake.catalog.store import CatalogStore

    monkeypatch.setenv("WENULAKE_HOME", str(path))
    CatalogStore(Settings()).load(sample["dir"] / "catalog")
    return Settings()


@pytest.mark.slow
@pytest.mark.airflow
def test_in_process_backfill_equals_hourly_runs_resumes_and_is_idempotent(
    home: Path, tmp_path: Path, sample: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wenulake.orchestrate import run_range

    start = parse_instant(sample["manifest"]["arrival_start"])
    interval = Interval(start, start + timedelta(hours=2))

    hourly = _home(tmp_path / "hourly", sample, monkeypatch)
    run_range(hourly, "sensors", interval, hourly=True)  # the schedule's hour-by-hour runs
    expected = _tables(hourly)

    settings = _home(home, sample, monkeypatch)

    def stop_after_first(_hour: Interval, progress: backfill.Progress) -> None:
        if progress.ran == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill.run_in_process(settings, "sensors", interval, on_hour=stop_after_first)
    resumed = backfill.run_in_process(settings, "sensors", interval)
    assert (resumed.ran, resumed.skipped, resumed.total) == (1, 1, 2)  # it resumed where it stopped
    assert resumed.records > 0
    assert _tables(settings) == expected  # interrupted + resumed == the hourly runs

    last_hour = Interval(interval.end - timedelta(hours=1), interval.end)
    again = backfill.run_in_process(settings, "sensors", last_hour, reprocess="completed")
    assert again.ran == 1
    assert _tables(settings) == expected  # a range that already ran: identical tables

    done = subprocess.run(
        [sys.executable, "-m", "wenulake", "backfill", "sensors", "--start", interval.start.isoformat(),
         "--end", interval.end.isoformat(), "--mode", "in-process"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "hours: 2, ran 0, skipped 2 (already done), failed 0" in done.stdout
    assert "records" in done.stdout
