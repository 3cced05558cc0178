"""The Redshift warehouse backend (`redshift://`): its generated SQL, word for word, and its merge semantics run
on PostgreSQL 15 against the PostgreSQL backend's result.

No Redshift is reachable here. What runs on PostgreSQL: the staging tables as the backend creates them, the
publish transaction's statements exactly as generated (MERGE, DELETE ... USING, INSERT), the load log and the
coverage. What cannot run: `copy ... from 's3://...' iam_role ... format as parquet` (PostgreSQL has no such
COPY); the test's subclass fills the staging tables from the same Parquet files with PostgreSQL's COPY FROM STDIN.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import PG_ADMIN
from wenulake.errors import ConfigError
from wenulake.settings import REPO_ROOT, Settings
from wenulake.warehouse import COLUMNS, LOADS, SchemaDrift, backend
from wenulake.warehouse.postgres_backend import PostgresWarehouse
from wenulake.warehouse.redshift_backend import (
    RedshiftWarehouse,
    connection_url,
    copy_sql,
    create_staging_sql,
    load_strategy,
    primary_keys,
    publish_sql,
)

SPECS = {spec.table: spec for spec in LOADS}
DDL = REPO_ROOT / "sql" / "warehouse" / "ddl"


# -- the generated statements ----------------------------------------------------------------------------------
def test_the_url_scheme_picks_the_redshift_backend_and_its_port():
    settings = Settings(warehouse_url="redshift://loader@wh.example.aws:5439/wenulake?sslmode=require")
    warehouse = backend(settings)
    assert isinstance(warehouse, RedshiftWarehouse)
    assert warehouse.kind == "redshift"
    assert warehouse.url == "postgresql://loader@wh.example.aws:5439/wenulake?sslmode=require"
    assert connection_url("redshift://loader@wh/db") == "postgresql://loader@wh:5439/db"
    with pytest.raises(ConfigError, match="unsupported scheme 'mysql'"):
        backend(Settings(warehouse_url="mysql://x@y/z"))


def test_primary_keys_come_from_the_ddl_files():
    keys = primary_keys(DDL)
    assert keys["dim_date"] == ("date_key",)
    assert keys["dim_company"] == ("company_id",)
    assert keys["stats_daily_site"] == ("site_id", "local_date", "metric")
    assert "fact_reading" not in keys
    assert "stats_hourly" not in keys


def test_copy_statement_reads_parquet_from_the_stage_with_the_copy_role():
    assert copy_sql('"wenulake_stage_0123"."fact_reading"', "s3://stage/stage/fact_reading/r1/rows.parquet",
                    "arn:aws:iam::123456789012:role/wenulake-prod-redshift-copy") == (
        "copy \"wenulake_stage_0123\".\"fact_reading\" from 's3://stage/stage/fact_reading/r1/rows.parquet' "
        "iam_role 'arn:aws:iam::123456789012:role/wenulake-prod-redshift-copy' format as parquet"
    )  # fmt: skip
    assert copy_sql("t", "s3://b/k", "default").endswith("iam_role default format as parquet")


def test_staging_tables_take_the_targets_types_in_the_contracts_column_order():
    assert create_staging_sql("s.dim_company", "dim_company") == (
        'create table s.dim_company as select "company_id", "name" from public.dim_company where 1 = 0'
    )


def test_each_table_gets_the_strategy_its_definition_allows():
    keys = primary_keys(DDL)
    strategy = {spec.table: load_strategy(spec, keys.get(spec.table), has_keys_file=True) for spec in LOADS}
    assert strategy == {
        "dim_company": "replace", "dim_site": "replace", "dim_device": "replace", "dim_sensor": "replace",
        "dim_threshold": "replace", "dim_date": "delete_insert", "fact_reading": "delete_insert",
        "stats_hourly": "delete_insert", "stats_daily": "delete_insert", "stats_daily_site": "delete_insert",
        "stats_daily_company": "delete_insert",
    }  # fmt: skip
    # keys that are the rows' own primary key: MERGE (a keys file may name keys that lost every row: not then)
    assert load_strategy(SPECS["dim_date"], keys["dim_date"], has_keys_file=False) == "merge"
    assert load_strategy(SPECS["stats_daily_site"], keys["stats_daily_site"], has_keys_file=False) == (
        "delete_insert"  # its load key (company_id, local_date) is not its primary key
    )


def test_golden_merge_of_dim_date():
    assert publish_sql(SPECS["dim_date"], '"st"."dim_date"', "merge") == [
        'merge into public.dim_date using "st"."dim_date" s on public.dim_date."date_key" = s."date_key" '
        'when matched then update set "year" = s."year", "quarter" = s."quarter", "month" = s."month", '
        '"day" = s."day", "iso_week" = s."iso_week", "day_of_week" = s."day_of_week", '
        '"is_weekend" = s."is_weekend" '
        'when not matched then insert ("date_key", "year", "quarter", "month", "day", "iso_week", '
        '"day_of_week", "is_weekend") values (s."date_key", s."year", s."quarter", s."month", s."day", '
        's."iso_week", s."day_of_week", s."is_weekend")'
    ]


def test_golden_partition_replace_of_fact_reading():
    columns = (
        '"sensor_id", "ts", "local_date", "value", "raw_value", "device_id", "site_id", "company_id", "metric", '
        '"unit", "message_id", "received_at"'
    )
    assert publish_sql(SPECS["fact_reading"], '"st"."fact_reading"', "delete_insert") == [
        'delete from public.fact_reading using "st"."fact_reading"__keys k where '
        'public.fact_reading."sensor_id" = k."sensor_id" and public.fact_reading."local_date" = k."local_date"',
        f'insert into public.fact_reading ({columns}) select {columns} from "st"."fact_reading"',
    ]


def test_every_loaded_table_is_generated_from_the_load_contract():
    for spec in LOADS:
        for strategy in ("replace", "delete_insert") + (("merge",) if spec.mode == "keys" else ()):
            statements = publish_sql(spec, "st.t", strategy)
            insert = statements[-1]
            assert all(f'"{c}"' in insert for c in COLUMNS[spec.table]), (spec.table, strategy)


# -- the merge semantics on PostgreSQL 15 ----------------------------------------------------------------------
class RedshiftOnPostgres(RedshiftWarehouse):
    """The Redshift backend with one statement swapped: PostgreSQL cannot COPY from S3, so the staging tables
    are filled from the same Parquet files by COPY FROM STDIN. Everything else is the backend's own SQL."""

    def _fill(self, con, target, columns, location) -> int:  # type: ignore[no-untyped-def]
        return PostgresWarehouse._copy(self, con, target, columns, location)


