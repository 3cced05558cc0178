"""Warehouse loads for real on the DuckDB file: a failed load or gate leaves the published state whole, and
analysts' queries from another process never fail or see a half-done load."""

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

from tests.helpers import arrival_range, warehouse_snapshot
from wenulake.errors import GateFailed, WenulakeError
from wenulake.pipeline import bronze, gold, silver
from wenulake.settings import Settings
from wenulake.timeutil import HOUR, Interval
from wenulake.warehouse.duckdb_backend import DuckDBWarehouse

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def run_until_silver(settings: Settings, interval: Interval, run_id: str) -> None:
    bronze.run(settings, interval, run_id)
    silver.enrich(settings, interval, run_id)
    silver.publish(settings, interval, run_id)


def loader_snapshot(settings: Settings) -> dict[str, pa.Table]:
    import duckdb

    from wenulake.warehouse import COLUMNS

    con = duckdb.connect(str(DuckDBWarehouse(settings).loader), read_only=True)
    try:
        return {t: con.execute(f"select * from {t} order by all").fetch_arrow_table() for t in COLUMNS}
    finally:
        con.close()


@pytest.fixture
def loaded(home, sample) -> tuple[Settings, Interval]:
    """The first hours loaded and published: the state later failures must leave whole."""
    settings = Settings()
    first = Interval(
        arrival_range(sample["manifest"]).start, arrival_range(sample["manifest"]).start + 2 * HOUR
    )
    run_until_silver(settings, first, "first")
    gold.stage(settings, first, "first")
    gold.load(settings, first, "first")
    gold.publish(settings, first, "first")
    return settings, first


def test_a_load_failing_midway_changes_nothing(loaded, sample):
    settings, _ = loaded
    before = warehouse_snapshot(settings)
    rest = Interval(loaded[1].end, arrival_range(sample["manifest"]).end)
    run_until_silver(settings, rest, "second")
    gold.stage(settings, rest, "second")
    # break the fact stage file: a null value violates fact_reading's not-null, after the dimensions and the
    # fact deletes have run inside the load's transaction
    path = Path(gold.stage_dir(settings, "fact_reading", "second")) / "rows.parquet"
    rows = pq.read_table(path)
    values = rows["value"].to_pylist()
    values[-1] = None
    pq.write_table(rows.set_column(rows.schema.get_field_index("value"), "value", pa.array(values)), path)
    with pytest.raises(WenulakeError, match=r"warehouse load failed at fact_reading, nothing changed"):
        gold.load(settings, rest, "second")
    assert loader_snapshot(settings) == before  # the loader's copy rolled back
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

    rest = Interval(loaded[1].end, arrival_range(sample["manifest"]).end)
    run_until_silver(settings, rest, "second")
    gold.stage(settings, rest, "second")
    gold.load(settings, rest, "second")
    assert loader_snapshot(settings) != before  # loaded, not yet published
    monkeypatch.setenv("WENULAKE_EXPECTATIONS_DIR", str(strict))
    with pytest.raises(GateFailed, match="gold"):
        gold.publish(Settings(), rest, "second")
    assert warehouse_snapshot(settings) == before
    assert loader_snapshot(settings) == before  # discarded


READER = textwrap.dedent(
    """
    import json, sys, time
    from wenulake.query import run_query
    from wenulake.settings import Settings
    settings, deadline, seen, errors = Settings(), time.time() + float(sys.argv[1]), [], []
    while time.time() < deadline:
        try:
            rows = run_query(settings, "select count(*), count(distinct sensor_id) from fact_reading").rows
            seen.append(list(rows[0]))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"seen": seen, "errors": errors}))
    """
)


def test_analysts_query_from_another_process_while_loads_run(loaded, sample):
    settings, _ = loaded
    committed = {warehouse_snapshot(settings)["fact_reading"].num_rows}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, "40"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(3)
    rest = Interval(loaded[1].end, arrival_range(sample["manifest"]).end)
    run_until_silver(settings, rest, "second")
    for _ in range(2):  # the second load of the same partitions is a rerun: same committed state
        gold.stage(settings, rest, "second")
        gold.load(settings, rest, "second")
        gold.publish(settings, rest, "second")
        committed.add(warehouse_snapshot(settings)["fact_reading"].num_rows)
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-2000:]
    result = json.loads(out)
    assert result["errors"] == []
    assert len(result["seen"]) > 5
    assert {count for count, _ in result["seen"]} <= committed  # only committed states, never a half load
