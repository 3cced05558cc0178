"""The `wenulake` command as users run it: a real subprocess, real exit codes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SESSION_DIR
from tests.helpers import expected_accounting

WENULAKE = [sys.executable, "-m", "wenulake"]
START, END = "2026-04-04T00:00:00Z", "2026-04-04T05:00:00Z"


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*WENULAKE, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise AssertionError(f"wenulake {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


@pytest.fixture(scope="module")
def cli_home() -> dict[str, str]:
    """`wenulake landing generate` then `wenulake run sensors`, as `make run` does, in a home of its own."""
    home = SESSION_DIR / "cli-home"
    env = {"WENULAKE_HOME": str(home)}
    cli("landing", "generate", "--out", str(home), "--devices", "6", "--hours", "2", "--seed", "11", env=env)
    cli("catalog", "load", str(home / "catalog"), env=env)
    done = cli("run", "sensors", "--start", START, "--end", END, env=env)
    env["run_stdout"] = done.stdout
    return env


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_run_prints_tasks_and_balanced_accounting(cli_home):
    out = cli_home["run_stdout"]
    assert "sensors [2026-04-04T00:00:00Z, 2026-04-04T05:00:00Z): success" in out
    assert "ingest_bronze" in out
    assert "gate_bronze" in out
    assert "gate_silver" in out
    assert "balanced: records = messages_valid + duplicates + quarantined" in out
    # each task's run metrics (ops.run_metric) beside its seconds
    assert "rows in  rows out        MB r/w  peak MB" in out
    ingest = next(line for line in out.splitlines() if line.strip().startswith("ingest_bronze"))
    assert len(ingest.split()) == 8  # task, state, seconds, "s", rows in, rows out, MB r/w, peak MB


@pytest.mark.slow
def test_accounting_json_has_exactly_the_contract_keys_and_matches_the_generator(cli_home):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    counts = json.loads(cli("accounting", "--start", START, "--end", END, "--format", "json", env=env).stdout)
    manifest = json.loads((Path(env["WENULAKE_HOME"]) / "manifest.json").read_text())
    assert list(counts) == [
        "objects", "corrupt_objects", "records", "duplicates", "messages_valid", "null_values",
        "q_malformed_record", "q_unknown_key", "q_key_device_mismatch", "q_decrypt_failed",
        "q_implausible_timestamp", "q_unknown_device", "q_unknown_channel",
    ]  # fmt: skip
    assert all(type(v) is int for v in counts.values())
    assert counts == expected_accounting(manifest)


@pytest.mark.slow
def test_sql_json_output_is_plain_json_with_utc_timestamps(cli_home):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    query = (
        "select device_id, seq, ts, arrival_date, readings, cast(null as integer) as nothing "
        "from bronze.sensor_message order by ts, device_id limit 2"
    )
    rows = json.loads(cli("sql", query, "--format", "json", env=env).stdout)
    assert len(rows) == 2
    assert set(rows[0]) == {"device_id", "seq", "ts", "arrival_date", "readings", "nothing"}
    assert type(rows[0]["seq"]) is int
    assert rows[0]["ts"].endswith("Z")
    assert rows[0]["arrival_date"] == "2026-04-04"
    assert rows[0]["nothing"] is None
    assert isinstance(rows[0]["readings"], dict)


@pytest.mark.slow
def test_sql_csv_and_table_formats(cli_home):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    query = "select reason, count(*) as n from ops.quarantine group by reason order by reason"
    csv_out = cli("sql", query, "--format", "csv", env=env).stdout.splitlines()
    assert csv_out[0] == "reason,n"
    assert any(line.startswith("corrupt_object,1") for line in csv_out)
    assert "corrupt_object" in cli("sql", query, env=env).stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "statement",
    ["delete from ops.quarantine", "create table x as select 1", "copy (select 1) to '/tmp/x.csv'"],
)
def test_sql_refuses_writes_with_one_line(cli_home, statement):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    done = cli("sql", statement, env=env, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: wenulake sql is read-only")
    assert len(done.stderr.strip().splitlines()) == 1


def test_every_command_has_help():
    for command in ([], ["landing"], ["landing", "generate"], ["run"], ["accounting"], ["sql"], ["settings"]):
        done = cli(*command, "--help")
        assert "Usage: wenulake" in done.stdout


def test_usage_errors_are_one_line_and_exit_2(tmp_path):
    done = cli("accounting", "--start", "yesterday", "--end", END, check=False)
    assert done.returncode == 2
    assert "is not an ISO 8601 instant" in done.stderr
    done = cli("accounting", "--start", END, "--end", START, check=False)
    assert done.returncode == 2
    assert "is not after its start" in done.stderr


def test_sql_error_is_one_line(tmp_path):
    done = cli(
        "sql", "select nope from bronze.sensor_message", env={"WENULAKE_HOME": str(tmp_path)}, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: SQL error:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_tables_exist_from_the_first_command(tmp_path):
    done = cli(
        "sql",
        "select count(*) as n from ops.dq_result",
        "--format",
        "json",
        env={"WENULAKE_HOME": str(tmp_path)},
    )
    assert json.loads(done.stdout) == [{"n": 0}]


def test_settings_lists_every_variable(tmp_path):
    out = cli("settings", env={"WENULAKE_HOME": str(tmp_path)}).stdout
    for name in (
        "WENULAKE_HOME",
        "WENULAKE_LANDING",
        "WENULAKE_LAKE",
        "WENULAKE_KEYRING",
        "WENULAKE_SPARK_MASTER",
        "WENULAKE_S3_ENDPOINT_URL",
    ):
        assert name in out
    assert f"{tmp_path}/landing (default)" in out


@pytest.mark.slow
def test_catalog_show_and_a_bad_catalog_load(cli_home, tmp_path):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    counts = json.loads(cli("catalog", "show", "--format", "json", env=env).stdout)
    assert {row["table"] for row in counts} == {
        "companies", "sites", "devices", "sensors", "thresholds", "technicians", "materials"
    }  # fmt: skip
    assert all(row["rows"] > 0 for row in counts if row["table"] not in ("technicians", "materials"))

    bad = tmp_path / "bad"
    bad.mkdir()
    for path in (Path(env["WENULAKE_HOME"]) / "catalog").glob("*.csv"):
        (bad / path.name).write_text(path.read_text())
    (bad / "sites.csv").write_text((bad / "sites.csv").read_text().replace("Europe/Madrid", "Nowhere/Land"))
    done = cli("catalog", "load", str(bad), env=env, check=False)
    assert done.returncode == 1
    assert "sites.csv:2: timezone: expected an IANA time zone, got 'Nowhere/Land'" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: catalog has 1 problem(s), nothing loaded; the first: sites.csv:2: timezone: expected an IANA time "
        "zone, got 'Nowhere/Land'"
    )


@pytest.mark.slow
@pytest.mark.spark
def test_replay_without_fixes_resolves_nothing(cli_home):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    out = cli("replay", "--reason", "unknown_channel", env=env).stdout
    assert "unknown_channel: 0 resolved" in out


@pytest.mark.slow
@pytest.mark.airflow
def test_a_rerun_on_an_empty_landing_refuses_in_one_line_and_changes_nothing(cli_home, tmp_path):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    before = cli("accounting", "--start", START, "--end", END, "--format", "json", env=env).stdout
    (tmp_path / "empty").mkdir()
    done = cli(
        "run", "sensors", "--start", START, "--end", END,
        env={**env, "WENULAKE_LANDING": str(tmp_path / "empty")}, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, done.stderr
    assert "refusing to reprocess: the sensors landing no longer lists" in error[0]
    assert "2026-04-04T00:00:00Z (" in error[0]
    assert "Traceback" not in done.stderr
    assert cli("accounting", "--start", START, "--end", END, "--format", "json", env=env).stdout == before


@pytest.mark.slow
@pytest.mark.airflow
def test_workorders_from_the_command_line(cli_home, tmp_path):
    """generate-workorders over the CLI home's catalog, then run workorders: the printed accounting balances and
    `accounting --stream workorders --format json` has exactly the contract keys, equal to the generator's."""
    out = tmp_path / "wo"
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    missing = cli("landing", "generate-workorders", "--out", str(out), env=env, check=False)
    assert missing.returncode == 1
    assert "generate the sensor sample first" in missing.stderr
    assert "Traceback" not in missing.stderr
    (out / "catalog").mkdir(parents=True)
    for path in (Path(env["WENULAKE_HOME"]) / "catalog").glob("*.csv"):
        (out / "catalog" / path.name).write_text(path.read_text())
    done = cli("landing", "generate-workorders", "--out", str(out), "--orders", "40", "--hours", "2", env=env)
    assert "work-order records" in done.stdout
    env = {**env, "WENULAKE_HOME": str(tmp_path / "home"), "WENULAKE_LANDING": str(out / "landing")}
    cli("catalog", "load", str(out / "catalog"), env=env)
    run = cli(
        "run", "workorders", "--start", "2026-04-04T00:00:00Z", "--end", "2026-04-04T02:00:00Z", env=env
    )
    assert "build_work_orders" in run.stdout
    assert "balanced: records = events_valid + duplicates + quarantined" in run.stdout
    counts = json.loads(
        cli("accounting", "--stream", "workorders", "--start", "2026-04-04T00:00:00Z", "--end",
            "2026-04-04T02:00:00Z", "--format", "json", env=env).stdout
    )  # fmt: skip
    assert counts == json.loads((out / "workorders-manifest.json").read_text())["expected"]
    assert cli("run", "workorders", env=env, check=False).returncode == 2  # needs --start and --end


