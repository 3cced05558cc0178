"""Reliability: every touched period is recomputed, including periods whose sensor lost all its readings."""

from __future__ import annotations

import csv
import shutil

import pytest

from tests.helpers import arrival_range
from wenulake.catalog.store import CatalogStore
from wenulake.orchestrate import run_range
from wenulake.query import run_query
from wenulake.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.spark]


def drop_device(catalog, device_id: str) -> None:  # type: ignore[no-untyped-def]
    """The catalog without the device and its sensors (thresholds of its sensors too)."""
    sensors = set()
    for name, column in (
        ("devices.csv", "device_id"),
        ("sensors.csv", "device_id"),
        ("thresholds.csv", "sensor_id"),
    ):
        path = catalog / name
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
            fields = list(rows[0]) if rows else []
        if name == "sensors.csv":
            sensors = {r["sensor_id"] for r in rows if r["device_id"] == device_id}
        keep = [
            r
            for r in rows
            if not (r[column] == device_id or (name == "thresholds.csv" and r[column] in sensors))
        ]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fields)
            writer.writeheader()
            writer.writerows(keep)


def totals(settings: Settings) -> dict[str, int]:
    def one(sql: str) -> int:
        return int(run_query(settings, sql).rows[0][0] or 0)

    return {
        "fact_reading": one("select count(*) from fact_reading"),
        "silver": one("select count(*) from silver.reading"),
        "stats_hourly": one("select sum(n) from stats_hourly"),
        "stats_daily": one("select sum(n) from stats_daily"),
        "serving_hourly": one("select sum(n) from serving.stats_hourly"),
        "serving_daily": one("select sum(n) from serving.stats_daily"),
    }


def test_a_device_removed_from_the_catalog_leaves_no_stats_behind_after_a_rerun(ran_home, sample, tmp_path):
    settings = Settings()  # after run_range(settings, "sensors", interval, hourly=False)
    interval = arrival_range(sample["manifest"])
    before = totals(settings)
    assert len(set(before.values())) == 1, before

    device = run_query(
        settings, "select device_id from silver.reading group by 1 order by count(*) desc limit 1"
    ).rows[0][0]
    sensors = [
        r[0]
        for r in run_query(
            settings, f"select distinct sensor_id from silver.reading where device_id = '{device}'"
        ).rows
    ]
    lost = int(
        run_query(settings, f"select count(*) from silver.reading where device_id = '{device}'").rows[0][0]
    )
    catalog = tmp_path / "catalog"
    shutil.copytree(sample["dir"] / "catalog", catalog)
    drop_device(catalog, device)
    CatalogStore(settings).load(catalog)
    run_range(settings, "sensors", interval, hourly=False)
    after = totals(settings)
    assert after == dict.fromkeys(after, before["silver"] - lost), after
    for table in ("stats_hourly", "stats_daily", "serving.stats_hourly", "serving.stats_daily"):
        stale = run_query(
            settings, f"select count(*) from {table} where list_contains({sensors!r}, sensor_id)"
        )
        assert stale.rows == [(0,)], table
