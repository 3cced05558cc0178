"""Values in Delta/DuckDB predicates are quoted in one place (`lakefiles.sql_literal`): hostile object keys, ids
and run ids match exactly their own rows, and nothing else is touched (issue 18, point 4)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wenulake.contracts import Stage
from wenulake.contracts.tables import QUARANTINE, TOUCHED_ORDER
from wenulake.lake import Lake, conform
from wenulake.lakefiles import Where, sql_list, sql_literal
from wenulake.settings import Settings

HOSTILE = [
    "it's",
    "' OR '1'='1",
    "x' OR object_key <> '",
    "') OR true OR ('",
    "back\\slash\\'",
    "new\nline' --",
    'dq"uote',
    "plain",
]
HOUR = datetime(2026, 4, 4, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    return Settings()


def _quarantine(stage: str, keys: list[str], **extra: object) -> pa.Table:
    rows = [
        {
            "reason": "malformed_record",
            "stage": stage,
            "object_key": key,
            "record_index": index,
            "arrival_hour": HOUR,
            "arrival_date": "2026-04-04",
            "run_id": "r",
            **extra,
        }
        for key in keys
        for index in (0, 1)
    ]
    return conform(pa.Table.from_pylist(rows, schema=QUARANTINE.schema), QUARANTINE)


def _keys(lake: Lake, *columns: str) -> list[tuple]:
    return sorted(tuple(r[c] for c in columns) for r in lake.read(QUARANTINE).to_pylist())


def test_sql_literal_round_trips_every_hostile_value_through_duckdb() -> None:
    con = duckdb.connect()
    for value in HOSTILE:
        assert con.execute(f"select {sql_literal(value)}").fetchone() == (value,)
    assert con.execute(f"select count(*) from unnest([{sql_list(HOSTILE)}])").fetchone() == (len(HOSTILE),)
    with pytest.raises(ValueError, match="at least one"):
        sql_list([])


def test_silver_stale_quarantine_delete_matches_hostile_object_keys_exactly(settings: Settings) -> None:
    from wenulake.pipeline.silver import _delete_stale

    lake = Lake(settings)
    lake.ensure()
    lake.append(QUARANTINE, _quarantine(Stage.SILVER.value, HOSTILE))
    before = _keys(lake, "object_key", "record_index")
    for victim in HOSTILE:
        stale = pa.table({"object_key": [victim], "record_index": [1]})
        _delete_stale(lake, stale)
        before.remove((victim, 1))
        assert _keys(lake, "object_key", "record_index") == before, victim
    assert before == sorted((k, 0) for k in HOSTILE)


def test_work_order_replaces_match_hostile_run_and_order_ids_exactly(settings: Settings) -> None:
    from wenulake.pipeline.workorders import (
        STATE_REASONS,
        _of_orders,
        _replace_state_quarantine,
        record_touched_orders,
        touched_orders,
    )

    lake = Lake(settings)
    lake.ensure()
    for run_id in HOSTILE:
        record_touched_orders(lake, run_id, [f"WO-{run_id}", "WO-shared"])
    record_touched_orders(lake, "' OR '1'='1", ["WO-again"])  # a rerun replaces that run's rows only
    for run_id in HOSTILE:
        expected = ["WO-again"] if run_id == "' OR '1'='1" else sorted([f"WO-{run_id}", "WO-shared"])
        assert touched_orders(lake, run_id) == expected, run_id
    assert lake.read(TOUCHED_ORDER).num_rows == 2 * len(HOSTILE) - 1

    # the lifecycle quarantine of some hostile orders is replaced; other orders' rows stay as they were
    state = STATE_REASONS[0]
    rows = _quarantine(Stage.WORKORDERS.value, [f"obj-{o}" for o in HOSTILE]).to_pylist()
    for row, order in zip(rows, [o for o in HOSTILE for _ in (0, 1)], strict=True):
        row.update(reason=state, order_id=order, message_id=f"m-{order}-{row['record_index']}")
    lake.append(QUARANTINE, conform(pa.Table.from_pylist(rows, schema=QUARANTINE.schema), QUARANTINE))
    chosen = ["' OR '1'='1", "back\\slash\\'"]
    from wenulake.pipeline.workorders import of_orders_sql

    new = conform(
        pa.Table.from_pylist([r for r in rows if r["order_id"] in chosen and r["record_index"] == 0],
                             schema=QUARANTINE.schema),
        QUARANTINE,
    )  # fmt: skip
    _replace_state_quarantine(lake, new, _of_orders(chosen), of_orders_sql(chosen), "run-x")
    after = {(r["order_id"], r["record_index"]): r for r in lake.read(QUARANTINE).to_pylist()}
    assert sorted(after) == sorted((o, i) for o in HOSTILE for i in (0, 1))
    for (order, index), row in after.items():
        resolved = order in chosen and index == 1
        assert (row["resolved_by_run"] == "run-x") is resolved, (order, index)


def test_a_warehouse_keyed_delete_matches_hostile_keys_exactly(tmp_path: Path) -> None:
    from wenulake.warehouse import LoadSpec
    from wenulake.warehouse.duckdb_backend import _load_table

    folder = tmp_path / "stage of run 'x' OR '1'='1"  # the staged file's path is a literal too
    folder.mkdir()
    con = duckdb.connect()
    con.execute("create schema ops")
    con.execute(
        "create table ops.warehouse_load (t varchar, r varchar, d bigint, i bigint, s double, ts timestamptz)"
    )
    con.execute("create table dim_company (company_id varchar, name varchar)")
    con.executemany("insert into dim_company values (?, ?)", [[k, "old"] for k in HOSTILE])
    chosen = ["' OR '1'='1", "new\nline' --"]
    rows = folder / "rows.parquet"
    pq.write_table(pa.table({"company_id": chosen, "name": ["new"] * len(chosen)}), rows)
    spec = LoadSpec("dim_company", ("company_id",), "keys")
    result = _load_table(con, spec, str(rows), None, "run ' OR '1'='1")
    assert (result.rows_deleted, result.rows_inserted) == (2, 2)
    got = dict(con.execute("select company_id, name from dim_company").fetchall())
    assert got == {k: ("new" if k in chosen else "old") for k in HOSTILE}


def test_hour_predicates_are_built_by_where() -> None:
    from wenulake.pipeline.silver import _hours_predicate
    from wenulake.timeutil import Interval

    hours = Interval(HOUR, datetime(2026, 4, 4, 2, tzinfo=UTC))
    expected = "arrival_hour >= '2026-04-04T00:00:00Z' AND arrival_hour < '2026-04-04T02:00:00Z'"
    assert _hours_predicate(hours) == expected
    assert Where.hours("arrival_hour", hours.start, hours.end).sql() == expected
