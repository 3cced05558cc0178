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
