"""One source per contract: everything else that names a table's columns, a quarantine reason or a metric's
limits is generated from wenulake.contracts or checked against it here, so forgetting a file fails this test
instead of a run (a `KeyError`, or a gate rejecting every reading).

- warehouse DDL (sql/warehouse/ddl) = the statements `contracts.warehouse` generates, and a DuckDB database built
  from those files has exactly the contract's columns, types and nullability;
- the loads, Redshift's keys and the serving store are derived from the contract;
- every column a suite in expectations/ checks is a column of its table's contract (or a derived column);
- the suites' reason, metric and unit sets and the silver gate's plausibility limits are the contract's;
- the accounting's per-reason counts cover exactly the enum's message-level reasons.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from wenulake.contracts import warehouse as contract
from wenulake.contracts.reasons import BRONZE_MESSAGE_REASONS, Reason
from wenulake.contracts.tables import TABLES as LAKE_TABLES
from wenulake.resources import resource_dir
from wenulake.units import PHYSICAL_LIMITS, UNITS

DDL = resource_dir("sql") / "warehouse" / "ddl"
SUITES = sorted(resource_dir("expectations").glob("*.json"))


#: columns a gate's own query adds to the batch besides the table's (suite -> columns, each checked below)
GATE_QUERY_COLUMNS = {"gold_fact_reading": {"sensor_in_dim"}}


def test_the_gate_queries_give_the_columns_their_suites_check():
    text = (resource_dir("sql") / "warehouse" / "gate" / "touched_facts.sql").read_text()
    assert " as sensor_in_dim" in text


def suite(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((resource_dir("expectations") / f"{name}.json").read_text())
    return result


def test_every_ddl_file_is_the_statement_the_contract_generates():
    files = {p.name for p in DDL.glob("*.sql")}
    assert files == {t.ddl_file for t in contract.TABLES}, (
        "a DDL file without a contract table, or the reverse"
    )
    for table in contract.TABLES:
        current = (DDL / table.ddl_file).read_text()
        assert current == contract.ddl_text(table, current), (
            f"{table.ddl_file} differs from wenulake/contracts/warehouse.py: change the contract, then run "
            "`python -m wenulake.contracts.warehouse --write`"
        )


def test_a_database_built_from_the_ddl_has_the_contracts_columns_types_and_nulls():
    con = duckdb.connect()
    con.execute("create schema ops")
    for path in sorted(DDL.glob("*.sql")):
        con.execute(path.read_text())
    built = con.execute(
        "select table_schema, table_name, column_name, data_type, is_nullable from information_schema.columns "
        "order by table_schema, table_name, ordinal_position"
    ).fetchall()
    con.close()
    duck = {"varchar": "VARCHAR", "double precision": "DOUBLE", "timestamptz": "TIMESTAMP WITH TIME ZONE",
            "bigint": "BIGINT", "integer": "INTEGER", "date": "DATE", "boolean": "BOOLEAN"}  # fmt: skip
    expected = sorted(
        (
            table.schema or "main",
            table.short_name,
            column.name,
            duck[column.type.split("(")[0]],
            "YES" if column.null else "NO",
        )
        for table in contract.TABLES
        for column in table.columns
    )
    assert sorted(built) == expected
    assert [r[2] for r in built if r[1] == "stats_daily"] == list(contract.STATS_DAILY.column_names)


def test_loads_redshift_keys_and_the_serving_store_come_from_the_contract():
    from wenulake.stats_store.duckdb_store import DDL as SERVING_DDL
    from wenulake.stats_store.serving import SERVING
    from wenulake.warehouse import COLUMNS, LOADS, OPS_TABLES
    from wenulake.warehouse.redshift_backend import primary_keys

    analysts = [t for t in contract.TABLES if not t.schema]
    assert {t.name: t.column_names for t in analysts} == COLUMNS
    assert tuple(t.short_name for t in contract.TABLES if t.schema == "ops") == OPS_TABLES
    assert [(s.table, s.key_columns, s.mode) for s in LOADS] == [
        (t.name, t.load.keys, t.load.mode) for t in contract.TABLES if t.load
    ]
    for spec in LOADS:
        assert set(spec.key_columns) <= set(COLUMNS[spec.table])
    assert primary_keys(DDL) == {t.name: t.primary_key for t in contract.TABLES if t.primary_key}
    for table, (period, columns) in SERVING.items():
        assert columns == contract.BY_NAME[table].column_names
        assert period in columns
        con = duckdb.connect()
        con.execute("create schema serving")
        con.execute(SERVING_DDL[table])
        served = [r[0] for r in con.execute(f"describe serving.{table}").fetchall()]
        con.close()
        assert served == [*columns, "expires_at"]


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_every_column_a_suite_checks_is_in_its_tables_contract(path):
    checked = json.loads(path.read_text())
    table = checked["meta"]["table"]
    if table in LAKE_TABLES:
        columns = set(LAKE_TABLES[table].schema.names)
    else:
        columns = set(contract.BY_NAME[table].column_names)
    columns |= set(checked["meta"].get("derived_columns", {}))
    columns |= GATE_QUERY_COLUMNS.get(path.stem, set())
    used = set()
    for expectation in checked["expectations"]:
        kwargs = expectation["kwargs"]
        used |= {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
        used |= set(kwargs.get("column_list", ()))
    assert used <= columns, f"{path.name} checks columns {sorted(used - columns)} that {table} does not have"


def value_set(name: str, column: str) -> set[Any]:
    (found,) = [
        e["kwargs"]["value_set"]
        for e in suite(name)["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == column
    ]
    return set(found)


def test_the_suites_reasons_metrics_and_units_are_the_contracts():
    assert value_set("bronze_quarantine", "reason") == {Reason.CORRUPT_OBJECT, *BRONZE_MESSAGE_REASONS}
    assert value_set("silver_reading", "metric") == set(UNITS)
    assert value_set("silver_reading", "unit") == {
        c.canonical for units in UNITS.values() for c in units.values()
    }


def test_the_silver_gates_plausibility_is_units_physical_limits():
    """The suite's DuckDB expression, evaluated at and just beyond each metric's limits."""
    expression = suite("silver_reading")["meta"]["derived_columns"]["value_plausible"]
    con = duckdb.connect()
    for metric, (low, high) in PHYSICAL_LIMITS.items():
        margin = max(1.0, abs(high) * 1e-6)
        for value, plausible in ((low, True), (high, True), (low - margin, False), (high + margin, False)):
            got = con.execute(f"select {expression} from (select ? as metric, ? as value)", [metric, value])
            assert got.fetchone() == (plausible,), (metric, value)
    assert con.execute(f"select {expression} from (select 'lux' as metric, 1.0 as value)").fetchone() == (
        False,
    )
    con.close()
    assert set(PHYSICAL_LIMITS) == set(UNITS)


def test_the_accounting_counts_exactly_the_enums_message_level_reasons():
    from wenulake.accounting import KEYS

    counted = {k.removeprefix("q_") for k in KEYS if k.startswith("q_")}
    assert counted == {*BRONZE_MESSAGE_REASONS, Reason.UNKNOWN_DEVICE, Reason.UNKNOWN_CHANNEL}
    text = (resource_dir("sql") / "lake" / "accounting.sql").read_text()
    for reason in counted:  # the query counts each of them by its enum value
        assert f"reason = '{reason}'" in text
