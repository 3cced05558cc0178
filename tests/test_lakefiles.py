"""Executors write, the driver commits: data files, their Delta statistics, file-level replaces, staging."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from wenulake.contracts.tables import INGEST_LEDGER, QUARANTINE, TS, LedgerStatus
from wenulake.lake import Lake
from wenulake.lakefiles import FileBatch, Where, register, sql_literal, statistics, write_files
from wenulake.settings import Settings

H0 = datetime(2026, 4, 4, 0, tzinfo=UTC)
H1 = H0 + timedelta(hours=1)
H2 = H0 + timedelta(hours=2)


def ledger_rows(hour: datetime, keys: list[str], run: str = "r") -> pa.Table:
    n = len(keys)
    return pa.table(
        {
            "object_key": keys,
            "size": [10] * n,
            "etag": [None] * n,
            "last_modified": pa.nulls(n, TS),
            "records": [1] * n,
            "accepted": [1] * n,
            "quarantined": [0] * n,
            "status": [LedgerStatus.INGESTED] * n,
            "arrival_hour": pa.array([hour] * n, TS),
            "run_id": [run] * n,
            "ingested_at": pa.array([hour] * n, TS),
        }
    )


def quarantine_rows(hour: datetime, stage: str, keys: list[str]) -> pa.Table:
    n = len(keys)
    return pa.table(
        {
            "reason": ["malformed_record"] * n,
            "stage": [stage] * n,
            "object_key": keys,
            "record_index": list(range(n)),
            "arrival_hour": pa.array([hour] * n, TS),
            "arrival_date": [hour.date().isoformat()] * n,
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(Settings(home=tmp_path))
    lake.ensure([INGEST_LEDGER, QUARANTINE])
    return lake


def keys_of(lake: Lake, spec, column: str = "object_key") -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(lake.read(spec)[column].to_pylist())


def test_staged_files_are_invisible_until_committed_and_then_one_version(lake):
    before = lake.version(INGEST_LEDGER)
    lake.stage("b1", INGEST_LEDGER, ledger_rows(H0, ["a", "b"]), split_by="arrival_hour")
    assert keys_of(lake, INGEST_LEDGER) == []
    assert lake.version(INGEST_LEDGER) == before
    assert sorted(lake.read_staged("b1", INGEST_LEDGER)["object_key"].to_pylist()) == ["a", "b"]

    report = lake.publish_staged("b1", INGEST_LEDGER, Where.hours("arrival_hour", H0, H1))
    assert report.added == 1
    assert report.removed == 0
    assert lake.version(INGEST_LEDGER) == before + 1
    assert keys_of(lake, INGEST_LEDGER) == ["a", "b"]
    log = sorted((Path(lake.uri(INGEST_LEDGER)) / "_delta_log").glob("*.json"))[-1].read_text().splitlines()
    stats = [json.loads(json.loads(line)["add"]["stats"]) for line in log if '"add"' in line]
    assert stats[0]["minValues"]["arrival_hour"] == "2026-04-04T00:00:00.000Z"


def test_replacing_an_hour_removes_its_files_and_rewrites_a_file_shared_with_another_hour(lake):
    # a file holding two hours (as the old writer or a compaction leaves them) and a file of hour 2 alone
    write_deltalake(lake.uri(INGEST_LEDGER), pa.concat_tables([ledger_rows(H0, ["h0"]), ledger_rows(H1, ["h1"])]).cast(INGEST_LEDGER.schema), mode="append")  # fmt: skip
    lake.commit_files(INGEST_LEDGER, write_files(lake.sink(INGEST_LEDGER, "x"), ledger_rows(H2, ["h2"])))
    lake.stage("b2", INGEST_LEDGER, ledger_rows(H1, ["h1-new"]), split_by="arrival_hour")
    report = lake.publish_staged("b2", INGEST_LEDGER, Where.hours("arrival_hour", H1, H2))
    assert (report.removed, report.rewritten) == (1, 1)
    assert keys_of(lake, INGEST_LEDGER) == ["h0", "h1-new", "h2"]
    # the same again: identical rows, the hour's own file replaced whole
    lake.stage("b3", INGEST_LEDGER, ledger_rows(H1, ["h1-new"]), split_by="arrival_hour")
    report = lake.publish_staged("b3", INGEST_LEDGER, Where.hours("arrival_hour", H1, H2))
    assert (report.removed, report.rewritten) == (1, 0)
    assert keys_of(lake, INGEST_LEDGER) == ["h0", "h1-new", "h2"]


def test_a_replace_keeps_rows_of_other_stages_in_the_same_hours(lake):
    mixed = pa.concat_tables([quarantine_rows(H0, "bronze", ["b"]), quarantine_rows(H0, "silver", ["s"])])
    lake.commit_files(QUARANTINE, write_files(lake.sink(QUARANTINE, "x"), lake_conform(mixed)))
    lake.stage("b", QUARANTINE, quarantine_rows(H0, "bronze", ["b2"]), split_by="arrival_hour")
    report = lake.publish_staged("b", QUARANTINE, Where.hours("arrival_hour", H0, H1, stage="bronze"))
    assert report.rewritten == 1
    assert keys_of(lake, QUARANTINE) == ["b2", "s"]


def lake_conform(table: pa.Table) -> pa.Table:
    from wenulake.lake import conform

    return conform(table, QUARANTINE)


def test_dropping_a_batch_deletes_its_uncommitted_files_never_committed_ones(lake, tmp_path):
    lake.stage("dead", INGEST_LEDGER, ledger_rows(H0, ["x"]))  # a run that died before its commit
    dead = [Path(u) for u in lake.staged_batch("dead", INGEST_LEDGER).uris]
    assert all(p.exists() for p in dead)
    lake.drop_staging("dead")
    assert not any(p.exists() for p in dead)

    lake.stage("ok", INGEST_LEDGER, ledger_rows(H0, ["y"]))
    committed = [Path(u) for u in lake.staged_batch("ok", INGEST_LEDGER).uris]
    lake.commit_files(
        INGEST_LEDGER, lake.staged_files("ok", INGEST_LEDGER)
    )  # committed, manifest still there
    lake.drop_staging("ok")  # as after a crash between commit and cleanup
    assert all(p.exists() for p in committed)
    assert keys_of(lake, INGEST_LEDGER) == ["y"]


def test_a_file_batch_is_read_by_duckdb_with_its_partition_columns(lake):
    import duckdb

    lake.stage("q", QUARANTINE, quarantine_rows(H0, "bronze", ["a", "b"]), split_by="arrival_hour")
    batch = lake.staged_batch("q", QUARANTINE)
    assert isinstance(batch, FileBatch)
    assert batch.rows == 2
    con = duckdb.connect()
    register(con, "staged", batch)
    assert con.execute("select arrival_date, count(*) from staged group by all").fetchall() == [
        ("2026-04-04", 2)
    ]
    register(con, "empty", FileBatch("ops.quarantine", QUARANTINE.schema, (), 0, QUARANTINE.partition_by))
    assert con.execute("select count(*) from empty").fetchone() == (0,)


def test_statistics_are_delta_rs_style():
    table = pa.table(
        {
            "ts": pa.array([H0 + timedelta(microseconds=123456), H1 + timedelta(microseconds=999999)], TS),
            "x": [1.5, float("nan")],
            "s": ["a", "z" * 40],
            "m": pa.array([[("k", 1.0)], None], pa.map_(pa.string(), pa.float64())),
        }
    )
    stats = statistics(table)
    assert stats["numRecords"] == 2
    assert stats["minValues"] == {"ts": "2026-04-04T00:00:00.123Z", "x": 1.5}  # long strings get no range
    assert stats["maxValues"]["ts"] == "2026-04-04T01:00:00.999Z"
    assert stats["nullCount"] == {"ts": 0, "x": 0, "s": 0}


@pytest.mark.parametrize(
    ("stats", "verdict"),
    [
        ({"arrival_hour": (H0, H0), "stage": ("bronze", "bronze")}, "all"),
        ({"arrival_hour": (H0, H1), "stage": ("bronze", "bronze")}, "some"),
        ({"arrival_hour": (H1, H2), "stage": ("bronze", "bronze")}, "none"),
        ({"arrival_hour": (H0, H0), "stage": ("bronze", "silver")}, "some"),
        ({"arrival_hour": (H0, H0), "stage": ("legacy", "silver")}, "none"),
        ({"arrival_hour": (H0, H0)}, "some"),  # no statistics for stage: read the file
    ],
)
def test_where_classifies_files_by_their_statistics(stats, verdict):
    assert Where.hours("arrival_hour", H0, H1, stage="bronze").classify(stats) == verdict


def test_values_in_predicates_are_quoted_in_one_place():
    hostile = "k' OR '1'='1"
    assert sql_literal(hostile) == "'k'' OR ''1''=''1'"
    where = Where.hours("arrival_hour", H0, H1, stage=hostile)
    assert where.sql() == (
        "stage = 'k'' OR ''1''=''1' AND arrival_hour >= '2026-04-04T00:00:00Z' AND arrival_hour < '2026-04-04T01:00:00Z'"
    )
    with pytest.raises(ValueError, match="time-zone aware"):
        sql_literal(datetime(2026, 1, 1))


def test_duckdb_and_delta_rs_read_committed_files_alike(lake):
    from wenulake.query import duckdb_session

    lake.stage(
        "d",
        INGEST_LEDGER,
        pa.concat_tables([ledger_rows(H0, ["a"]), ledger_rows(H1, ["b", "c"])]),
        "arrival_hour",
    )
    lake.publish_staged("d", INGEST_LEDGER, None)
    con = duckdb_session(lake.settings)
    rows = con.execute(
        f"select object_key from delta_scan({sql_literal(lake.uri(INGEST_LEDGER))}) "
        f"where arrival_hour >= {sql_literal(H1)} order by 1"
    ).fetchall()
    assert rows == [("b",), ("c",)]
    assert DeltaTable(lake.uri(INGEST_LEDGER)).count() == 3