@pytest.mark.slow
def test_sql_reads_a_query_file_that_starts_with_a_comment(cli_home):
    env = {k: v for k, v in cli_home.items() if k.startswith("WENULAKE_")}
    example = Path(__file__).resolve().parent.parent / "sql" / "examples" / "energy_per_company_per_day.sql"
    assert example.read_text().startswith("--")
    rows = json.loads(cli("sql", "--file", str(example), "--format", "json", env=env).stdout)
    assert rows
    assert {"company", "kwh"} <= set(rows[0])
    neither = cli("sql", env=env, check=False)
    assert neither.returncode == 2
    assert "give a QUERY or --file" in neither.stderr


#: what a one-line `wenulake sql` must not import: the pipeline's engines and pyarrow's compute and file modules
#: (the contracts' Arrow schemas need pyarrow itself)
HEAVY_FOR_A_READ = (
    "pyspark",
    "airflow",
    "deltalake",
    "pandas",
    "great_expectations",
    "boto3",
    "sqlalchemy",
    "pyarrow.compute",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "wenulake.lake",
)


def test_sql_imports_only_what_a_read_needs(tmp_path: Path) -> None:
    """`wenulake sql` of a small query answers in about a second: its read path imports no engine it does not use
    (a guard on what is imported, not a timed test)."""
    probe = (
        "import json, sys\n"
        "from wenulake import cli\n"
        "cli.cli.main(args=['sql', '--format', 'json', 'select 1 as one'], prog_name='wenulake', "
        "standalone_mode=False)\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")}
    env["WENULAKE_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"one": 1}]
    modules = set(json.loads(done.stderr.strip().splitlines()[-1]))
    loaded = sorted(m for m in HEAVY_FOR_A_READ if m in modules)
    assert loaded == [], f"wenulake sql imported {loaded}"
