"""Warehouse loads for real on both backends (the DuckDB file and PostgreSQL at 127.0.0.1:5432): a failed load
or gate leaves the published state whole, schema drift is caught before loading, an unreachable warehouse is
caught up by the next run, and analysts' queries from another process never fail or see a half-done load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import copy_of, reader_url, shared_home
from tests.helpers import arrival_range, warehouse_snapshot, warehouse_tables
from wenulake.errors import GateFailed, WenulakeError
from wenulake.pipeline import bronze, gold, silver, stats
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.timeutil import HOUR, Interval
from wenulake.warehouse import SchemaDrift, WarehouseUnavailable, backend, check_drift
from wenulake.warehouse.duckdb_backend import DuckDBWarehouse
from wenulake.warehouse.postgres_backend import stage_schema

# slow, spark: from the fixtures (conftest), for the tests on `loaded` (over the module's `first_silver`)


def run_until_silver(settings: Settings, interval: Interval, run_id: str) -> None:
    bronze.run(settings, interval, run_id)
    silver.enrich(settings, interval, run_id)
    silver.publish(settings, interval, run_id)


def stage_all(settings: Settings, interval: Interval, run_id: str) -> dict:
    """stage_gold, compute_stats, gate_stats: every stage file load_warehouse needs."""
    summary = gold.stage(settings, interval, run_id)
    stats.compute(settings, interval, run_id)
    stats.publish(settings, interval, run_id)
    return summary


def run_gold(settings: Settings, interval: Interval, run_id: str) -> None:
    stage_all(settings, interval, run_id)
    gold.load(settings, interval, run_id)
    gold.publish(settings, interval, run_id)


def unpublished(settings: Settings, run_id: str) -> dict[str, pa.Table] | None:
    """The loaded, not yet published state: the DuckDB loader's file, or the run's PostgreSQL staging schema
    (None when there is none)."""
    import duckdb
    import psycopg

    if not settings.warehouse_url:
        con = duckdb.connect(str(DuckDBWarehouse(settings).loader), read_only=True)
        try:
            return warehouse_tables(con)
        finally:
            con.close()
    with psycopg.connect(settings.warehouse_url) as con:
        found = con.execute(
            "select 1 from information_schema.schemata where schema_name = %s", [stage_schema(run_id)]
        ).fetchone()
    return {} if found else None


def warehouse_sql(settings: Settings, statement: str) -> None:
    """A DBA's change to the warehouse tables (the loader's side for DuckDB)."""
    import duckdb
    import psycopg

    if settings.warehouse_url:
        with psycopg.connect(settings.warehouse_url, autocommit=True) as con:
            con.execute(statement)
        return
    con = duckdb.connect(str(DuckDBWarehouse(settings).loader))
    try:
        con.execute(statement)
    finally:
        con.close()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("WENULAKE_WAREHOUSE_URL", url)
        monkeypatch.setenv("WENULAKE_WAREHOUSE_READER_URL", reader_url(url))
    return str(request.param)


@pytest.fixture(scope="module")
def first_silver(sample) -> dict:
    """Bronze and silver of the first two arrival hours, run once for the module (each test copies the home and
    loads its own warehouse from there)."""
    first = Interval(
        arrival_range(sample["manifest"]).start, arrival_range(sample["manifest"]).start + 2 * HOUR
    )
    with shared_home("warehouse-first-silver", sample) as home:
        run_until_silver(Settings(), first, "first")
    return {"home": home, "interval": first}


@pytest.fixture
def loaded(first_silver, tmp_path, sample, monkeypatch, warehouse_kind) -> tuple[Settings, Interval]:
    """The first hours loaded and published: the state later failures must leave whole."""
    copy_of(first_silver, tmp_path, sample, monkeypatch)  # after run_until_silver(settings, first, "first")
    settings = Settings()
    assert backend(settings).kind == warehouse_kind
    first = first_silver["interval"]
    run_gold(settings, first, "first")
    return settings, first


def rest_of(loaded: tuple[Settings, Interval], sample) -> Interval:
    return Interval(loaded[1].end, arrival_range(sample["manifest"]).end)


def silver_rows(settings: Settings) -> int:
    return int(run_query(settings, "select count(*) from silver.reading").rows[0][0])


def test_a_load_failing_midway_changes_nothing(loaded, sample):
    settings, _ = loaded
    before = warehouse_snapshot(settings)
    rest = rest_of(loaded, sample)
    run_until_silver(settings, rest, "second")
    stage_all(settings, rest, "second")
    # break the fact stage file: a null value violates fact_reading's not-null, after the dimensions (and, on
    # DuckDB, the fact deletes) have run inside the load's transaction
    path = Path(gold.stage_dir(settings, "fact_reading", "second")) / "rows.parquet"
    rows = pq.read_table(path)
    values = rows["value"].to_pylist()
    values[-1] = None
    pq.write_table(rows.set_column(rows.schema.get_field_index("value"), "value", pa.array(values)), path)
    with pytest.raises(WenulakeError, match=r"warehouse load failed at fact_reading, nothing changed"):
        gold.load(settings, rest, "second")
    staged = unpublished(settings, "second")
    assert staged is None if settings.warehouse_url else staged == before  # the load rolled back
    assert warehouse_snapshot(settings) == before  # and analysts never saw anything
    assert path.exists()  # stage files stay for the retry


def test_a_failed_gold_gate_discards_the_load(loaded, sample, tmp_path, monkeypatch):
    settings, _ = loaded
    before = warehouse_snapshot(settings)
    strict = tmp_path / "expectations"
    strict.mkdir()
    for suite in Path(settings.expectations_dir).glob("*.json"):
        (strict / suite.name).write_text(suite.read_text())
    doc = json.loads((strict / "gold_fact_reading.json").read_text())
    doc["expectations"].append({"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 0}})
    (strict / "gold_fact_reading.json").write_text(json.dumps(doc))

    rest = rest_of(loaded, sample)
    run_until_silver(settings, rest, "second")
    stage_all(settings, rest, "second")
    gold.load(settings, rest, "second")
    if settings.warehouse_url:
        assert unpublished(settings, "second") == {}  # staged, not yet published
    else:
        assert unpublished(settings, "second") != before
    assert warehouse_snapshot(settings) == before
    monkeypatch.setenv("WENULAKE_EXPECTATIONS_DIR", str(strict))
    with pytest.raises(GateFailed, match="gold"):
        gold.publish(Settings(), rest, "second")
    assert warehouse_snapshot(settings) == before
    staged = unpublished(settings, "second")
    assert staged is None if settings.warehouse_url else staged == before  # discarded
    assert not Path(gold.stage_dir(settings, "fact_reading", "second")).exists()


def test_schema_drift_is_named_before_loading(loaded, sample):
    settings, _ = loaded
    before = warehouse_snapshot(settings)
    rest = rest_of(loaded, sample)
    run_until_silver(settings, rest, "second")
    stage_all(settings, rest, "second")
    warehouse_sql(settings, "alter table fact_reading drop column raw_value")
    with pytest.raises(
        SchemaDrift, match=r"column fact_reading\.raw_value is missing from the warehouse table"
    ):
        gold.load(settings, rest, "second")
    warehouse_sql(settings, "alter table fact_reading add column raw_value varchar(16)")
    with pytest.raises(
        SchemaDrift, match=r"fact_reading\.raw_value is float in the staged rows but text in the"
    ):
        gold.load(settings, rest, "second")
    assert unpublished(settings, "second") is None or not settings.warehouse_url
    assert warehouse_snapshot(settings)["fact_reading"].num_rows == before["fact_reading"].num_rows


def test_drift_checks_name_the_column():
    schema = pa.schema([("company_id", pa.string()), ("name", pa.int64())])
    with pytest.raises(SchemaDrift, match=r"dim_company\.name is integer in the staged rows but text"):
        check_drift("dim_company", schema, {"company_id": "text", "name": "text"})
    with pytest.raises(SchemaDrift, match=r"dim_company\.name is missing from the staged rows"):
        check_drift(
            "dim_company", pa.schema([("company_id", pa.string())]), {"company_id": "text", "name": "text"}
        )
    with pytest.raises(
        SchemaDrift, match=r"dim_company\.extra is in the warehouse table but not in the load"
    ):
        check_drift(
            "dim_company",
            schema.set(1, pa.field("name", pa.string())),
            {"company_id": "text", "name": "text", "extra": "text"},
        )


def test_an_unreachable_warehouse_is_caught_up_by_the_next_run(loaded, sample):
    settings, _ = loaded
    rest = rest_of(loaded, sample)
    middle = Interval(rest.start, rest.start + HOUR)
    run_until_silver(settings, middle, "second")
    down = Settings(warehouse_url="postgresql://postgres@127.0.0.1:1/nowhere", warehouse_connect_timeout=1)
    with pytest.raises(
        WarehouseUnavailable, match=r"warehouse unreachable at postgresql://postgres@127.0.0.1:1/nowhere"
    ):
        gold.stage(down, middle, "second")
    # the lake kept its state; the next run, with the warehouse back, takes in the missed run's partitions too
    later = Interval(middle.end, rest.end)
    run_until_silver(settings, later, "third")
    summary = stage_all(settings, later, "third")
    assert summary["runs_caught_up"] == ["second"]
    gold.load(settings, later, "third")
    gold.publish(settings, later, "third")
    fact_rows = run_query(settings, "select count(*) from fact_reading").rows[0][0]
    assert fact_rows == silver_rows(settings)
    coverage = run_query(
        settings, "select source_run_id, loaded_by from ops.warehouse_coverage order by all"
    ).rows
    assert coverage == [("first", "first"), ("second", "third"), ("third", "third")]


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from wenulake.query import run_query
    from wenulake.settings import Settings
    # queries until the test says the loads are over (a file appears), at most argv[2] seconds
    settings, stop, deadline, seen, errors = Settings(), Path(sys.argv[1]), time.time() + float(sys.argv[2]), [], []
    while not stop.exists() and time.time() < deadline:
        try:
            rows = run_query(settings, "select count(*), count(distinct sensor_id) from fact_reading").rows
            seen.append(list(rows[0]))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"seen": seen, "errors": errors}))
    """
)


def test_analysts_query_from_another_process_while_loads_run(loaded, sample, tmp_path):
    settings, _ = loaded
    committed = {warehouse_snapshot(settings)["fact_reading"].num_rows}
    stop = tmp_path / "loads-done"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop), "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    rest = rest_of(loaded, sample)
    run_until_silver(settings, rest, "second")
    for _ in range(2):  # the second load of the same partitions is a rerun: same committed state
        run_gold(settings, rest, "second")
        committed.add(warehouse_snapshot(settings)["fact_reading"].num_rows)
    assert warehouse_snapshot(settings)["fact_reading"].num_rows == silver_rows(settings)
    stop.touch()
    out, err = reader.communicate(timeout=150)
    assert reader.returncode == 0, err[-2000:]
    result = json.loads(out)
    assert result["errors"] == []
    assert len(result["seen"]) > 5
    assert {count for count, _ in result["seen"]} <= committed  # only committed states, never a half load
