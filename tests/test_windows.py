"""The numpy trailing-window kernel against the SQL that defines it (sql/alarms/anomaly_windows.sql, DuckDB):
the same median, MAD and count for every reading, to the last bit, and the same anomaly episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from wenulake.contracts.tables import TS
from wenulake.pipeline import alarms
from wenulake.query import run_local
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql
from wenulake.transforms.windows import trailing_median_mad

T0 = datetime(2026, 3, 29, tzinfo=UTC)


def irregular_series(seed: int, sensors: int = 6, rows: int = 700) -> pa.Table:
    """Sorted (sensor_id, ts) rows: one-minute, ten-second and ragged cadences, gaps longer than the window,
    readings sharing a ts, and rounded values (ties, MAD 0)."""
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"sensor_id": [], "ts": [], "value": []}
    for s in range(sensors):
        step = [60, 10, 37, 600, 60, 1][s % 6]
        t = 0
        for _ in range(rows):
            t += int(rng.choice([0, step, step, step, 4000])) if s % 3 == 1 else step
            out["sensor_id"].append(f"s{s:02d}")
            out["ts"].append(T0 + timedelta(seconds=t))
            out["value"].append(float(np.round(rng.normal(20, 3), 0 if s % 2 else 2)))
    return pa.table({"sensor_id": out["sensor_id"], "ts": pa.array(out["ts"], TS), "value": out["value"]})


def by_sql(moving: pa.Table, window_minutes: int) -> pa.Table:
    return run_local(
        {"moving": moving},
        load_sql(Settings().sql_dir, "alarms/anomaly_windows"),
        {"anomaly_window": window_minutes},
    )


def by_kernel(moving: pa.Table, window_minutes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return trailing_median_mad(
        moving["sensor_id"].to_numpy(zero_copy_only=False),
        moving["ts"].cast(pa.int64()).to_numpy(),
        moving["value"].to_numpy(),
        window_minutes * 60_000_000,
    )


@pytest.mark.parametrize(("seed", "window"), [(1, 60), (2, 1), (3, 15), (4, 240)])
def test_the_kernel_gives_duckdbs_median_mad_and_count_bit_for_bit(seed, window):
    moving = irregular_series(seed)
    # rows sharing a ts come out of SQL in any order: key them by value too (distinct within a ts here)
    keyed = moving.append_column("row", pa.array(np.arange(moving.num_rows)))
    expected = by_sql(keyed, window).sort_by([("sensor_id", "ascending"), ("row", "ascending")])
    center, spread, points = by_kernel(moving, window)
    assert points.tolist() == expected["points"].to_pylist()
    got_center = [None if np.isnan(c) else float(c) for c in center]
    got_spread = [None if np.isnan(c) else float(c) for c in spread]
    assert got_center == expected["center"].to_pylist()
    assert got_spread == expected["spread"].to_pylist()
    assert (points == 0).any()
    assert (points >= 60).any()
    assert (spread == 0).any()


def test_rows_sharing_a_ts_see_each_other_but_not_themselves():
    ts = np.array([0, 10, 10, 10, 20])
    center, spread, points = trailing_median_mad(
        np.zeros(5, np.int64), ts, np.array([1.0, 2.0, 4.0, 8.0, 16.0]), 10
    )
    assert points.tolist() == [0, 3, 3, 3, 3]
    assert center[1:].tolist() == [4.0, 2.0, 2.0, 4.0]  # medians of {1,4,8} {1,2,8} {1,2,4} {2,4,8}
    assert np.isnan(center[0])
    assert np.isnan(spread[0])


def test_the_kernel_refuses_unsorted_or_ragged_input():
    with pytest.raises(ValueError, match="not sorted"):
        trailing_median_mad(np.zeros(3, np.int64), np.array([0, 20, 10]), np.ones(3), 60)
    with pytest.raises(ValueError, match="same length"):
        trailing_median_mad(np.zeros(2, np.int64), np.array([0, 20, 10]), np.ones(3), 60)
    center, spread, points = trailing_median_mad(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 60
    )
    assert len(center) == len(spread) == len(points) == 0


def test_the_anomaly_rule_finds_the_same_episodes_with_either_window_engine():
    settings = Settings()
    rng = np.random.default_rng(7)
    rows = []
    for s in range(4):
        for i in range(3000):
            value = 600.0 + rng.normal(0, 5)
            if i % 211 == 0 and i:
                value += rng.choice([-1, 1]) * rng.uniform(60, 200)  # spikes of one or two readings
            if i % 211 == 1 and s % 2:
                value += 120
            rows.append((f"s{s}", T0 + timedelta(minutes=i), round(value, 1)))
    readings = pa.table(
        {
            "sensor_id": [r[0] for r in rows],
            "ts": pa.array([r[1] for r in rows], TS),
            "value": [r[2] for r in rows],
            "kind": ["gauge"] * len(rows),
            "metric": ["co2"] * len(rows),
            "device_id": [f"d{r[0]}" for r in rows],
            "site_id": ["site"] * len(rows),
            "company_id": ["c"] * len(rows),
            "severity": pa.array([None] * len(rows), pa.string()),
            "min_value": pa.array([None] * len(rows), pa.float64()),
            "max_value": pa.array([None] * len(rows), pa.float64()),
            "outside": [False] * len(rows),
        }
    )
    params = alarms.rule_params(settings)["anomaly"]
    fast = alarms.anomaly(settings, readings, params)
    reference = alarms.anomaly(settings, readings, params, sql_windows=True)
    order = [("sensor_id", "ascending"), ("started_at", "ascending")]
    assert fast.num_rows >= 4 * 13
    assert fast.sort_by(order).to_pylist() == reference.sort_by(order).to_pylist()


def test_a_sensor_with_two_thresholds_gets_each_anomaly_episode_once():
    """bounds.sql gives a reading once per matching threshold: the episodes must not double."""
    settings = Settings()
    n = 300
    values = [600.0 + (i % 7) for i in range(n)]
    values[200] = 900.0
    readings = pa.table(
        {
            "sensor_id": ["s-co2"] * n,
            "ts": pa.array([T0 + timedelta(minutes=i) for i in range(n)], TS),
            "value": values,
            "kind": ["gauge"] * n,
            "metric": ["co2"] * n,
            "device_id": ["d1"] * n,
            "site_id": ["site"] * n,
            "company_id": ["c"] * n,
        }
    )
    thresholds = pa.table(
        {
            "threshold_id": ["warn", "crit"],
            "sensor_id": ["s-co2", "s-co2"],
            "metric": ["co2", "co2"],
            "min_value": pa.array([None, None], pa.float64()),
            "max_value": [5000.0, 9000.0],
            "severity": ["warning", "critical"],
        }
    )
    found = alarms.episodes(settings, readings, thresholds).to_pylist()
    anomalies = [(e["started_at"], e["ended_at"]) for e in found if e["rule"] == "anomaly"]
    assert anomalies == [(T0 + timedelta(minutes=200), T0 + timedelta(minutes=201))]
