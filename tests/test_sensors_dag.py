"""The sensors DAG, run for real: dag.test(), Spark local[2], Delta tables in tmp_path, GX gates."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import home_copy, reader_url
from tests.helpers import arrival_range, expected_accounting, snapshots, warehouse_snapshot
from wenulake.accounting import accounting
from wenulake.contracts.tables import DQ_RESULT, SENSOR_MESSAGE, SILVER_READING, TABLES
from wenulake.errors import GateFailed, PipelineFailed
from wenulake.lake import Lake
from wenulake.orchestrate import run_dag, run_range
from wenulake.pipeline import bronze
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.timeutil import HOUR, Interval, parse_instant

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.spark]


def test_one_run_accounts_for_every_generated_record(ran_home, range_run, sample):
    settings = Settings()
    interval = arrival_range(sample["manifest"])
    report = range_run["reports"][0]  # the sensors run (alarms follow it)
    assert report.ok, report.failure()
    assert [t.task_id for t in report.tasks] == [
        "ingest_bronze", "gate_bronze", "enrich_silver", "gate_silver", "stage_gold", "compute_stats",
        "gate_stats", "load_warehouse", "gate_warehouse", "purge_stats",
    ]  # fmt: skip
    # the corrupt object is quarantined whole and the run goes on
    assert accounting(settings, interval) == expected_accounting(sample["manifest"])
    for hour in sample["manifest"]["by_hour"]:
        one = Interval(parse_instant(hour), parse_instant(hour) + HOUR)
        assert accounting(settings, one) == expected_accounting(sample["manifest"], hour), hour
    gates = Lake(settings).read(DQ_RESULT)
    assert set(gates["suite"].to_pylist()) == {
        "bronze_sensor_message", "bronze_quarantine", "silver_reading", "gold_fact_reading", "stats_hourly",
        "stats_daily", "stats_daily_site", "stats_daily_company",
    }  # fmt: skip
    expected = sample["manifest"]["expected"]
    silver = Lake(settings).read(SILVER_READING)
    assert silver.num_rows == expected["non_null_readings"] - expected["unknown_channel_readings"]
    # analysts see the warehouse by plain name, and it holds exactly silver's rows
    assert run_query(settings, "select count(*) from fact_reading").rows == [(silver.num_rows,)]
    orphans = run_query(settings, "select count(*) from fact_reading anti join dim_sensor using (sensor_id)")
    assert orphans.rows == [(0,)]
    # every analyst example of sql/examples/ runs on the result
    examples = sorted((Path(settings.sql_dir) / "examples").glob("*.sql"))
    assert len(examples) >= 3
    for example in examples:
        assert run_query(settings, example.read_text()).columns, example.name
    assert all(gates["success"].to_pylist())


def test_a_rerun_gives_identical_tables(ran_home, sample):
    settings = Settings()
    interval = arrival_range(sample["manifest"])
    first = snapshots(settings)  # after one run over the range
    first_warehouse = warehouse_snapshot(settings)
    run_range(settings, "sensors", interval, hourly=False)
    assert snapshots(settings) == first, "rerun changed the tables"
    assert warehouse_snapshot(settings) == first_warehouse, "rerun changed the warehouse"


def test_make_runs_data_hour_by_hour_gives_the_tables_of_one_run(
    make_run_range, hourly_run, make_run_sample, tmp_path
):
    """`make run`'s own landing and range, one run (as `make run` does) against one run per hour (the schedule)."""
    one = Settings(home=home_copy(make_run_range, tmp_path / "one"))
    hourly = Settings(home=home_copy(hourly_run, tmp_path / "hourly"))
    hours = make_run_sample["interval"].split_hourly()
    assert [r.dag_id for r in hourly_run["reports"]] == ["sensors", "alarms"] * len(hours)
    assert all(r.ok for r in [*hourly_run["reports"], *make_run_range["reports"]])
    assert accounting(hourly, make_run_sample["interval"]) == expected_accounting(make_run_sample["manifest"])
    assert snapshots(hourly) == snapshots(one), "hour by hour differs from one run over the range"
    assert warehouse_snapshot(hourly) == warehouse_snapshot(one), "hour by hour differs in the warehouse"


def test_duplicates_resolve_the_same_whatever_order_the_hours_run_in(
    reverse_home, reverse_hourly_run, sample
):
    settings = Settings()
    interval = arrival_range(sample["manifest"])
    for report in reverse_hourly_run["reports"]:  # one run per hour, last hour first
        assert report.ok, report.failure()
    assert accounting(settings, interval) == expected_accounting(sample["manifest"])
    for hour in sample["manifest"]["by_hour"]:
        one = Interval(parse_instant(hour), parse_instant(hour) + HOUR)
        assert accounting(settings, one) == expected_accounting(sample["manifest"], hour), hour


def test_interval_without_objects_is_a_successful_empty_run(home):
    settings = Settings()
    interval = Interval(parse_instant("2031-01-01T00:00:00Z"), parse_instant("2031-01-01T01:00:00Z"))
    report = run_dag(settings, "sensors", interval)
    assert report.ok, report.failure()
    assert set(accounting(settings, interval).values()) == {0}
    # every contract table exists, empty, from the first run on
    for spec in TABLES.values():
        assert Lake(settings).read(spec).schema.names == spec.schema.names