@pytest.fixture
def other_postgres_url() -> Iterator[str]:
    """A second database of its own on 127.0.0.1:5432 (the Redshift path's), dropped afterwards."""
    import psycopg

    name = f"wenulake_test_rs_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is needed for this test and cannot be reached: {exc}")
    with admin:
        admin.execute(f'create database "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


TS = pa.timestamp("us", tz="UTC")


def _write(path: Path, columns: dict[str, pa.Array]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return str(path)


def _reading(sensor: str, hour: int, day: int, value: float) -> dict[str, Any]:
    return {
        "sensor_id": sensor, "ts": datetime(2026, 4, day, hour, tzinfo=UTC), "local_date": date(2026, 4, day),
        "value": value, "raw_value": value, "device_id": "d1", "site_id": "s1", "company_id": "c1",
        "metric": "temperature", "unit": "C", "message_id": f"m-{sensor}-{day}-{hour}",
        "received_at": datetime(2026, 4, day, hour, 1, tzinfo=UTC),
    }  # fmt: skip


def _load_files(tmp: Path, load: int) -> dict[str, tuple[str, str | None]]:
    """Load 1: two companies, dates 4 and 5 April, readings of s1 and s2 on both days. Load 2: one company
    renamed and one gone, 5 April's weekday fixed (MERGE updates), 6 April new (MERGE inserts), s1's 5 April
    partition replaced by one reading, s2's 5 April partition emptied (named only in the keys file)."""
    folder = tmp / f"load{load}"
    companies = [("c1", "Acme"), ("c2", "Globex")] if load == 1 else [("c1", "Acme Corp")]
    days = [(4, 5), (5, 6)] if load == 1 else [(5, 7), (6, 1)]  # (day, day_of_week)
    staged: dict[str, tuple[str, str | None]] = {
        "dim_company": (
            _write(
                folder / "dim_company.parquet",
                {
                    "company_id": pa.array([c for c, _ in companies]),
                    "name": pa.array([n for _, n in companies]),
                },
            ),
            None,
        ),
        "dim_date": (
            _write(
                folder / "dim_date.parquet",
                {
                    "date_key": pa.array([date(2026, 4, d) for d, _ in days]),
                    "year": pa.array([2026] * len(days), pa.int32()),
                    "quarter": pa.array([2] * len(days), pa.int32()),
                    "month": pa.array([4] * len(days), pa.int32()),
                    "day": pa.array([d for d, _ in days], pa.int32()),
                    "iso_week": pa.array([14] * len(days), pa.int32()),
                    "day_of_week": pa.array([w for _, w in days], pa.int32()),
                    "is_weekend": pa.array([w >= 6 for _, w in days]),
                },
            ),
            None,
        ),
    }
    if load == 1:
        readings = [_reading(s, h, d, 20.0 + h) for s in ("s1", "s2") for d in (4, 5) for h in (1, 2)]
        keys = [(s, date(2026, 4, d)) for s in ("s1", "s2") for d in (4, 5)]
    else:
        readings = [_reading("s1", 3, 5, 99.5)]
        keys = [("s1", date(2026, 4, 5)), ("s2", date(2026, 4, 5))]
    fact = {
        c: pa.array([r[c] for r in readings], TS if c in ("ts", "received_at") else None)
        for c in COLUMNS["fact_reading"]
    }
    staged["fact_reading"] = (
        _write(folder / "fact_reading.parquet", fact),
        _write(folder / "fact_reading.keys.parquet", {
            "sensor_id": pa.array([k[0] for k in keys]), "local_date": pa.array([k[1] for k in keys]),
        }),
    )  # fmt: skip
    return staged


def _tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    import psycopg

    with psycopg.connect(url) as con:
        return {
            table: con.execute(f"select * from public.{table} order by 1, 2").fetchall()
            for table in ("dim_company", "dim_date", "fact_reading")
        } | {
            "warehouse_load": con.execute(
                "select table_name, run_id, rows_deleted, rows_inserted from ops.warehouse_load order by 2, 1"
            ).fetchall(),
            "warehouse_coverage": con.execute(
                "select source_run_id, loaded_by from ops.warehouse_coverage order by 1, 2"
            ).fetchall(),
        }


@pytest.mark.postgres
def test_the_redshift_publish_gives_the_postgres_backends_tables(postgres_url, other_postgres_url, tmp_path):
    settings = Settings(home=tmp_path / "home")
    postgres = PostgresWarehouse(settings, postgres_url)
    redshift = RedshiftOnPostgres(settings, other_postgres_url.replace("postgresql://", "redshift://", 1))
    for load in (1, 2):
        staged = _load_files(tmp_path, load)
        for warehouse in (postgres, redshift):
            warehouse.load(staged, f"run-{load}", [f"source-{load}"])
            warehouse.publish(f"run-{load}")
        expected, got = _tables(postgres_url), _tables(other_postgres_url)
        assert got == expected, f"load {load}"
    # what the second load did, on both: MERGE updated 5 April and inserted 6 April, c2 is gone, s2's 5 April
    # partition is empty and s1's holds its one new reading
    assert [(row[0].day, row[6]) for row in got["dim_date"]] == [(4, 5), (5, 7), (6, 1)]
    assert got["dim_company"] == [("c1", "Acme Corp")]
    on_5th = [(row[0], row[3]) for row in got["fact_reading"] if row[2] == date(2026, 4, 5)]
    assert on_5th == [("s1", 99.5)]
    assert len(got["fact_reading"]) == 5  # 4 readings of 4 April + 1 of 5 April
    assert ("fact_reading", "run-2", 4, 1) in got["warehouse_load"]


@pytest.mark.postgres
def test_a_stage_file_whose_columns_are_out_of_order_is_refused_before_copy(other_postgres_url, tmp_path):
    settings = Settings(home=tmp_path / "home")
    redshift = RedshiftOnPostgres(settings, other_postgres_url.replace("postgresql://", "redshift://", 1))
    staged = _load_files(tmp_path, 1)
    rows = pq.read_table(staged["dim_company"][0])
    pq.write_table(rows.select(["name", "company_id"]), staged["dim_company"][0])
    with pytest.raises(SchemaDrift, match="maps them by position"):
        redshift.load(staged, "run-x", ["source-x"])


def test_the_real_backend_loads_only_from_s3(tmp_path):
    warehouse = RedshiftWarehouse(Settings(home=tmp_path), "redshift://loader@wh/db")
    with pytest.raises(ConfigError, match="loads stage files from S3"):
        warehouse._fill(None, "t", ("a",), str(tmp_path / "rows.parquet"))  # type: ignore[arg-type]


def _staged_with_sensors(tmp: Path) -> dict[str, tuple[str, str | None]]:
    staged = _load_files(tmp, 1)
    sensor = {c: pa.array([None], pa.string()) for c in COLUMNS["dim_sensor"]}
    for name, value in (("sensor_id", "s1"), ("device_id", "d1"), ("site_id", "s1"), ("company_id", "c1"),
                        ("channel", "t"), ("metric", "temperature"), ("raw_unit", "C"), ("unit", "C"),
                        ("kind", "gauge")):  # fmt: skip
        sensor[name] = pa.array([value])
    sensor["scale"], sensor["offset"] = pa.array([1.0]), pa.array([0.0])
    sensor["valid_from"] = pa.array([datetime(2026, 1, 1, tzinfo=UTC)], TS)
    sensor["valid_to"] = pa.array([None], TS)
    staged["dim_sensor"] = (_write(tmp / "load1" / "dim_sensor.parquet", sensor), None)
    return staged


@pytest.mark.postgres
def test_the_gold_gate_reads_the_same_staged_state_as_on_postgres(postgres_url, other_postgres_url, tmp_path):
    from wenulake.sqlfiles import load_sql

    settings = Settings(home=tmp_path / "home")
    postgres = PostgresWarehouse(settings, postgres_url)
    redshift = RedshiftOnPostgres(settings, other_postgres_url.replace("postgresql://", "redshift://", 1))
    staged = _staged_with_sensors(tmp_path)
    keys = pq.read_table(staged["fact_reading"][1])
    results = []
    for warehouse in (postgres, redshift):
        warehouse.load(staged, "run-gate", ["source-gate"])
        sql = load_sql(settings.sql_dir, "warehouse/gate/touched_facts")
        results.append(
            warehouse.gate_query(sql, "run-gate", keys).sort_by(
                [("sensor_id", "ascending"), ("ts", "ascending")]
            )
        )
    assert results[1].to_pylist() == results[0].to_pylist()
    assert results[1].num_rows == 8
    assert sorted({(r["sensor_id"], r["sensor_in_dim"]) for r in results[1].to_pylist()}) == [
        ("s1", True), ("s2", False)
    ]  # fmt: skip


@pytest.mark.postgres
def test_load_reports_the_rows_it_replaces_on_duckdb_and_postgresql_alike(postgres_url, tmp_path):
    """`load` returns per table the rows deleted and inserted: the DuckDB backend deletes them in its loader
    file, PostgreSQL at publish, and both report the same figures from `load` (and log them at publish)."""
    from wenulake.warehouse.duckdb_backend import DuckDBWarehouse

    settings = Settings(home=tmp_path / "home")
    postgres, duck = PostgresWarehouse(settings, postgres_url), DuckDBWarehouse(settings)
    for warehouse in (postgres, duck):
        warehouse.ensure()
    reported: dict[str, list[dict[str, tuple[int, int]]]] = {"postgres": [], "duckdb": []}
    for load in (1, 2):
        staged = _load_files(tmp_path, load)
        for name, warehouse in (("postgres", postgres), ("duckdb", duck)):
            results = warehouse.load(staged, f"run-{load}", [f"source-{load}"])
            reported[name].append({r.table: (r.rows_deleted, r.rows_inserted) for r in results})
            warehouse.publish(f"run-{load}")
    assert reported["postgres"] == reported["duckdb"]
    first, second = reported["postgres"]
    assert first["fact_reading"] == (0, 8)  # an empty warehouse: nothing replaced
    assert second["fact_reading"] == (4, 1)  # the 5 April partitions of s1 and s2 (2 readings each)
    assert second["dim_company"] == (first["dim_company"][1], second["dim_company"][1])  # "all": every row
    logged = [row for row in _tables(postgres_url)["warehouse_load"] if row[1] == "run-2"]
    assert {table: (deleted, inserted) for table, _, deleted, inserted in logged} == second
