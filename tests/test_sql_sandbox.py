"""`wenulake sql` is the analysts' sandbox (issue 18): every attack seen is refused, normal queries still work.

Each attack here succeeded on the code before the sandbox (written first, seen failing).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import reader_url
from wenulake.contracts.tables import QUARANTINE
from wenulake.errors import WenulakeError
from wenulake.lake import Lake
from wenulake.query import check_read_only, run_query
from wenulake.settings import Settings
from wenulake.warehouse import backend

REPO = Path(__file__).resolve().parent.parent
KEYRING_TEXT = '{"keys": {"k-secret": "' + "QUFB" * 10 + 'QUFBQQ=="}}'


@pytest.fixture
def analyst_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A home the pipeline has used: lake tables and the warehouse exist, a keyring and a catalog file sit beside
    them (things an analyst must not read)."""
    home = tmp_path / "home"
    for name in [n for n in list(__import__("os").environ) if n.startswith("WENULAKE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WENULAKE_HOME", str(home))
    settings = Settings()
    Lake(settings).ensure()
    backend(settings).ensure()
    (home / "keyring.json").write_text(KEYRING_TEXT)
    (home / "catalog.db").write_bytes(b"SQLite format 3\0catalog secrets")
    return settings


def refused(settings: Settings, query: str) -> str:
    with pytest.raises(WenulakeError) as caught:
        run_query(settings, query)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- statements ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "explain analyze copy (select 1) to '{out}'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}'",
        "/* hi */ explain (analyze) copy (select 1) to '{out}'",
        "explain analyze create table x as select 1",
        "explain analyze set threads = 1",
        "copy (select 1) to '{out}'",
        "select 1; copy (select 1) to '{out}'",
        "export database '{dir}'",
        "attach '{dir}/other.duckdb' as other",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
        "reset lock_configuration",
        "pragma version",
        "PRAGMA enable_profiling",
        "call pragma_version()",
        "create table t as select 1",
        "delete from ops.quarantine",
        "pivot (select 1 as a) on a",
    ],
)
def test_writes_settings_and_extensions_are_refused_even_under_explain(analyst_home, tmp_path, statement):
    out = tmp_path / "stolen.csv"
    message = refused(analyst_home, statement.format(out=out, dir=tmp_path))
    assert message.startswith("wenulake sql is read-only")
    assert not out.exists()


@pytest.mark.parametrize(
    "query",
    [
        "select * from postgres_execute('warehouse', 'commit; delete from public.dim_company')",
        "select * from postgres_query('warehouse', 'select 1')",
        "with x as (select * from postgres_execute('warehouse', 'commit')) select * from x",
        "select (select count(*) from postgres_execute('warehouse', 'commit'))",
        "explain analyze select * from postgres_execute('warehouse', 'commit; drop table x')",
        "select * from query('select * from postgres_execute(''warehouse'', ''commit'')')",
        "select * from duckdb_secrets()",
        "select * from sqlite_scan('catalog.db', 'devices')",
    ],
)
def test_functions_that_run_sql_elsewhere_are_refused_wherever_they_hide(analyst_home, query):
    assert "is refused" in refused(analyst_home, query)


# -- files ---------------------------------------------------------------------------------------------------
def test_the_keyring_the_catalog_and_system_files_cannot_be_read(analyst_home):
    home = analyst_home.home
    for query in [
        f"select * from read_text('{home / 'keyring.json'}')",
        f"select * from read_blob('{home / 'catalog.db'}')",
        f"select * from read_csv('{home / 'keyring.json'}')",
        "select * from read_text('/etc/passwd')",
        "select * from read_csv('/etc/passwd', sep = ':')",
        "select * from glob('/root/*')",
        f"select * from glob('{home}/*')",
        f"select * from read_text('{analyst_home.lake_uri}/../keyring.json')",
    ]:
        message = refused(analyst_home, query)
        assert "k-secret" not in message
        assert "Permission Error" in message or "is refused" in message, query


def test_the_lake_can_still_be_read_by_path(analyst_home):
    rows = run_query(
        analyst_home, f"select count(*) from glob('{analyst_home.lake_uri}/ops/*/_delta_log/*.json')"
    ).rows
    assert rows[0][0] > 0