def test_broken_batch_fails_the_gate_and_publishes_nothing(home, sample):
    settings = Settings()
    interval = arrival_range(sample["manifest"])
    bronze.run(settings, interval, run_id="good")
    lake = Lake(settings)
    before = snapshots(settings)
    versions = {name: lake.version(spec) for name, spec in TABLES.items() if name != DQ_RESULT.name}

    bronze.ingest(settings, interval, run_id="broken")
    staged = lake.read_staged("bronze-broken", SENSOR_MESSAGE)
    # a deliberately broken batch: one copy of a row (duplicate object_key, record_index) with a 2014 timestamp
    row = staged.slice(0, 1).to_pylist()[0]
    row["ts"] = parse_instant("2014-01-01T00:00:00Z")
    bad = pa.Table.from_pylist([row], schema=staged.schema)
    lake.stage("bronze-broken", SENSOR_MESSAGE, pa.concat_tables([staged, bad]))
    with pytest.raises(GateFailed, match="bronze_sensor_message") as failure:
        bronze.publish(settings, interval, run_id="broken")
    assert "expect_compound_columns_to_be_unique" in str(failure.value)
    assert "invariants" in str(failure.value)  # the accounting check sees the extra row too

    assert snapshots(settings) == before
    assert {name: lake.version(spec) for name, spec in TABLES.items() if name != DQ_RESULT.name} == versions
    results = lake.read(DQ_RESULT).to_pylist()
    failed = [r for r in results if r["run_id"] == "broken" and not r["success"]]
    assert {r["suite"] for r in failed} == {"bronze_sensor_message", "bronze_invariants"}
    assert json.loads(failed[0]["result_json"])  # the full GX result is stored and readable


def test_failed_gate_fails_the_dag_run_without_retries(home, sample, tmp_path, monkeypatch):
    strict = tmp_path / "expectations"
    strict.mkdir()
    for suite in Path(Settings().expectations_dir).glob("*.json"):
        (strict / suite.name).write_text(suite.read_text())
    doc = json.loads((strict / "bronze_sensor_message.json").read_text())
    doc["expectations"].append({"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 0}})
    (strict / "bronze_sensor_message.json").write_text(json.dumps(doc))
    monkeypatch.setenv("WENULAKE_EXPECTATIONS_DIR", str(strict))

    settings = Settings()
    interval = arrival_range(sample["manifest"])
    with pytest.raises(PipelineFailed, match=r"gate_bronze: bronze gate failed, nothing published"):
        run_range(settings, "sensors", interval, hourly=False)
    assert Lake(settings).read(SENSOR_MESSAGE).num_rows == 0


def test_bad_keyring_fails_ingest_with_a_clear_message(home, sample, tmp_path, monkeypatch):
    keyring = tmp_path / "bad-keyring.json"
    keyring.write_text(json.dumps({"keys": {"k1": "c2hvcnQ="}}))
    monkeypatch.setenv("WENULAKE_KEYRING", str(keyring))
    with pytest.raises(PipelineFailed, match=r"ingest_bronze: keyring .* key 'k1' is 5 bytes"):
        run_range(Settings(), "sensors", arrival_range(sample["manifest"]), hourly=False)


def test_missing_landing_directory_is_a_clear_failure(home, tmp_path, monkeypatch):
    monkeypatch.setenv("WENULAKE_LANDING", str(tmp_path / "no-such-landing"))
    interval = Interval(parse_instant("2026-04-04T00:00:00Z"), parse_instant("2026-04-04T01:00:00Z"))
    with pytest.raises(PipelineFailed, match=r"landing directory .*no-such-landing does not exist"):
        run_range(Settings(), "sensors", interval, hourly=False)


def test_the_dag_on_a_postgresql_warehouse_catches_up_after_an_outage(
    home, sample, postgres_url, monkeypatch
):
    """WENULAKE_WAREHOUSE_URL=postgresql://...: an unreachable server fails the run after its retries with a
    clear message and the lake keeps its state; the next run loads what was missed; a rerun changes nothing."""
    monkeypatch.setenv("WENULAKE_TASK_RETRIES", "1")
    monkeypatch.setenv("WENULAKE_RETRY_DELAY_SECONDS", "1")
    interval = arrival_range(sample["manifest"])
    first = Interval(interval.start, interval.start + 2 * HOUR)
    down = Settings(warehouse_url="postgresql://postgres@127.0.0.1:1/nowhere", warehouse_connect_timeout=1)
    report = run_dag(down, "sensors", first)
    assert not report.ok
    tasks = {t.task_id: t for t in report.tasks}
    assert tasks["gate_silver"].state == "success"  # the lake went on
    assert tasks["stage_gold"].state == "failed", tasks["stage_gold"]
    assert tasks["stage_gold"].tries == 2, tasks["stage_gold"]
    assert "warehouse unreachable at postgresql://postgres@127.0.0.1:1/nowhere" in (
        tasks["stage_gold"].error or ""
    )

    settings = Settings(warehouse_url=postgres_url, warehouse_reader_url=reader_url(postgres_url))
    report = run_dag(settings, "sensors", Interval(first.end, interval.end))
    assert report.ok, report.failure()
    stage = {t.task_id: t for t in report.tasks}["stage_gold"]
    assert stage.summary
    assert len(stage.summary["runs_caught_up"]) == 1
    silver = Lake(settings).read(SILVER_READING).num_rows
    assert run_query(settings, "select count(*) from fact_reading").rows == [(silver,)]
    loaded = warehouse_snapshot(settings)
    report = run_dag(settings, "sensors", interval)  # the whole range again: identical warehouse
    assert report.ok, report.failure()
    assert warehouse_snapshot(settings) == loaded
