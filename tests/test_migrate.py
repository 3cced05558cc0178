"""Historical migration: legacy format v0 -> silver (source legacy), quarantine, ledger, stats, warehouse and
historical alarms; exact accounting, reruns, live wins over legacy, a public data set's real rows."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from tests.helpers import arrival_range, snapshot
from wenulake.contracts.tables import (
    FACT_ALARM,
    MIGRATION_LEDGER,
    NOTIFICATION_OUTBOX,
    QUARANTINE,
    SILVER_READING,
    TOUCHED_PERIOD,
)
from wenulake.lake import Lake
from wenulake.orchestrate import run_manual
from wenulake.pipeline import migrate
from wenulake.query import run_query
from wenulake.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
UCI = ROOT / "tests" / "data" / "uci_occupancy" / "datatraining_excerpt.txt"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def defective_month(source: Path) -> None:
    """2026-03 with every defect of the format: dev-00001 is in Madrid (DST on 29 March), sensors valid from
    5 March; co2 has scale 0.9967 and offset -0.259."""
    lines = [
        "\ufefftimestamp,temp,rh,co2,light",  # 1: light has no sensor
        '2026-03-10T10:00:00+01:00,"21.5",40,500,',  # 2: ok, 3 values, 1 null
        "2026-03-10 10:01:00,21.6,,501,7",  # 3: ok naive, 1 null, light -> unknown_channel
        "2026-03-10 10:02:00,21.7,41",  # 4: malformed (too few)
        "2026-03-10 10:03:00,21.7,41,502,1,9",  # 5: malformed (too many)
        "10/03/2026 10:04,21.7,41,502,",  # 6: malformed timestamp
        "2026-03-10 10:05:00,warm,41,502,",  # 7: malformed value
        "",  # 8: blank
        "2014-06-01T00:00:00Z,1,2,3,",  # 9: implausible (before 2015)
        "2026-04-01 00:30:00,1,2,3,",  # 10: implausible (April, local)
        "2026-03-02 12:00:00,20,30,400,",  # 11: before the sensors: 3 x unknown_channel
        "2026-03-10 10:01:00,99,99,999,",  # 12: duplicates of line 3 (3 values)
        "2026-03-29 02:30:00,18,35,450,",  # 13: nonexistent -> 01:30 UTC
        "2026-03-29 03:30:00,18.5,36,451,",  # 14: the same instant -> 3 duplicates
        "2026-03-15 12:00:00,35,40,500,",  # 15: temperature above 30: a (historical) threshold alarm
        "2026-03-15 12:01:00,36,40,500,",  # 16
    ]
    write(source / "2026" / "03" / "dev-00001.csv", "\r\n".join(lines) + "\r\n")
    write(
        source / "2026" / "03" / "dev-99999.csv.gz",
        gzip.compress(b"timestamp,temp\n2026-03-10 10:00:00,1\n2026-03-10 10:01:00,2\n2026-03-10 10:02\n"),
    )
    write(source / "2026" / "03" / "dev-00003.csv.gz", b"this is not gzip")
    write(source / "2026" / "03" / "README.txt", "exported 2026-04-01")


EXPECTED = {
    "files": 3,
    "unreadable_files": 1,
    "skipped_files": 1,
    "rows": 14 + 3,
    "blank_lines": 1,
    "malformed_row": 4 + 1,
    "unknown_device": 2,
    "implausible_timestamp": 2,
    "accepted_rows": 8,
    "null_values": 8,
    "values": 8 * 3,
    "unknown_channel": 1 + 3,
    "duplicates": 2 + 3,  # line 12's temp and co2 (its rh is the first rh copy), line 14
    "live_wins": 0,
    "readings": 3 + 2 + 1 + 3 + 3 + 3,  # lines 2, 3, 12, 13, 15, 16
    "dst_ambiguous": 0,
    "dst_nonexistent": 1,
}


def month_state(settings: Settings) -> dict[str, Any]:
    state: dict[str, Any] = {
        spec.name: snapshot(settings, spec)
        for spec in (SILVER_READING, QUARANTINE, TOUCHED_PERIOD, FACT_ALARM)
    }
    for table in ("fact_reading", "stats_hourly", "stats_daily", "stats_daily_company", "fact_alarm"):
        rows = run_query(settings, f"select * from {table}").rows
        state[table] = sorted(tuple(str(v) for v in r) for r in rows)
    return state


def test_defective_month_exact_accounting_quarantine_and_downstream(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "legacy"
    defective_month(source)
    settings = Settings()
    report = migrate.migrate_month(settings, str(source), "2026-03")
    assert {k: getattr(report, k) for k in EXPECTED} == EXPECTED
    assert report.problems() == []
    assert report.skipped_names == ["2026/03/README.txt"]

    quarantine = Lake(settings).read(QUARANTINE).to_pylist()
    got = sorted((q["reason"], q["object_key"], q["record_index"], q["channel"]) for q in quarantine)
    key = "legacy/2026/03/dev-00001.csv"
    assert got == sorted(
        [("malformed_row", key, line, None) for line in (4, 5, 6, 7)]
        + [("malformed_row", "legacy/2026/03/dev-00003.csv.gz", None, None)]
        + [("malformed_row", "legacy/2026/03/dev-99999.csv.gz", 4, None)]
        + [("unknown_device", "legacy/2026/03/dev-99999.csv.gz", line, None) for line in (2, 3)]
        + [("implausible_timestamp", key, line, None) for line in (9, 10)]
        + [("unknown_channel", key, 3, "light")]
        + [("unknown_channel", key, 11, channel) for channel in ("temp", "rh", "co2")]
    )
    assert {q["stage"] for q in quarantine} == {"legacy"}
    malformed = next(q for q in quarantine if q["record_index"] == 7)
    assert malformed["raw"] == "2026-03-10 10:05:00,warm,41,502,"
    assert "'warm'" in malformed["detail"]

    silver = {
        (r["sensor_id"], r["ts"].isoformat()): r for r in Lake(settings).read(SILVER_READING).to_pylist()
    }
    assert len(silver) == EXPECTED["readings"]
    assert {r["source"] for r in silver.values()} == {"legacy"}
    co2 = silver[("dev-00001-co2-1", "2026-03-10T09:01:00+00:00")]
    assert co2["value"] == 501 * 0.9967 - 0.259  # canonicalised like live data
    assert co2["raw_value"] == 501
    assert co2["record_index"] == 3  # the first copy won over line 12's
    assert silver[("dev-00001-temp-1", "2026-03-29T01:30:00+00:00")]["value"] == 18  # line 13 won over 14
    assert co2["local_date"].isoformat() == "2026-03-10"

    # downstream of the touched periods: warehouse facts, stats, a historical alarm never notified
    facts = run_query(settings, "select count(*) from fact_reading").rows[0][0]
    assert facts == EXPECTED["readings"]
    daily = run_query(
        settings, "select n, max_value from stats_daily where sensor_id = 'dev-00001-temp-1' "
        "and local_date = date '2026-03-15'"
    ).rows  # fmt: skip
    assert daily == [(2, 36.0)]
    alarms = Lake(settings).read(FACT_ALARM).to_pylist()
    assert alarms
    assert all(a["historical"] for a in alarms)
    assert any(a["rule"] == "threshold" and a["sensor_id"] == "dev-00001-temp-1" for a in alarms)
    assert Lake(settings).read(NOTIFICATION_OUTBOX).num_rows == 0
    ledger = Lake(settings).read(MIGRATION_LEDGER).to_pylist()
    assert [(r["month"], r["status"], r["readings"], r["rows"]) for r in ledger] == [
        ("2026-03", "done", EXPECTED["readings"], EXPECTED["rows"])
    ]


@pytest.mark.slow
def test_rerun_skips_done_months_and_redo_changes_nothing(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "legacy"
    defective_month(source)
    write(source / "2026" / "04" / "dev-00001.csv", "timestamp,rh\n2026-04-10 10:00:00,44\n")
    settings = Settings()
    todo, skipped = migrate.plan(settings, str(source), None, None, redo=False)
    assert (todo, skipped) == (["2026-03", "2026-04"], [])
    run = run_manual(settings, "historical_migration", {"source": str(source)})  # one mapped task per month
    assert run.ok, run.failure()
    assert sorted(t.task_id for t in run.tasks) == [
        "migrate_month",
        "migrate_month",
        "plan_months",
        "summarise",
    ]
    ledger = {r["month"]: r for r in Lake(settings).read(MIGRATION_LEDGER).to_pylist()}
    assert {m: r["status"] for m, r in ledger.items()} == {"2026-03": "done", "2026-04": "done"}
    assert ledger["2026-04"]["readings"] == 1
    before = month_state(settings)
    versions = {
        spec.name: Lake(settings).version(spec) for spec in (SILVER_READING, QUARANTINE, MIGRATION_LEDGER)
    }

    assert migrate.plan(settings, str(source), None, None, redo=False) == ([], ["2026-03", "2026-04"])
    assert migrate.plan(settings, str(source), "2026-04", None, redo=True) == (["2026-04"], [])
    again = run_manual(settings, "historical_migration", {"source": str(source)})
    assert again.ok, again.failure()
    assert [t.state for t in again.tasks if t.task_id == "migrate_month"] in ([], ["skipped"])
    assert {
        spec.name: Lake(settings).version(spec) for spec in (SILVER_READING, QUARANTINE, MIGRATION_LEDGER)
    } == (versions)
    migrate.migrate_month(settings, str(source), "2026-03")  # redo
    assert month_state(settings) == before


def test_failed_month_is_recorded_and_retried(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "legacy"
    write(source / "2026" / "03" / "dev-00001.csv", "timestamp,temp\n2026-03-10 10:00:00,500\n")  # 500 °C
    settings = Settings()
    with pytest.raises(Exception, match="gate failed"):
        migrate.migrate_month(settings, str(source), "2026-03")
    ledger = Lake(settings).read(MIGRATION_LEDGER).to_pylist()
    assert [(r["month"], r["status"]) for r in ledger] == [("2026-03", "failed")]
    assert "gate failed" in ledger[0]["error"]
    assert Lake(settings).read(SILVER_READING).num_rows == 0
    assert migrate.plan(settings, str(source), None, None, redo=False) == (["2026-03"], [])


def _live_rows(sample: dict[str, Any], device: str) -> list[dict[str, str]]:
    import csv
    import io

    text = gzip.decompress((sample["dir"] / "truth" / "readings.csv.gz").read_bytes()).decode()
    return [r for r in csv.DictReader(io.StringIO(text)) if r["sensor_id"].startswith(device + "-")]


@pytest.mark.slow
def test_live_wins_over_legacy_in_either_order(home: Path, tmp_path: Path, sample: dict[str, Any]) -> None:
    from wenulake.orchestrate import run_dag

    settings = Settings()
    live = _live_rows(sample, "dev-00002")
    stamps = sorted({r["ts"] for r in live})[:5]
    # 5 instants live data also has (rh and temp of dev-00002, Santiago), 2 instants it has not
    lines = ["timestamp,temp,rh", *(f"{ts},99,99" for ts in stamps)]
    lines += ["2026-04-02 10:00:00,20,50", "2026-04-02 10:01:00,21,51"]
    source = tmp_path / "legacy"
    write(source / "2026" / "04" / "dev-00002.csv", "\n".join(lines) + "\n")
    colliding = {
        (r["sensor_id"], r["ts"])
        for r in live
        if r["ts"] in stamps and r["metric"] in ("temperature", "humidity")
    }

    first = migrate.migrate_month(settings, str(source), "2026-04")
    assert first.readings == 14
    assert first.live_wins == 0
    live_run = run_dag(settings, "sensors", arrival_range(sample["manifest"]))
    assert live_run.ok, live_run.failure()

    silver = Lake(settings).read(SILVER_READING)
    rows = {(r["sensor_id"], r["ts"].isoformat().replace("+00:00", "Z")): r for r in silver.to_pylist()}
    assert colliding
    for key in colliding:
        assert rows[key]["source"] == "live", key
        assert rows[key]["value"] != 99
    legacy_rows = silver.filter(pc.equal(silver["source"], "legacy"))
    assert legacy_rows.num_rows == 14 - len(colliding)

    before = snapshot(settings, SILVER_READING)
    redo = migrate.migrate_month(settings, str(source), "2026-04")
    assert redo.live_wins == len(colliding)
    assert redo.readings == 14 - len(colliding)
    assert snapshot(settings, SILVER_READING).equals(before)
    facts = run_query(settings, "select count(*) from fact_reading").rows[0][0]
    assert facts == before.num_rows


def uci_catalog(directory: Path) -> None:
    """A catalog for the UCI occupancy office (Mons, Belgium): temperature, humidity and CO2 sensors; the light
    channel has no sensor (its cells are unknown_channel)."""
    files = {
        "companies.csv": "company_id,name\numons,UMONS\n",
        "sites.csv": "site_id,company_id,name,timezone\nmons-office,umons,Office room,Europe/Brussels\n",
        "devices.csv": "device_id,site_id,installed_at,retired_at\nuci-room,mons-office,2015-01-01T00:00:00Z,\n",
        "sensors.csv": "sensor_id,device_id,channel,metric,unit,kind,scale,offset,valid_from,valid_to\n"
        "uci-room-temp,uci-room,temp,temperature,C,gauge,1.0,0.0,2015-01-01T00:00:00Z,\n"
        "uci-room-rh,uci-room,rh,humidity,%,gauge,1.0,0.0,2015-01-01T00:00:00Z,\n"
        "uci-room-co2,uci-room,co2,co2,ppm,gauge,1.0,0.0,2015-01-01T00:00:00Z,\n",
        "thresholds.csv": "sensor_id,metric,min_value,max_value,severity\n",
    }
    for name, text in files.items():
        write(directory / name, text)


def test_uci_occupancy_excerpt_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real rows of a public building-sensor data set, converted to format v0 by tests/uci_occupancy_to_v0.py."""
    from wenulake.catalog.store import CatalogStore

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    uci_catalog(tmp_path / "catalog")
    CatalogStore(Settings()).load(tmp_path / "catalog")
    source = tmp_path / "legacy"
    subprocess.run(
        [sys.executable, str(ROOT / "tests" / "uci_occupancy_to_v0.py"), str(UCI), str(source)], check=True
    )
    done = subprocess.run(
        [sys.executable, "-m", "wenulake", "migrate", "--source", str(source), "--from", "2015-01"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "2015-02: 1 files, 200 rows -> 600 readings" in done.stdout
    assert "unknown_channel 200" in done.stdout
    settings = Settings()
    silver = Lake(settings).read(SILVER_READING).to_pylist()
    assert len(silver) == 600
    first = next(r for r in silver if r["sensor_id"] == "uci-room-co2" and r["record_index"] == 2)
    assert first["value"] == 721.25
    assert first["ts"].isoformat() == "2015-02-04T16:51:00+00:00"  # 17:51 in Brussels (UTC+1 in February)
    again = subprocess.run(
        [sys.executable, "-m", "wenulake", "migrate", "--source", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "skipped: 2015-02" in again.stdout
    assert "nothing to migrate" in again.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "wenulake", "migrate", "--source", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [f"error: legacy source {tmp_path / 'missing'} does not exist"]


@pytest.mark.s3
def test_legacy_source_on_s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--source s3://bucket/prefix` lists and reads the months like a folder (moto's S3 server)."""
    import boto3

    monkeypatch.setenv("WENULAKE_S3_ENDPOINT_URL", moto_endpoint)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    body = b"timestamp,temp\n2026-03-10 10:00:00,1\n"
    s3.put_object(Bucket="exports", Key="legacy/2026/03/dev-00001.csv", Body=body)
    s3.put_object(Bucket="exports", Key="legacy/2026/04/dev-00001.csv.gz", Body=gzip.compress(body))
    s3.put_object(Bucket="exports", Key="legacy/notes/readme.txt", Body=b"not a month")
    source = migrate.LegacySource("s3://exports/legacy", Settings())
    source.check()
    assert source.months() == {"2026-03": ["2026/03/dev-00001.csv"], "2026-04": ["2026/04/dev-00001.csv.gz"]}
    assert source.get("2026/03/dev-00001.csv") == body


def test_parallel_parsing_gives_the_sequential_result(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    source = tmp_path / "legacy"
    for i in range(migrate.PARALLEL_FILES):
        rows = [f"2026-03-{10 + i} 10:{m:02d}:00,{m},{'' if m % 3 else 'x'}" for m in range(30)]
        write(source / "2026" / "03" / f"dev-{i}.csv", "timestamp,temp,rh\n" + "\n".join(rows) + "\n")
    src = migrate.LegacySource(str(source), Settings())
    jobs = [(key, "Europe/Madrid") for key in src.months()["2026-03"]]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    seen: list[str] = []
    parallel = migrate.parse_files(src, jobs, 2026, 3, now, on_file=seen.append, workers=2)
    sequential = migrate.parse_files(src, jobs, 2026, 3, now, workers=1)
    assert seen == [key for key, _ in jobs]
    assert [p.cells for p in parallel] == [p.cells for p in sequential]
    assert [(r.line, r.reason) for p in parallel for r in p.rejects] == [
        (r.line, r.reason) for p in sequential for r in p.rejects
    ]
    malformed = sum(p.count(migrate.Reason.MALFORMED_ROW) for p in parallel)
    assert malformed == migrate.PARALLEL_FILES * 10  # 'x' is not a number
