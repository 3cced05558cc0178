"""`wenulake maintain`: compaction, VACUUM, checkpoints, staging retention, warehouse upkeep.

The tables are built directly with the lake's own staged writes and commits (delta-rs, no Spark), so these run in
seconds: many small hourly commits over a few days of silver readings, each replacing the hour it owns.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from wenulake.contracts.tables import QUARANTINE, SILVER_READING
from wenulake.lake import Lake
from wenulake.lakefiles import Where
from wenulake.maintenance import maintain, table_state
from wenulake.settings import Settings

T0 = datetime(2026, 4, 4, tzinfo=UTC)


def silver_hour(
    hour: datetime, sensors: int = 4, per_hour: int = 6, run: str = "r", shift: float = 0.0
) -> pa.Table:
    """Readings of `sensors` sensors in one hour (every 10 minutes)."""
    rows = []
    for s in range(sensors):
        for k in range(per_hour):
            ts = hour + timedelta(minutes=10 * k)
            rows.append(
                {
                    "sensor_id": f"s{s:03d}",
                    "ts": ts,
                    "local_date": ts.date(),
                    "value": float(s * 100 + k) + shift,
                    "raw_value": float(s * 100 + k),
                    "raw_unit": "C",
                    "unit": "C",
                    "metric": "temperature",
                    "kind": "gauge",
                    "channel": "t",
                    "device_id": f"d{s:03d}",
                    "site_id": "site1",
                    "company_id": "c1",
                    "timezone": "UTC",
                    "message_id": f"m{s}-{ts:%Y%m%d%H%M}",
                    "received_at": ts,
                    "object_key": f"sensors/{hour:%Y/%m/%d/%H}/obj",
                    "record_index": k,
                    "arrival_hour": hour,
                    "run_id": run,
                    "source": "live",
                }
            )
    return pa.Table.from_pylist(rows)


def publish_hour(lake: Lake, hour: datetime, run: str, shift: float = 0.0) -> None:
    """An hourly run's silver write: stage files, then one commit replacing the hour's rows."""
    batch = f"silver-{run}"
    lake.stage(batch, SILVER_READING, silver_hour(hour, run=run, shift=shift))
    lake.publish_staged(batch, SILVER_READING, Where.hours("arrival_hour", hour, hour + timedelta(hours=1)))
    lake.drop_staging(batch)


def quarantine_rows(hour: datetime, n: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "reason": "malformed_record",
                "stage": "bronze",
                "object_key": f"sensors/{hour:%Y/%m/%d/%H}/obj",
                "record_index": i,
                "raw": "{",
                "arrival_hour": hour,
                "arrival_date": f"{hour:%Y-%m-%d}",
                "run_id": "r",
            }
            for i in range(n)
        ]
    )


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("sensor_id", "ascending"), ("ts", "ascending")])


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_VACUUM_RETENTION_HOURS", "0")
    monkeypatch.setenv("WENULAKE_LONGEST_READER_HOURS", "0")
    monkeypatch.setenv("WENULAKE_STAGING_RETENTION_HOURS", "1")
    return Settings()


@pytest.fixture
def busy_lake(settings: Settings) -> Lake:
    """Silver after 30 hourly runs over 2 days, a third of them rerun (replaced files), and quarantine rows."""
    lake = Lake(settings)
    lake.ensure()  # every contract table exists from the first command on
    for h in range(30):
        publish_hour(lake, T0 + timedelta(hours=h), f"run{h}")
    for h in range(0, 30, 3):
        publish_hour(lake, T0 + timedelta(hours=h), f"rerun{h}", shift=0.5)
    for h in range(5):
        lake.append(QUARANTINE, quarantine_rows(T0 + timedelta(hours=h), 3))
    return lake


def test_maintenance_keeps_every_table_equal_and_compacts_partitions(
    busy_lake: Lake, settings: Settings
) -> None:
    before_rows = _sorted(busy_lake.read(SILVER_READING))
    before_quarantine = busy_lake.read(QUARANTINE).num_rows
    before = table_state(busy_lake, SILVER_READING)
    assert before.max_files_per_partition > 10

    report = maintain(settings, warehouse=False)

    assert _sorted(busy_lake.read(SILVER_READING)).equals(before_rows)
    assert busy_lake.read(QUARANTINE).num_rows == before_quarantine == 15  # quarantine rows are kept
    silver = next(t for t in report.tables if t.table == SILVER_READING.name)
    assert silver.after.max_files_per_partition == 1
    assert silver.after.partitions == before.partitions == 2
    assert silver.after.stored_files == silver.after.files  # retention 0: every replaced file is gone
    assert silver.vacuumed > 0
    assert silver.after.version > silver.before.version
    assert (Path(busy_lake.uri(SILVER_READING)) / "_delta_log" / "_last_checkpoint").exists()
    # retention 0: the log is the current version's checkpoint and its commit, nothing older
    assert silver.after.log_entries == 1 < silver.before.log_entries
    assert silver.log_removed >= silver.before.log_entries
    # the JSON report carries before/after per table
    payload = json.loads(report.to_json())
    assert {t["table"] for t in payload["tables"]} >= {SILVER_READING.name, QUARANTINE.name}
    assert "silver.reading" in report.table_text()


def test_silver_is_laid_out_by_sensor_and_time(busy_lake: Lake, settings: Settings) -> None:
    maintain(settings, tables=[SILVER_READING.name], warehouse=False)
    table = DeltaTable(busy_lake.uri(SILVER_READING))
    history = [h.get("operation") for h in table.history()]
    assert "OPTIMIZE" in history
    # statistics let a reader of one sensor skip files: the rewritten files have sensor min/max ranges
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    assert all(a["min.sensor_id"] is not None for a in actions)


def test_vacuum_never_deletes_a_file_the_current_snapshot_uses(busy_lake: Lake, settings: Settings) -> None:
    maintain(settings, warehouse=False)
    table = DeltaTable(busy_lake.uri(SILVER_READING))
    for path in pa.table(table.get_add_actions(flatten=True))["path"].to_pylist():
        assert (Path(busy_lake.uri(SILVER_READING)) / path).is_file()
    # and a second maintenance (nothing crowded) changes neither rows nor files
    rows = _sorted(busy_lake.read(SILVER_READING))
    files = table_state(busy_lake, SILVER_READING)
    report = maintain(settings, warehouse=False)
    silver = next(t for t in report.tables if t.table == SILVER_READING.name)
    assert silver.compacted_removed == 0
    assert silver.vacuumed == 0
    assert _sorted(busy_lake.read(SILVER_READING)).equals(rows)
    assert table_state(busy_lake, SILVER_READING).files == files.files


def test_time_travel_within_the_retention_still_works(
    busy_lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WENULAKE_VACUUM_RETENTION_HOURS", "24")
    settings = Settings()
    old_version = busy_lake.version(SILVER_READING) - 5
    old_rows = _sorted(DeltaTable(busy_lake.uri(SILVER_READING), version=old_version).to_pyarrow_table())
    report = maintain(settings, warehouse=False)
    silver = next(t for t in report.tables if t.table == SILVER_READING.name)
    assert silver.vacuumed == 0  # every replaced file is younger than the retention
    again = _sorted(DeltaTable(busy_lake.uri(SILVER_READING), version=old_version).to_pyarrow_table())
    assert again.equals(old_rows)


def _log(lake: Lake) -> Path:
    return Path(lake.uri(SILVER_READING)) / "_delta_log"


def test_log_older_than_the_retention_goes_and_time_travel_within_it_stays(
    busy_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commits of the first two days are two days old, the last ten are fresh; retention one day: after
    maintenance the log is a checkpoint at the retention's start plus the commits within the retention (and
    the current version's checkpoint); every version within the retention reads as before, older ones are gone."""
    monkeypatch.setenv("WENULAKE_VACUUM_RETENTION_HOURS", "24")
    settings = Settings()
    current = busy_lake.version(SILVER_READING)
    boundary = current - 10  # the newest commit older than the retention is version boundary - 1
    old = time.time() - 48 * 3600
    for version in range(boundary):
        os.utime(_log(busy_lake) / f"{version:020d}.json", (old, old))
    rows = {
        v: _sorted(DeltaTable(busy_lake.uri(SILVER_READING), version=v).to_pyarrow_table())
        for v in (boundary, boundary + 4, current)
    }

    report = maintain(settings, warehouse=False)

    table = DeltaTable(busy_lake.uri(SILVER_READING))
    assert table.metadata().configuration["delta.logRetentionDuration"] == "interval 24 hours"
    assert table.metadata().configuration["delta.deletedFileRetentionDuration"] == "interval 24 hours"
    silver = next(t for t in report.tables if t.table == SILVER_READING.name)
    commits = sorted(int(p.name[:20]) for p in _log(busy_lake).glob("*.json"))
    assert commits == list(range(boundary, table.version() + 1))  # the commits within the retention, no older
    checkpoints = sorted(int(p.name[:20]) for p in _log(busy_lake).glob("*.checkpoint.parquet"))
    assert checkpoints == [boundary, table.version()]
    assert silver.log_removed == boundary
    assert silver.after.log_entries == len(commits)
    for version, expected in rows.items():  # time travel within the retention still works
        assert _sorted(DeltaTable(busy_lake.uri(SILVER_READING), version=version).to_pyarrow_table()).equals(
            expected
        )
    assert _sorted(busy_lake.read(SILVER_READING)).equals(rows[current])  # the table is unchanged
    with pytest.raises(TableNotFoundError, match="No files in log segment"):
        DeltaTable(busy_lake.uri(SILVER_READING), version=boundary - 1)
    # a second maintenance adds no metadata commit: the retention properties are already set
    again = maintain(settings, tables=[SILVER_READING.name], warehouse=False)
    assert again.tables[0].after.version == table.version()


