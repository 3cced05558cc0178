"""Quality gates: the suites compiled to DuckDB agree with Great Expectations, row for row.

Large batches are checked whole by `quality.compile_checks` (DuckDB) and by GX on a sample, so the compiled
checks must count exactly the rows GX calls unexpected; these tests hold both engines to the same batch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from wenulake import quality
from wenulake.errors import ConfigError
from wenulake.settings import Settings

EXPECTATIONS = Settings().expectations_dir

SUITE: dict[str, Any] = {
    "name": "every_kind",
    "meta": {"derived_columns": {"x_positive": "x > 0", "is_record": "kind = 'record'"}},
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {
                "column": "detail",
                "row_condition": "is_record == True",
                "condition_parser": "pandas",
            },
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "detail", "row_condition": "kind == 'object'", "condition_parser": "pandas"},
        },
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "name", "value_set": ["a", "b"]}},
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "x_positive", "value_set": [True]},
        },
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "n", "value_set": [1, 2, 3]}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "max_value": 2}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "n", "min_value": 1, "max_value": 3, "strict_min": True},
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "day", "regex": r"^\d{4}-\d{2}$"},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["name", "n"]}},
    ],
}


def batch(rows: int) -> pa.Table:
    """`rows` rows with a known set of defects: NaN and null floats, nulls, values outside sets and ranges,
    bad days, a repeated id, repeated (name, n) pairs."""
    names = ["a", "b", None, "c"]
    return pa.table(
        {
            "id": pa.array([i if i != 7 else 3 for i in range(rows)], pa.int64()),
            "name": pa.array([names[i % 4] for i in range(rows)], pa.string()),
            "n": pa.array([None if i % 11 == 0 else i % 5 for i in range(rows)], pa.int64()),
            "x": pa.array(
                [math.nan if i % 13 == 0 else None if i % 17 == 0 else float(i % 7 - 1) for i in range(rows)],
                pa.float64(),
            ),
            "day": pa.array(
                [None if i % 19 == 0 else "2025-1" if i % 6 == 0 else "2025-01" for i in range(rows)],
                pa.string(),
            ),
            "kind": pa.array(["record" if i % 3 else "object" for i in range(rows)], pa.string()),
            "detail": pa.array([None if i % 5 == 0 else "d" for i in range(rows)], pa.string()),
        }
    )


def key(kind: str, kwargs: dict[str, Any]) -> str:
    """An expectation's identity in GX's result JSON and in the suite alike (GX reorders the results, turns
    limits into floats and row conditions into objects)."""
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict):
        condition = condition["pass_through_filter"]
    shown = {k: float(v) if k.endswith("_value") else v for k, v in kwargs.items() if k != "batch_id"}
    return json.dumps([kind, {**shown, "row_condition": condition}], sort_keys=True)


def gx_unexpected(result: quality.GateResult, suite: dict[str, Any]) -> list[int | None]:
    """GX's unexpected count per expectation, in suite order (None: GX raised instead of counting)."""
    by_key = {}
    for r in json.loads(result.result_json)["results"]:
        config = r["expectation_config"]
        by_key[key(config["type"], config["kwargs"])] = r["result"].get("unexpected_count")
    return [by_key[key(e["type"], e["kwargs"])] for e in suite["expectations"]]


def test_compiled_checks_count_what_gx_counts() -> None:
    data = batch(400)
    checks = quality.compile_checks(SUITE, data.schema)
    assert checks is not None
    by_duckdb = [c["unexpected_count"] for c in quality.run_checks(data, SUITE, checks)]
    by_gx = gx_unexpected(quality.validate(data, SUITE, "t", sample_rows=0), SUITE)
    assert by_duckdb == by_gx
    assert all(by_gx), by_gx  # the batch breaks every expectation, each in its own way


def test_a_clean_batch_passes_both_engines() -> None:
    data = pa.table(
        {
            "id": pa.array(range(300), pa.int64()),
            "name": ["a", "b", "a"] * 100,
            "n": pa.array([2] * 300, pa.int64()),
            "x": pa.array([1.5] * 300, pa.float64()),
            "day": ["2025-01"] * 300,
            "kind": ["record"] * 300,
            "detail": ["d"] * 300,
        }
    )
    suite = {**SUITE, "expectations": SUITE["expectations"][:-1]}  # (name, n) repeats on purpose
    result = quality.validate(data, suite, "t", sample_rows=50)
    assert result.success, result.failed
    recorded = json.loads(result.result_json)
    assert recorded["whole_batch"]["rows"] == 300
    assert recorded["gx_sample"]["rows"] == 50
    assert all(e["success"] for e in recorded["whole_batch"]["expectations"])


