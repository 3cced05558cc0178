"""Company stats for real: the sensors DAG's stats equal a plain-Python recomputation over the generator's truth
(counter resets, late data, day boundaries, DST); the serving store forgets expired rows, on DuckDB and on
DynamoDB (moto's server on 127.0.0.1)."""

from __future__ import annotations

import csv
import gzip
import itertools
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from wenulake.orchestrate import run_dag
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.timeutil import parse_instant

REL = 1e-9


def truth(sample_dir: Path) -> list[dict[str, Any]]:
    with gzip.open(sample_dir / "truth" / "readings.csv.gz", "rt", newline="") as fh:
        return [
            {**row, "ts": parse_instant(row["ts"]), "value": float(row["value"])}
            for row in csv.DictReader(fh)
        ]


def expected(readings: list[dict[str, Any]]) -> dict[str, dict[tuple, dict[str, Any]]]:
    """stats_hourly / stats_daily / roll-ups by the book (DESIGN.md): consumption only for counters, consecutive
    deltas in ts order, a negative delta is a reset and adds the new value, a delta belongs to its later
    reading's period, the first reading of a series adds nothing."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in readings:
        series[row["sensor_id"]].append(row)
    hourly: dict[tuple, dict[str, Any]] = {}
    daily: dict[tuple, dict[str, Any]] = {}
    for sensor_id, rows in series.items():
        rows.sort(key=lambda r: r["ts"])
        previous = None
        for row in rows:
            delta = None
            if row["kind"] == "counter" and previous is not None:
                delta = row["value"] - previous if row["value"] >= previous else row["value"]
            previous = row["value"]
            hour = row["ts"].replace(minute=0, second=0, microsecond=0)
            for table, key in (
                (hourly, (sensor_id, hour)),
                (daily, (sensor_id, date.fromisoformat(row["local_date"]))),
            ):
                acc = table.setdefault(
                    key, {"values": [], "consumption": 0.0 if row["kind"] == "counter" else None, "row": row}
                )
                acc["values"].append(row["value"])
                if delta is not None:
                    acc["consumption"] += delta
    out: dict[str, dict[tuple, dict[str, Any]]] = {"stats_hourly": {}, "stats_daily": {}}
    for name, table in (("stats_hourly", hourly), ("stats_daily", daily)):
        for key, acc in table.items():
            values = acc["values"]
            out[name][key] = {
                "n": len(values),
                "min_value": min(values),
                "max_value": max(values),
                "avg_value": math.fsum(values) / len(values),
                "consumption": acc["consumption"],
                "site_id": acc["row"]["site_id"],
                "metric": acc["row"]["metric"],
            }
    site: dict[tuple, dict[str, Any]] = {}
    for (_, day), stats in out["stats_daily"].items():
        acc = site.setdefault(
            (stats["site_id"], day, stats["metric"]), {"n": 0, "sum": 0.0, "consumption": None}
        )
        acc["n"] += stats["n"]
        acc["sum"] += stats["avg_value"] * stats["n"]
        if stats["consumption"] is not None:
            acc["consumption"] = (acc["consumption"] or 0.0) + stats["consumption"]
    out["stats_daily_site"] = {
        key: {"n": acc["n"], "avg_value": acc["sum"] / acc["n"], "consumption": acc["consumption"]}
        for key, acc in site.items()
    }
    return out


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL, abs_tol=1e-9)
    return bool(a == b)


def assert_stats_match_truth(settings: Settings, readings: list[dict[str, Any]]) -> None:
    want = expected(readings)
    queries = {
        "stats_hourly": "select sensor_id, hour_utc, n, min_value, max_value, avg_value, consumption from stats_hourly",
        "stats_daily": "select sensor_id, local_date, n, min_value, max_value, avg_value, consumption from stats_daily",
        "stats_daily_site": "select site_id, local_date, metric, n, avg_value, consumption from stats_daily_site",
    }
    for table, query in queries.items():
        result = run_query(settings, query)
        width = 3 if table == "stats_daily_site" else 2
        got = {
            tuple(row[:width]): dict(zip(result.columns[width:], row[width:], strict=True))
            for row in result.rows
        }
        assert set(got) == set(want[table]), (
            f"{table}: periods differ: {sorted(set(got) ^ set(want[table]))[:5]}"
        )
        wrong = [
            (key, column, got[key][column], want[table][key][column])
            for key in want[table]
            for column in got[key]
            if not close(got[key][column], want[table][key][column])
        ]
        assert not wrong, f"{table}: {len(wrong)} values differ, first: {wrong[:3]}"


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_stats_equal_a_recomputation_from_the_generators_truth(ran_home, range_run, sample):
    settings = Settings()
    report = range_run["reports"][0]  # the sensors DAG over the whole sample
    assert report.ok, report.failure()
    readings = truth(sample["dir"])
    # the sample has what makes stats hard: a counter reset and readings of two local dates
    counters = defaultdict(list)
    for row in sorted(readings, key=lambda r: r["ts"]):
        if row["kind"] == "counter":
            counters[row["sensor_id"]].append(row["value"])
    assert any(b < a for values in counters.values() for a, b in itertools.pairwise(values))
    assert len({row["local_date"] for row in readings}) >= 2
    assert_stats_match_truth(settings, readings)
    # the serving store holds the same periods, none expired yet (retention 400 days)
    served = run_query(settings, "select count(*) from serving.stats_hourly").rows[0][0]
    assert served == run_query(settings, "select count(*) from stats_hourly").rows[0][0]
    company = run_query(
        settings,
        "select count(*) from stats_daily_company c join (select company_id, local_date, metric, sum(n) as n "
        "from stats_daily group by all) d using (company_id, local_date, metric) where c.n <> d.n",
    )
    assert company.rows == [(0,)]


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_hourly_runs_in_reverse_order_give_the_same_stats(reverse_home, reverse_hourly_run, sample):
    """Late data at its worst: every hour processed before the hours its readings' neighbours arrive in."""
    settings = Settings()
    for report in reverse_hourly_run["reports"]:  # one run per hour, last hour first
        assert report.ok, report.failure()
    assert_stats_match_truth(settings, truth(sample["dir"]))


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_a_santiago_dst_day_spans_25_hours(tmp_path, monkeypatch):
    from wenulake.catalog.store import CatalogStore
    from wenulake.devtools.generator import generate
    from wenulake.timeutil import Interval

    out = tmp_path / "dst"
    manifest = generate(
        out, devices=8, hours=27, start=parse_instant("2026-04-04T02:00:00Z"), seed=5, fault_rate=0
    )
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_LANDING", str(out / "landing"))
    monkeypatch.setenv("WENULAKE_KEYRING", str(out / "keyring.json"))
    settings = Settings()
    CatalogStore(settings).load(out / "catalog")
    report = run_dag(
        settings,
        "sensors",
        Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"])),
    )
    assert report.ok, report.failure()
    day = run_query(
        settings,
        "select d.sensor_id, d.n, d.period_end, count(h.hour_utc) as hours, sum(h.n) as hourly_n "
        "from stats_daily d join dim_site s on d.site_id = s.site_id "
        "join stats_hourly h on h.sensor_id = d.sensor_id and h.hour_utc >= d.period_end - interval 25 hour "
        "and h.hour_utc < d.period_end "
        "where s.timezone = 'America/Santiago' and d.local_date = date '2026-04-04' group by all",
    )
    assert day.rows, "no Santiago sensor on 2026-04-04"
    for sensor_id, n, period_end, hours, hourly_n in day.rows:
        assert period_end == datetime(2026, 4, 5, 4, tzinfo=UTC), sensor_id  # local midnight after the change
        assert hours == 25, sensor_id
        assert hourly_n == n, sensor_id
        assert 25 * 60 - 2 <= n <= 25 * 60, sensor_id  # one reading a minute for 25 hours
    assert_stats_match_truth(settings, truth(out))