def test_time_travel_beyond_the_retention_is_gone(busy_lake: Lake, settings: Settings) -> None:
    """Retention 0 (tests only): versions older than the compaction lose their files and their log."""
    maintain(settings, warehouse=False)
    with pytest.raises(TableNotFoundError, match="No files in log segment"):
        DeltaTable(busy_lake.uri(SILVER_READING), version=3)


def test_dry_run_changes_nothing(busy_lake: Lake, settings: Settings) -> None:
    old = _stale_staging(busy_lake)
    root = Path(busy_lake.root)
    listing = sorted(
        (p.relative_to(root).as_posix(), p.stat().st_mtime) for p in root.rglob("*") if p.is_file()
    )
    report = maintain(settings, dry_run=True, warehouse=False)
    silver = next(t for t in report.tables if t.table == SILVER_READING.name)
    assert silver.compacted_removed > 0
    assert silver.vacuumed > 0
    assert old in report.staging_deleted
    after = sorted(
        (p.relative_to(root).as_posix(), p.stat().st_mtime) for p in root.rglob("*") if p.is_file()
    )
    assert after == listing  # ...and does none of it


def _stale_staging(lake: Lake) -> str:
    """A finished run's leftover staging batch (uncommitted files), untouched for two hours."""
    batch = "silver-oldrun"
    lake.stage(batch, SILVER_READING, silver_hour(T0 + timedelta(hours=40), run="oldrun"))
    old = time.time() - 2 * 3600
    for path in Path(lake.root, "_staging", batch).rglob("*"):
        os.utime(path, (old, old))
    return batch