def test_a_defect_outside_the_sample_still_fails_the_gate() -> None:
    rows = 10_000
    data = pa.table({"id": pa.array(range(rows), pa.int64()), "name": ["a"] * rows})
    data = data.set_column(1, "name", pa.array(["a"] * (rows - 1) + ["zzz"], pa.string()))
    suite = {
        "name": "late_defect",
        "expectations": [
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "name", "value_set": ["a"]}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        ],
    }
    result = quality.validate(data, suite, "t", sample_rows=100)
    assert not result.success
    assert result.failed == [
        "expect_column_values_to_be_in_set(column=name): 1 of 10000 rows (whole batch, DuckDB)"
    ]


def test_an_unknown_keyword_falls_back_to_gx_on_every_row() -> None:
    suite = {
        "name": "mostly",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name", "mostly": 0.5}}
        ],
    }
    data = batch(200)
    assert quality.compile_checks(suite, data.schema) is None
    result = quality.validate(data, suite, "t", sample_rows=10)
    assert result.success
    assert "whole_batch" not in json.loads(result.result_json)


@pytest.mark.parametrize("path", sorted(EXPECTATIONS.glob("*.json")), ids=lambda p: Path(p).stem)
def test_every_shipped_suite_compiles(path: Path) -> None:
    """The fast path applies to every suite of the pipeline (a suite that cannot compile would silently cost
    GX on every row of every large batch)."""
    assert quality.compile_checks(json.loads(path.read_text()), pa.schema([])) is not None


def test_an_empty_batch_passes_on_the_compiled_checks_alone() -> None:
    empty = batch(0)
    result = quality.validate(empty, SUITE, "t", sample_rows=20_000)
    assert result.success
    assert result.evaluated == len(SUITE["expectations"])
    recorded = json.loads(result.result_json)
    assert recorded["whole_batch"]["rows"] == 0
    assert "gx_sample" not in recorded
    with pytest.raises(ConfigError, match="lacks"):
        quality.validate(empty.drop_columns(["name"]), SUITE, "t", sample_rows=20_000)


def test_the_silver_local_date_shortcut_equals_a_lookup_per_row() -> None:
    """silver_reading.sql reads the local date through one offset per zone and UTC hour; around every kind of
    change (whole, half-hour and 45-minute zones, half-hour DST, southern hemisphere) it must give the per-row
    answer for every minute, and catch a wrong local date."""
    from datetime import UTC, datetime, timedelta

    import duckdb

    zones = {
        "Europe/Madrid": ["2025-03-30T00:00Z", "2025-10-26T00:00Z"],
        "Australia/Adelaide": ["2025-04-05T15:00Z", "2025-10-04T15:00Z"],
        "Australia/Lord_Howe": ["2025-04-05T14:00Z", "2025-10-04T15:00Z"],
        "Pacific/Chatham": ["2025-04-05T13:00Z", "2025-09-27T13:00Z"],
        "Asia/Kathmandu": ["2025-06-01T17:00Z"],
        "America/St_Johns": ["2025-03-09T04:00Z", "2025-11-02T03:00Z"],
    }
    rows: dict[str, list[Any]] = {"timezone": [], "ts": []}
    for zone, starts in zones.items():
        for start in starts:
            first = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC)
            for minute in range(0, 4 * 60):
                rows["timezone"].append(zone)
                rows["ts"].append(first + timedelta(minutes=minute))
    data = pa.table({"timezone": rows["timezone"], "ts": pa.array(rows["ts"], pa.timestamp("us", tz="UTC"))})
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.register("t", data)
    truth = con.execute("select cast(timezone(timezone, ts) as date) as d from t").fetch_arrow_table()["d"]
    con.close()
    wrong = pa.array(
        [d.as_py() + timedelta(days=1) if i % 97 == 0 else d.as_py() for i, d in enumerate(truth)]
    )
    suite = quality.load_suite(EXPECTATIONS, "silver_reading")
    meta = suite["meta"]
    check = {
        **suite,
        "meta": {
            **meta,
            "derived_columns": {
                "local_date_matches_zone": meta["derived_columns"]["local_date_matches_zone"]
            },
        },
        "expectations": [
            e for e in suite["expectations"] if e["kwargs"].get("column") == "local_date_matches_zone"
        ],
    }
    for local_dates, bad in ((truth, 0), (wrong, len(range(0, len(truth), 97)))):
        batch_ = data.append_column("local_date", local_dates)
        compiled = quality.compile_checks(check, batch_.schema)
        assert compiled is not None
        [result] = quality.run_checks(batch_, check, compiled)
        assert result["unexpected_count"] == bad