# -- the serving store -----------------------------------------------------------------------------------------
def serving_rows(period_end: datetime, retention_days: float) -> dict[str, pa.Table]:
    from wenulake.stats_store import with_expiry

    hour = period_end - timedelta(hours=1)
    common = {
        "n": [3], "min_value": [1.0], "max_value": [3.0], "avg_value": [2.0], "consumption": [None],
        "metric": ["co2"], "unit": ["ppm"], "kind": ["gauge"], "device_id": ["d1"], "site_id": ["s1"],
        "company_id": ["c1"], "period_end": pa.array([period_end], pa.timestamp("us", "UTC")),
    }  # fmt: skip
    hourly = pa.table(
        {"sensor_id": ["d1-co2-1"], "hour_utc": pa.array([hour], pa.timestamp("us", "UTC")), **common}
    )
    daily = pa.table(
        {"sensor_id": ["d1-co2-1"], "local_date": pa.array([hour.date()], pa.date32()), **common}
    )
    return {
        "stats_hourly": with_expiry(hourly, "stats_hourly", retention_days),
        "stats_daily": with_expiry(daily, "stats_daily", retention_days),
    }


def serving_keys(rows: dict[str, pa.Table]) -> dict[str, pa.Table]:
    return {
        "stats_hourly": rows["stats_hourly"].select(["sensor_id", "hour_utc"]),
        "stats_daily": rows["stats_daily"].select(["company_id", "local_date"]),
    }