def test_staging_of_a_live_batch_is_kept(busy_lake: Lake, settings: Settings) -> None:
    stale = _stale_staging(busy_lake)
    stale_files = busy_lake.staged_files(stale, SILVER_READING)
    live = "silver-liverun"
    busy_lake.stage(live, SILVER_READING, silver_hour(T0 + timedelta(hours=41), run="liverun"))
    live_files = busy_lake.staged_files(live, SILVER_READING)
    stage_root = Path(settings.stage_uri)
    (stage_root / "fact_reading" / "oldrun").mkdir(parents=True)
    (stage_root / "fact_reading" / "oldrun" / "rows.parquet").write_bytes(b"x")
    old = time.time() - 2 * 3600
    os.utime(stage_root / "fact_reading" / "oldrun" / "rows.parquet", (old, old))
    (stage_root / "fact_reading" / "liverun").mkdir(parents=True)
    (stage_root / "fact_reading" / "liverun" / "rows.parquet").write_bytes(b"x")

    report = maintain(settings, warehouse=False)  # retention 0: VACUUM would take any unreferenced file

    assert report.staging_deleted == [stale]
    assert live in report.staging_kept
    assert busy_lake.staged_files(live, SILVER_READING) == live_files
    for f in live_files:  # the live batch's data files survive VACUUM too
        assert Path(busy_lake.file_uri(SILVER_READING, f["path"])).is_file()
    for f in stale_files:
        assert not Path(busy_lake.file_uri(SILVER_READING, f["path"])).exists()
    assert not (Path(busy_lake.root) / "_staging" / stale).exists()
    assert not (stage_root / "fact_reading" / "oldrun").exists()
    assert (stage_root / "fact_reading" / "liverun" / "rows.parquet").is_file()
    # publishing the live batch still works after maintenance
    busy_lake.publish_staged(live, SILVER_READING, None)