def test_the_session_never_writes_nor_creates_tables(tmp_path, monkeypatch):
    """The analyst path runs no DDL and no Lake.ensure(): a fresh home stays empty, every table still answers."""
    home = tmp_path / "fresh"
    monkeypatch.setenv("WENULAKE_HOME", str(home))
    settings = Settings()
    assert run_query(settings, "select count(*) from ops.dq_result").rows == [(0,)]
    assert run_query(settings, "select count(*) from fact_reading").rows == [(0,)]
    assert run_query(settings, "select count(*) from serving.stats_daily").rows == [(0,)]
    assert run_query(settings, "select count(*) from ops.warehouse_load").rows == [(0,)]
    assert not home.exists()


def test_published_rows_are_visible(analyst_home):
    row = {f.name: None for f in QUARANTINE.schema}
    row.update(
        {"object_key": "k", "reason": "corrupt_object", "stage": "bronze", "arrival_date": "2026-04-04"}
    )
    row["arrival_hour"] = row["quarantined_at"] = datetime(2026, 4, 4, tzinfo=UTC)
    Lake(analyst_home).append(QUARANTINE, pa.Table.from_pylist([row], QUARANTINE.schema))
    assert run_query(analyst_home, "select reason from ops.quarantine").rows == [("corrupt_object",)]


# -- normal analyst queries ----------------------------------------------------------------------------------
def _readme_queries() -> list[str]:
    text = (REPO / "README.md").read_text()
    found = re.findall(r'wenulake sql "((?:[^"\\]|\\.)*)"', text)
    return [" ".join(q.split()) for q in found if not q.startswith("QUERY")]


ANALYST_QUERIES = [
    *_readme_queries(),
    *(p.read_text() for p in sorted((REPO / "sql" / "examples").glob("*.sql"))),
    "select device_id, seq, ts, arrival_date, readings, cast(null as integer) as nothing "
    "from bronze.sensor_message order by ts, device_id limit 2",
    "select reason, count(*) as n from ops.quarantine group by reason order by reason",
    "explain select count(*) from silver.reading",
    "summarize select 1 as a",
    "describe silver.reading",
    "show tables",
    "with x as (select 1 as a) select * from x",
]


def test_the_readme_and_example_queries_pass_the_check():
    assert len(_readme_queries()) >= 5
    for query in ANALYST_QUERIES:
        check_read_only(None, query)


@pytest.mark.parametrize("query", ANALYST_QUERIES)
def test_the_readme_and_example_queries_run_in_the_sandbox(analyst_home, query):
    run_query(analyst_home, query)


# -- PostgreSQL: the analysts' role -------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_warehouse_is_read_as_the_read_only_role(tmp_path, postgres_url, monkeypatch):
    import psycopg

    reader = reader_url(postgres_url)
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_WAREHOUSE_URL", postgres_url)
    monkeypatch.setenv("WENULAKE_WAREHOUSE_READER_URL", reader)
    settings = Settings()
    backend(settings).ensure()
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("insert into dim_company (company_id, name) values ('c1', 'Acme')")
    attack = "select * from postgres_execute('warehouse', 'commit; delete from public.dim_company')"
    assert "is refused" in refused(settings, attack)
    assert run_query(settings, "select company_id, name from dim_company").rows == [("c1", "Acme")]
    # the role itself cannot write, whatever client it uses
    with psycopg.connect(reader, autocommit=True) as con, pytest.raises(psycopg.Error):
        con.execute("delete from dim_company")
    with psycopg.connect(postgres_url) as con:
        assert con.execute("select count(*) from dim_company").fetchone() == (1,)


def test_postgres_warehouse_without_a_reader_url_is_refused_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.delenv("WENULAKE_WAREHOUSE_READER_URL", raising=False)
    message = refused(Settings(), "select 1")
    assert "WENULAKE_WAREHOUSE_READER_URL" in message


def test_json_output_contract_is_unchanged(analyst_home):
    from wenulake.query import to_json

    result = run_query(
        analyst_home,
        "select 1 as n, timestamptz '2026-04-04 10:00:00+00' as t, date '2026-04-04' as d, null as z",
    )
    assert json.loads(to_json(result)) == [
        {"n": 1, "t": "2026-04-04T10:00:00Z", "d": "2026-04-04", "z": None}
    ]
