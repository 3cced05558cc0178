"""Silver's merge into the lake on a real Delta table: an interval that publishes no reading drops exactly what
the merge would drop (its own live rows), by the shortcut that skips the join."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from wenulake.contracts.tables import SILVER_READING
from wenulake.lake import Lake, conform
from wenulake.pipeline import silver
from wenulake.settings import Settings
from wenulake.timeutil import Interval

HOUR = datetime(2026, 3, 10, 10, tzinfo=UTC)


def rows(specs: list[tuple[str, int, datetime, str | None]]) -> pa.Table:
    """(sensor, minute, arrival hour, source) -> silver rows."""
    out = []
    for sensor, minute, arrival, source in specs:
        out.append(
            {
                "sensor_id": sensor, "ts": HOUR + timedelta(minutes=minute), "local_date": date(2026, 3, 10),
                "value": 1.0, "raw_value": 1.0, "raw_unit": "C", "unit": "°C", "metric": "temperature",
                "kind": "gauge", "channel": "t", "device_id": "d", "site_id": "s", "company_id": "c",
                "timezone": "UTC", "message_id": f"m-{sensor}-{minute}", "received_at": arrival,
                "object_key": "k", "record_index": minute, "arrival_hour": arrival, "run_id": "r",
                "source": source,
            }
        )  # fmt: skip
    return conform(pa.Table.from_pylist(out), SILVER_READING)


def table_rows(lake: Lake) -> list[tuple[str, int, str | None]]:
    got = lake.read(SILVER_READING).to_pylist()
    return sorted((r["sensor_id"], int((r["ts"] - HOUR).total_seconds() // 60), r["source"]) for r in got)


@pytest.mark.parametrize("merge", [silver._merge_readings, silver._merge], ids=["shortcut", "merge"])
def test_an_empty_interval_drops_its_own_live_rows_only(tmp_path: Path, merge) -> None:
    lake = Lake(Settings(home=tmp_path / "home"))
    lake.ensure([SILVER_READING])
    other = HOUR + timedelta(hours=1)
    lake.append(
        SILVER_READING,
        rows(
            [
                ("a", 1, HOUR, "live"),  # this interval's live row: goes
                ("a", 2, HOUR, None),  # written before `source` existed: live, goes
                ("a", 3, HOUR, "legacy"),  # legacy: stays
                ("b", 1, other, "live"),  # another interval's: stays
            ]
        ),
    )
    merge(lake, SILVER_READING.schema.empty_table(), Interval(HOUR, HOUR + timedelta(hours=1)))
    assert table_rows(lake) == [("a", 3, "legacy"), ("b", 1, "live")]


def files_by_day(lake: Lake) -> dict[str, set[str]]:
    actions = pa.table(lake.table(SILVER_READING).get_add_actions(flatten=True))
    out: dict[str, set[str]] = {}
    for path, day in zip(actions["path"].to_pylist(), actions["partition.ts_date"].to_pylist(), strict=True):
        out.setdefault(day, set()).add(path)
    return out


def test_a_merge_rewrites_only_the_days_it_touches_and_keeps_the_merge_rules(tmp_path: Path) -> None:
    lake = Lake(Settings(home=tmp_path / "home"))
    lake.ensure([SILVER_READING])
    yesterday = HOUR - timedelta(days=1)
    lake.append(SILVER_READING, rows([("old", -1439, yesterday, "live")]))  # another day, another interval
    lake.append(
        SILVER_READING,
        rows(
            [
                ("a", 1, HOUR, "live"),  # this interval's row that no longer occurs: goes (a tombstone)
                ("a", 2, HOUR, "live"),  # this interval's row, merged again: replaced
                ("a", 3, HOUR, "legacy"),  # legacy: the live row wins
                ("b", 1, HOUR - timedelta(hours=1), "live"),  # received earlier in another interval: stays
            ]
        ),
    )
    untouched = files_by_day(lake)["2026-03-09"]
    new = rows(
        [("a", 2, HOUR, "live"), ("a", 3, HOUR, "live"), ("b", 1, HOUR, "live"), ("c", 9, HOUR, "live")]
    )
    silver._merge_readings(lake, new, Interval(HOUR, HOUR + timedelta(hours=1)))
    assert table_rows(lake) == [
        ("a", 2, "live"), ("a", 3, "live"), ("b", 1, "live"), ("c", 9, "live"), ("old", -1439, "live"),
    ]  # fmt: skip
    b = [r for r in lake.read(SILVER_READING).to_pylist() if r["sensor_id"] == "b"]
    assert b[0]["arrival_hour"] == HOUR - timedelta(hours=1), "the earlier received copy must stay"
    assert files_by_day(lake)["2026-03-09"] == untouched, "a day the merge does not touch was rewritten"


def test_an_unpartitioned_silver_table_of_an_older_contract_is_laid_out_by_day_once(tmp_path: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    lake = Lake(Settings(home=tmp_path / "home"))
    old = rows([("a", 1, HOUR, "live"), ("b", -1439, HOUR, "live")]).drop_columns(["ts_date"])
    write_deltalake(lake.uri(SILVER_READING), old)  # as the contract before ts_date wrote it
    lake.ensure([SILVER_READING])
    table = DeltaTable(lake.uri(SILVER_READING))
    assert table.metadata().partition_columns == ["ts_date"]
    assert sorted(lake.read(SILVER_READING, columns=["sensor_id", "ts_date"]).to_pylist(), key=str) == [
        {"sensor_id": "a", "ts_date": "2026-03-10"},
        {"sensor_id": "b", "ts_date": "2026-03-09"},
    ]