def test_retention_below_the_longest_reader_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WENULAKE_VACUUM_RETENTION_HOURS", "12")
    monkeypatch.setenv("WENULAKE_LONGEST_READER_HOURS", "24")
    with pytest.raises(ValueError, match="LONGEST_READER"):
        Settings()


def test_duckdb_warehouse_maintenance_keeps_its_tables(settings: Settings) -> None:
    import duckdb

    from wenulake.warehouse import backend

    wh = backend(settings)
    wh.ensure()
    report = maintain(settings, tables=None, warehouse=True)
    assert report.warehouse["backend"] == "duckdb"
    assert any("analyze" in a for a in report.warehouse["actions"])
    con = duckdb.connect(str(settings.home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from fact_reading").fetchone() == (0,)
    finally:
        con.close()


# -- run metrics: the task wrapper records every try in ops.run_metric ---------------------------------------
class _Dag:
    dag_id = "sensors"


class _Ti:
    task_id = "fake_task"
    try_number = 2


def _context(run_id: str) -> dict[str, object]:
    return {
        "run_id": run_id,
        "dag": _Dag(),
        "ti": _Ti(),
        "data_interval_start": T0,
        "data_interval_end": T0 + timedelta(hours=1),
        "params": {},
    }


def test_the_task_wrapper_records_run_metrics(settings: Settings) -> None:
    from wenulake import tasks
    from wenulake.contracts.tables import RUN_METRIC
    from wenulake.timeutil import Interval

    def work(s: Settings, interval: Interval, run_id: str) -> dict[str, object]:
        Lake(s).append(QUARANTINE, quarantine_rows(interval.start, 5))
        ballast = bytearray(64 * 1024 * 1024)  # the peak memory must show it
        del ballast
        return {"records": 7}

    def broken(s: Settings, interval: Interval, run_id: str) -> dict[str, object]:
        raise RuntimeError("disk on fire")

    assert tasks._task(work)(_context("manual__one")) == {"records": 7}
    with pytest.raises(RuntimeError):
        tasks._task(broken)(_context("manual__two"))

    rows = {r["run_id"]: r for r in Lake(settings).read(RUN_METRIC).to_pylist()}
    ok, failed = rows["manual__one"], rows["manual__two"]
    assert (ok["dag_id"], ok["task_id"], ok["try_number"], ok["state"]) == (
        "sensors",
        "fake_task",
        2,
        "success",
    )
    assert ok["rows_in"] == 7
    assert ok["rows_out"] == 5
    assert ok["interval_start"] == T0
    assert ok["seconds"] > 0
    assert ok["peak_memory_bytes"] > 64 * 1024 * 1024
    assert ok["bytes_written"] > 0
    assert failed["state"] == "failed"
    assert "disk on fire" in failed["error"]
    assert failed["rows_out"] == 0


@pytest.mark.postgres
def test_postgres_warehouse_is_vacuumed_and_analyzed(
    settings: Settings, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from wenulake.warehouse import backend

    monkeypatch.setenv("WENULAKE_WAREHOUSE_URL", postgres_url)
    wh = backend(Settings())
    assert wh.maintain(dry_run=True)[0].startswith("vacuum (analyze)")
    with psycopg.connect(postgres_url) as con:
        assert con.execute(
            "select count(*) from pg_stat_user_tables where last_vacuum is not null"
        ).fetchone() == (0,)
    actions = wh.maintain()
    assert "vacuum (analyze) public.fact_reading" in actions
    with psycopg.connect(postgres_url) as con:
        (vacuumed,) = con.execute(
            "select count(*) from pg_stat_user_tables where last_vacuum is not null and last_analyze is not null "
            "and relname = 'fact_reading'"
        ).fetchone() or (0,)
    assert vacuumed == 1
