"""`wenulake status`: fresh, late, backlog and spike, from lake tables written directly (no Spark, no Airflow)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from wenulake.contracts.tables import INGEST_LEDGER, QUARANTINE, RUN_METRIC
from wenulake.lake import Lake
from wenulake.settings import Settings
from wenulake.status import DAGS, status

NOW = datetime(2026, 6, 1, 12, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("WENULAKE_STATUS_LOOKBACK_HOURS", "6")
    (tmp_path / "landing").mkdir()
    return Settings()


def record_run(lake: Lake, dag_id: str, end: datetime, state: str = "success", hours: int = 1) -> None:
    """The run_metric rows of one run of `dag_id` over [end - hours, end), every task of it."""
    tasks = ["first_task", *DAGS[dag_id][1]]
    rows = [
        {
            "dag_id": dag_id,
            "run_id": f"scheduled__{end:%Y%m%dT%H}",
            "task_id": task,
            "try_number": 1,
            "state": state if task == tasks[-1] else "success",
            "interval_start": end - hours * HOUR,
            "interval_end": end,
            "started_at": end + timedelta(minutes=1),
            "finished_at": end + timedelta(minutes=2),
            "seconds": 3.0,
            "rows_in": 10,
            "rows_out": 10,
            "bytes_read": 100,
            "bytes_written": 100,
            "peak_memory_bytes": 200_000_000,
            "error": None if state == "success" else "boom",
        }
        for task in tasks
    ]
    lake.append(RUN_METRIC, pa.Table.from_pylist(rows, schema=RUN_METRIC.schema))


def fresh_lake(settings: Settings) -> Lake:
    lake = Lake(settings)
    lake.ensure()
    last_hour = NOW.replace(minute=0)  # the hour that ended at 12:00 ran at 12:00
    record_run(lake, "sensors", last_hour)
    record_run(lake, "workorders", last_hour)
    record_run(lake, "alarms", last_hour)
    record_run(lake, "maintenance", last_hour.replace(hour=0), hours=24)
    return lake


def land(settings: Settings, hour: datetime, name: str) -> str:
    key = f"sensors/{hour:%Y/%m/%d/%H}/{name}"
    path = Path(settings.landing_uri) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{}\n")
    return key


def ledger(lake: Lake, hour: datetime, key: str) -> None:
    row = {
        "object_key": key,
        "size": 3,
        "records": 1,
        "accepted": 1,
        "quarantined": 0,
        "status": "ingested",
        "arrival_hour": hour,
        "run_id": "r",
    }
    lake.append(INGEST_LEDGER, pa.Table.from_pylist([row], schema=INGEST_LEDGER.schema))


def quarantine(lake: Lake, reason: str, hour: datetime, n: int) -> None:
    rows = [
        {
            "reason": reason,
            "stage": "bronze",
            "object_key": "k",
            "record_index": i,
            "arrival_hour": hour,
            "arrival_date": f"{hour:%Y-%m-%d}",
        }
        for i in range(n)
    ]
    lake.append(QUARANTINE, pa.Table.from_pylist(rows, schema=QUARANTINE.schema))


def test_fresh_pipeline_is_healthy(settings: Settings) -> None:
    lake = fresh_lake(settings)
    hour = NOW.replace(minute=0) - HOUR
    ledger(lake, hour, land(settings, hour, "a.json"))
    quarantine(lake, "malformed_record", NOW - 2 * HOUR, 3)
    for day in range(2, 9):
        quarantine(lake, "malformed_record", NOW - timedelta(days=day), 3)
    result = status(settings, now=NOW)
    assert result.healthy, result.attention
    sensors = next(d for d in result.dags if d.dag_id == "sensors")
    assert sensors.last_success_end == "2026-06-01T12:00:00Z"
    assert sensors.lag_hours == pytest.approx(0.33, abs=0.01)
    assert sensors.last_run_state == "success"
    assert sensors.last_run_peak_memory_mb == 200.0
    assert not sensors.late
    assert result.backlog == []
    assert result.quarantine[0]["spike"] is False


def test_late_dag_and_failed_run_need_attention(settings: Settings) -> None:
    lake = Lake(settings)
    lake.ensure()
    record_run(lake, "sensors", NOW.replace(minute=0) - 3 * HOUR)  # nothing for 3 hours
    record_run(lake, "workorders", NOW.replace(minute=0))
    record_run(lake, "workorders", NOW.replace(minute=0) + HOUR, state="failed")
    result = status(settings, now=NOW + HOUR)
    sensors = next(d for d in result.dags if d.dag_id == "sensors")
    assert sensors.late
    assert sensors.lag_hours == pytest.approx(4.33, abs=0.01)
    workorders = next(d for d in result.dags if d.dag_id == "workorders")
    assert workorders.last_run_state == "failed"
    assert workorders.last_success_end == "2026-06-01T12:00:00Z"  # the failed run is not a success
    assert not result.healthy
    assert any("sensors is late" in a for a in result.attention)
    assert any("workorders's last run" in a for a in result.attention)


def test_landing_backlog_needs_attention(settings: Settings) -> None:
    lake = fresh_lake(settings)
    old = NOW.replace(minute=0) - 3 * HOUR
    ledger(lake, old, land(settings, old, "ingested.json"))
    land(settings, old, "forgotten.json")
    current = NOW.replace(minute=0) - HOUR  # ended 20 minutes ago: its run may still be going
    land(settings, current, "pending.json")
    result = status(settings, now=NOW)
    assert result.backlog == [
        {"stream": "sensors", "hour": "2026-06-01T09:00:00Z", "objects": 1, "overdue": True},
        {"stream": "sensors", "hour": "2026-06-01T11:00:00Z", "objects": 1, "overdue": False},
    ]
    assert not result.healthy
    assert any("not ingested" in a for a in result.attention)


def test_quarantine_spike_needs_attention(settings: Settings) -> None:
    lake = fresh_lake(settings)
    for day in range(2, 9):
        quarantine(lake, "decrypt_failed", NOW - timedelta(days=day), 4)
        quarantine(lake, "unknown_device", NOW - timedelta(days=day), 4)
    quarantine(lake, "decrypt_failed", NOW - 3 * HOUR, 50)  # 50 against 4 a day
    quarantine(lake, "unknown_device", NOW - 3 * HOUR, 5)
    result = status(settings, now=NOW)
    by_reason = {q["reason"]: q for q in result.quarantine}
    assert by_reason["decrypt_failed"] == {
        "reason": "decrypt_failed",
        "last_24h": 50,
        "daily_average_7d": 4.0,
        "spike": True,
    }
    assert by_reason["unknown_device"]["spike"] is False
    assert [a for a in result.attention if "spikes" in a] == [
        "quarantine reason decrypt_failed spikes: 50 in 24 h, 4.0 a day before"
    ]


def test_status_command_exit_code_and_json(settings: Settings) -> None:
    from wenulake.cli import cli

    Lake(settings).ensure()
    land(settings, datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 3 * HOUR, "x.json")
    result = CliRunner().invoke(cli, ["status", "--format", "json"])
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["healthy"] is False
    assert {d["dag_id"] for d in payload["dags"]} == set(DAGS)
    assert payload["backlog"][0]["objects"] == 1