def test_the_duckdb_serving_store_never_serves_expired_rows_and_purges_them(tmp_path, monkeypatch):
    from wenulake.pipeline import stats
    from wenulake.stats_store.duckdb_store import DuckDBStatsStore

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    settings = Settings(stats_retention_days=10)
    store = DuckDBStatsStore(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    old = serving_rows(now - timedelta(days=11), 10)  # expired a day ago
    fresh = serving_rows(now - timedelta(days=2), 10)
    fresh["stats_hourly"] = fresh["stats_hourly"].set_column(0, "sensor_id", pa.array(["d2-co2-1"]))
    store.write(old, serving_keys(old))
    store.write(fresh, serving_keys(fresh))
    served = run_query(settings, "select sensor_id, expires_at from serving.stats_hourly").rows
    assert [row[0] for row in served] == ["d2-co2-1"]  # the expired row is stored but never served
    assert served[0][1] == now - timedelta(days=2) + timedelta(days=10)
    assert stats.purge(settings, now) == {"duckdb": {"stats_hourly": 1, "stats_daily": 1}}
    # a rewrite of the same keys replaces, never duplicates
    store.write(fresh, serving_keys(fresh))
    assert run_query(settings, "select count(*) from serving.stats_hourly").rows == [(1,)]


def test_the_dynamodb_serving_store_batches_writes_and_filters_expired_items(tmp_path, moto_endpoint):
    from wenulake.stats_store import sinks
    from wenulake.stats_store.dynamodb_store import DynamoDBStatsStore

    settings = Settings(
        home=tmp_path, stats_sink="dynamodb", dynamodb_endpoint_url=moto_endpoint, stats_retention_days=10
    )
    assert [store.kind for store in sinks(settings)] == ["duckdb", "dynamodb"]  # type: ignore[attr-defined]
    store = DynamoDBStatsStore(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    many = []
    for i in range(60):  # more than one BatchWriteItem request (25 items)
        rows = serving_rows(now - timedelta(hours=i + 1), 10)
        many.append(rows["stats_hourly"])
    expired = serving_rows(now - timedelta(days=12), 10)["stats_hourly"]
    rows = {"stats_hourly": pa.concat_tables([*many, expired])}
    assert store.write(rows, {}) == {"stats_hourly": 61}
    client = store.resource.meta.client
    ttl = client.describe_time_to_live(TableName=settings.stats_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    items = store.read("d1-co2-1", now)
    assert len(items) == 60  # the expired item is still in the table (TTL deletes late) but never read
    assert client.scan(TableName=settings.stats_table, Select="COUNT")["Count"] == 61
    newest = max(items, key=lambda item: item["period"])
    assert newest["period"] == "hour#" + (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert float(newest["avg_value"]) == 2.0
    assert int(newest["expires_at"]) > now.timestamp()
