"""Legacy cells -> silver rows without Spark or a lake (wenulake.transforms.legacy): the sensor valid at each
cell's ts, canonical values, first copies in file then line order, live keys removed, rows in (sensor_id, ts)
order with their text columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from wenulake.contracts.tables import TS
from wenulake.legacy import CELLS_SCHEMA, ParsedFile
from wenulake.transforms import legacy as attribution

T0 = datetime(2025, 1, 10, tzinfo=UTC)


def minute(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def parsed(key: str, device: str, cells: list[tuple[int, int, str, float]]) -> ParsedFile:
    """cells: (line, minute, channel, raw value)"""
    table = pa.table(
        {
            "line": [c[0] for c in cells],
            "ts": pa.array([minute(c[1]) for c in cells], TS),
            "local_date": pa.array([minute(c[1]).date() for c in cells], pa.date32()),
            "channel": [c[2] for c in cells],
            "raw_value": [c[3] for c in cells],
        },
        schema=CELLS_SCHEMA,
    )
    return ParsedFile(key, device, sorted({c[2] for c in cells}), table)


SENSORS = pa.table(
    {
        # d1's temperature sensor was swapped at minute 10; d1 has no co2 sensor; zz sorts last, aa first
        "sensor_id": ["zz-temp-old", "aa-temp-new", "d1-rh", "d2-temp"],
        "device_id": ["d1", "d1", "d1", "d2"],
        "channel": ["temp", "temp", "rh", "temp"],
        "metric": ["temperature", "temperature", "humidity", "temperature"],
        "raw_unit": ["F", "C", "%", "C"],
        "kind": ["gauge"] * 4,
        "scale": [1.0, 2.0, 1.0, 1.0],
        "offset": [0.0, 0.5, 0.0, 0.0],
        "valid_from": pa.array([minute(-100), minute(10), minute(-100), minute(-100)], TS),
        "valid_to": pa.array([minute(10), None, None, None], TS),
        "canonical_unit": ["°C", "°C", "%", "°C"],
        "factor": [5 / 9, 1.0, 1.0, 1.0],
        "shift": [-32 * 5 / 9, 0.0, 0.0, 0.0],
    }
)
DEVICES = pa.table(
    {"device_id": ["d1", "d2"], "site_id": ["s1", "s2"], "company_id": ["c", "c"], "timezone": ["UTC", "UTC"]}
)


def test_each_cell_gets_the_sensor_valid_at_its_ts_and_a_canonical_value():
    files = [
        parsed(
            "legacy/2025/01/d1.csv", "d1", [(2, 9, "temp", 212.0), (3, 10, "temp", 20.0), (3, 10, "co2", 1.0)]
        ),
    ]
    cells = attribution.attribute(files, SENSORS)
    assert cells.sensor.tolist() == [0, 1, -1]
    assert cells.value[0] == (212.0 * (5 / 9) + (-32 * 5 / 9)) * 1.0 + 0.0
    assert cells.value[1] == 20.0 * 2.0 + 0.5
    assert np.isnan(cells.value[2])
    assert cells.unknown.to_pylist() == [
        {"file": 0, "line": 3, "ts": minute(10), "channel": "co2", "raw_value": 1.0}
    ]


def test_the_first_copy_of_a_key_wins_in_file_then_line_order():
    files = [
        parsed(
            "legacy/2025/01/d2.csv", "d2", [(2, 1, "temp", 1.0), (3, 1, "temp", 2.0), (4, 2, "temp", 3.0)]
        ),
        parsed("legacy/2025/01/d2.csv.gz", "d2", [(2, 2, "temp", 4.0), (3, 0, "temp", 5.0)]),
    ]
    cells = attribution.attribute(files, SENSORS)
    firsts = attribution.first_copies(cells, check=True)
    assert cells.raw_value[firsts].tolist() == [1.0, 3.0, 5.0]
    assert attribution.first_copies(cells, check=False).tolist() == [0, 1, 2, 3, 4]


def test_live_keys_are_removed_and_rows_come_sorted_with_their_text_columns():
    files = [
        parsed(
            "legacy/2025/01/d1.csv", "d1", [(2, 12, "temp", 20.0), (2, 12, "rh", 40.0), (3, 5, "temp", 50.0)]
        ),
        parsed("legacy/2025/01/d2.csv", "d2", [(7, 3, "temp", 21.0)]),
    ]
    cells = attribution.attribute(files, SENSORS)
    firsts = attribution.first_copies(cells, check=False)
    live_sensor = np.array([2], np.int64)  # d1-rh at minute 12 is live
    live_ts = pa.array([minute(12)], TS).cast(pa.int64()).to_numpy()
    winners = attribution.without_keys(cells, firsts, live_sensor, live_ts)
    rows = attribution.silver_rows(
        cells, winners, files, SENSORS, DEVICES, {"run_id": ("migrate__2025-01", pa.string())}
    )
    assert rows["sensor_id"].to_pylist() == ["aa-temp-new", "d2-temp", "zz-temp-old"]
    assert rows["ts"].to_pylist() == [minute(12), minute(3), minute(5)]
    assert rows["unit"].to_pylist() == ["°C"] * 3
    assert rows["raw_unit"].to_pylist() == ["C", "C", "F"]
    assert rows["site_id"].to_pylist() == ["s1", "s2", "s1"]
    assert rows["message_id"].to_pylist() == [
        "legacy:legacy/2025/01/d1.csv:000000002",
        "legacy:legacy/2025/01/d2.csv:000000007",
        "legacy:legacy/2025/01/d1.csv:000000003",
    ]
    assert rows["run_id"].to_pylist() == ["migrate__2025-01"] * 3


def test_an_empty_month_gives_no_rows():
    cells = attribution.attribute([parsed("legacy/2025/01/d1.csv", "d1", [])], SENSORS)
    assert cells.size == 0
    assert attribution.first_copies(cells, check=True).size == 0
    rows = attribution.silver_rows(cells, np.zeros(0, np.int64), [], SENSORS, DEVICES, {})
    assert rows.num_rows == 0


def test_a_catalog_without_sensors_sends_every_cell_to_unknown_channel():
    files = [parsed("legacy/2025/01/d1.csv", "d1", [(2, 9, "temp", 20.0), (3, 10, "rh", 40.0)])]
    cells = attribution.attribute(files, SENSORS.slice(0, 0))
    assert cells.sensor.tolist() == [-1, -1]
    assert np.isnan(cells.value).all()
    assert cells.unknown.num_rows == 2
