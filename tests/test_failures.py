"""Failures say what to do (issue 22, point 5): one line, a non-zero exit, no traceback unless --debug.

Each failure is made for real: a dead S3 endpoint, a missing bucket (moto's server), a full disk (a tiny tmpfs
mounted for the test: needs root, skipped otherwise), an unbalanced lake, a broken catalog CSV, leftovers of
killed runs. docs/operations-failures.md lists them with the line the user sees."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from wenulake.settings import Settings

WENULAKE = [sys.executable, "-m", "wenulake"]
START, END = "2026-04-04T00:00:00Z", "2026-04-04T01:00:00Z"


def wenulake(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WENULAKE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=180
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- accounting ------------------------------------------------------------------------------------------------
def unbalanced_home(home: Path) -> dict[str, str]:
    """A lake whose ingest ledger counts 3 records of an hour that went nowhere."""
    from wenulake.contracts.tables import INGEST_LEDGER
    from wenulake.lake import Lake

    settings = Settings(home=home)  # type: ignore[call-arg]
    lake = Lake(settings)
    lake.ensure()
    hour = datetime(2026, 4, 4, tzinfo=UTC)
    row = {
        "object_key": "sensors/2026/04/04/00/a.gz",
        "size": 10,
        "etag": None,
        "last_modified": hour,
        "records": 3,
        "accepted": 3,
        "quarantined": 0,
        "status": "ingested",
        "arrival_hour": hour,
        "run_id": "r",
        "ingested_at": hour,
    }
    lake.append(INGEST_LEDGER, pa.Table.from_pylist([row]))
    return {"WENULAKE_HOME": str(home)}


def test_accounting_exits_1_when_not_balanced_and_0_when_balanced(tmp_path):
    env = unbalanced_home(tmp_path / "home")
    done = wenulake("accounting", "--start", START, "--end", END, env=env)
    assert "NOT BALANCED: 3 records unaccounted for" in done.stdout  # the counts are still printed
    line = one_error_line(done)
    assert "accounting of [2026-04-04T00:00:00Z, 2026-04-04T01:00:00Z) is NOT BALANCED: 3 records" in line
    as_json = wenulake("accounting", "--start", START, "--end", END, "--format", "json", env=env)
    assert as_json.returncode == 1
    assert '"records": 3' in as_json.stdout
    other_hour = wenulake("accounting", "--start", END, "--end", "2026-04-04T02:00:00Z", env=env)
    assert other_hour.returncode == 0
    assert "balanced" in other_hour.stdout


def test_debug_adds_the_traceback_after_the_one_line(tmp_path):
    env = unbalanced_home(tmp_path / "home")
    done = wenulake("--debug", "accounting", "--start", START, "--end", END, env=env)
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first.startswith("error: sensors accounting of ")
    assert "Traceback (most recent call last)" in done.stderr


# -- S3 unreachable, bucket missing ----------------------------------------------------------------------------
def dead_s3(tmp_path: Path) -> dict[str, str]:
    return {
        "WENULAKE_HOME": str(tmp_path / "home"),
        "WENULAKE_LAKE": "s3://lake-bucket/lake",
        "WENULAKE_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }


def test_sql_with_s3_down_says_the_endpoint_is_unreachable_in_seconds(tmp_path):
    env = dead_s3(tmp_path)
    started = time.monotonic()
    done = wenulake("sql", "select count(*) from silver.reading", env=env)
    seconds = time.monotonic() - started
    line = one_error_line(done)
    assert line.startswith(f"error: cannot reach the S3 endpoint {env['WENULAKE_S3_ENDPOINT_URL']}: check")
    assert "Kernel error" not in done.stderr
    assert "OSError" not in done.stderr
    assert seconds < 30, seconds


def test_a_lake_writing_command_with_s3_down_fails_in_one_line_in_seconds(tmp_path):
    env = {**dead_s3(tmp_path), "WENULAKE_S3_MAX_ATTEMPTS": "2", "WENULAKE_S3_CONNECT_TIMEOUT": "1"}
    started = time.monotonic()
    line = one_error_line(wenulake("replay", env=env))
    assert line.startswith(
        f"error: cannot reach the S3 endpoint {env['WENULAKE_S3_ENDPOINT_URL']} (2 attempts)"
    )
    assert "lake lock" in line
    assert time.monotonic() - started < 30


def test_delta_rs_errors_of_a_dead_endpoint_and_a_missing_bucket_become_one_line(tmp_path):
    """What delta-rs raises itself (the 'Kernel error -> Generic S3 error' chain), explained."""
    from deltalake import DeltaTable

    from wenulake.errors import ConfigError, StorageError
    from wenulake.failures import explain

    env = dead_s3(tmp_path)
    settings = Settings(lake=env["WENULAKE_LAKE"], s3_endpoint_url=env["WENULAKE_S3_ENDPOINT_URL"])  # type: ignore[call-arg]
    started = time.monotonic()
    with pytest.raises(OSError, match="error sending request") as raised:
        DeltaTable(settings.lake_uri + "/silver/reading", storage_options=settings.delta_storage_options())
    assert time.monotonic() - started < 15  # bounded retries: seconds, not minutes
    explained = explain(raised.value, settings)
    assert isinstance(explained, StorageError)
    assert "\n" not in str(explained)
    assert str(explained).startswith(f"cannot reach the S3 endpoint {env['WENULAKE_S3_ENDPOINT_URL']}")
    no_bucket = OSError(
        "Generic S3 error: Error performing PUT http://127.0.0.1:5000/lake-bucket/lake/_delta_log/x.json "
        "in 2ms - Client error with status 404 Not Found: <Code>NoSuchBucket</Code>"
    )
    assert isinstance(explain(no_bucket, settings), ConfigError)
    assert str(explain(no_bucket, settings)).startswith("bucket 'lake-bucket' does not exist at ")


# -- PostgreSQL warehouse down, database missing, role refused ----------------------------------------------------
PASSWORD = "pw-s3cret"


def pg_url(user: str, port: int, database: str) -> str:
    return f"postgresql://{user}:{PASSWORD}@127.0.0.1:{port}/{database}"


WAREHOUSE_CASES = {
    "server down": (
        lambda: pg_url("postgres", free_port(), "wh"),
        "warehouse unreachable at postgresql://postgres@127.0.0.1:{port}/wh (connection refused): start "
        "PostgreSQL on 127.0.0.1:{port} or fix WENULAKE_WAREHOUSE_READER_URL, then run the command again",
    ),
    "database missing": (
        lambda: pg_url("postgres", 5432, "no_such_warehouse"),
        'warehouse database "no_such_warehouse" does not exist on 127.0.0.1:5432 '
        "(postgresql://postgres@127.0.0.1:5432/no_such_warehouse): create it (createdb -h 127.0.0.1 -p 5432 "
        "no_such_warehouse) or fix the database in WENULAKE_WAREHOUSE_READER_URL",
    ),
    "role missing": (
        lambda: pg_url("no_such_analyst", 5432, "postgres"),
        'warehouse role "no_such_analyst" does not exist on 127.0.0.1:5432 '
        "(postgresql://no_such_analyst@127.0.0.1:5432/postgres): create it (create role ... login) or fix the "
        "user in WENULAKE_WAREHOUSE_READER_URL",
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("case", list(WAREHOUSE_CASES))
def test_sql_on_a_warehouse_down_missing_or_refusing_says_which_in_one_line(tmp_path, case):
    """Against the real server on 127.0.0.1:5432 (and a closed port): one line naming host:port/database without
    the password, and what to do for that case (before: `start PostgreSQL` for all three, and DuckDB's message
    quoting the URL with its password)."""
    make_url, expected = WAREHOUSE_CASES[case]
    url = make_url()
    env = {
        "WENULAKE_HOME": str(tmp_path / "home"),
        "WENULAKE_WAREHOUSE_URL": url,
        "WENULAKE_WAREHOUSE_READER_URL": url,
    }
    started = time.monotonic()
    done = wenulake("sql", "select count(*) from fact_reading", env=env)
    line = one_error_line(done)
    assert line == "error: " + expected.format(port=url.split(":")[3].split("/")[0])
    assert PASSWORD not in done.stderr
    assert time.monotonic() - started < 30
    debug = wenulake("--debug", "sql", "select 1", env=env)
    assert debug.returncode == 1
    assert debug.stderr.splitlines()[0] == line
    assert "Traceback (most recent call last)" in debug.stderr


@pytest.mark.postgres
def test_the_loader_on_a_missing_database_or_a_closed_port_says_which_and_retries_only_the_outage(tmp_path):
    from wenulake.errors import ConfigError
    from wenulake.failures import WarehouseRefused
    from wenulake.warehouse import WarehouseUnavailable, backend

    home = tmp_path / "home"
    missing = Settings(home=home, warehouse_url=pg_url("postgres", 5432, "no_such_warehouse"))  # type: ignore[call-arg]
    with pytest.raises(WarehouseRefused) as refused:
        backend(missing).ensure()
    assert isinstance(refused.value, ConfigError)  # a setting to fix: tasks fail at once, no retries
    assert str(refused.value).startswith(
        'warehouse database "no_such_warehouse" does not exist on 127.0.0.1:5432'
    )
    assert "WENULAKE_WAREHOUSE_URL" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    port = free_port()
    down = Settings(home=home, warehouse_url=pg_url("postgres", port, "wh"))  # type: ignore[call-arg]
    with pytest.raises(WarehouseUnavailable) as unreachable:
        backend(down).ensure()
    assert not isinstance(
        unreachable.value, ConfigError
    )  # an outage: the task retries, the next run catches up
    assert str(unreachable.value) == (
        f"warehouse unreachable at postgresql://postgres@127.0.0.1:{port}/wh (connection refused): start "
        f"PostgreSQL on 127.0.0.1:{port} or fix WENULAKE_WAREHOUSE_URL, then rerun the interval (the next run "
        "catches up)"
    )


# -- disk full -------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 64 KiB; its size is grown by the test with `remount`."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): disk full is not simulated")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)


def test_a_command_on_a_full_disk_says_disk_full_in_one_line(tiny_disk):
    done = wenulake(
        "landing", "generate", "--out", str(tiny_disk / "sample"), "--devices", "20", "--hours", "6",
        env={"WENULAKE_HOME": str(tiny_disk / "home")},
    )  # fmt: skip
    line = one_error_line(done)
    assert line.startswith("error: disk full")
    assert "free space on that file system" in line


def test_a_lake_write_on_a_full_disk_is_explained_as_disk_full(tiny_disk):
    from wenulake.failures import DiskFull, explain
    from wenulake.lake import Lake

    settings = Settings(home=tiny_disk / "home")  # type: ignore[call-arg]
    with pytest.raises(Exception, match="No space left on device") as raised:  # delta-rs: os error 28
        Lake(settings).ensure()
    assert isinstance(explain(raised.value, settings), DiskFull)


def test_a_warehouse_swap_on_a_full_disk_leaves_no_replace_file_and_the_old_warehouse(tiny_disk, tmp_path):
    import duckdb

    from wenulake.failures import DiskFull, explain
    from wenulake.warehouse.duckdb_backend import DuckDBWarehouse

    home = tiny_disk / "home"
    remount(tiny_disk, 8 * 1024 * 1024)
    warehouse = DuckDBWarehouse(Settings(home=home))  # type: ignore[call-arg]
    warehouse.ensure()
    rows = tmp_path / "fact_alarm.parquet"
    con = duckdb.connect(str(warehouse.published), read_only=True)
    con.execute(f"copy (select * from fact_alarm) to '{rows}' (format parquet)")
    con.close()
    used = sum(p.stat().st_size for p in home.iterdir())
    # room for the loader's change (it grows by about 800 KB), not for a copy of the analysts' file
    remount(tiny_disk, used + 1000 * 1024)
    with pytest.raises(OSError, match=r"No space left on device: .*\.replace") as raised:
        warehouse.replace_tables({"fact_alarm": str(rows)}, "run-1")  # fails copying to the .replace file
    assert isinstance(explain(raised.value), DiskFull), raised.value
    assert sorted(p.name for p in home.iterdir() if p.name.endswith(".replace")) == []
    con = duckdb.connect(str(warehouse.published), read_only=True)  # the analysts' file is whole
    assert con.execute("select count(*) from fact_alarm").fetchone() == (0,)
    con.close()


# -- leftovers of failed runs ----------------------------------------------------------------------------------
def test_leftovers_of_killed_runs_are_swept_by_the_next_run(tmp_path):
    from wenulake.contracts.tables import INGEST_LEDGER
    from wenulake.lake import Lake
    from wenulake.leftovers import sweep

    settings = Settings(home=tmp_path / "home")  # type: ignore[call-arg]
    lake = Lake(settings)
    lake.ensure()
    hour = datetime(2026, 4, 4, tzinfo=UTC)
    row = {"object_key": "k", "size": 1, "records": 0, "accepted": 0, "quarantined": 0, "status": "ingested",
           "arrival_hour": hour}  # fmt: skip
    lake.stage("ingest_bronze-killed_run", INGEST_LEDGER, pa.Table.from_pylist([row]))  # then kill -9
    files = lake.staged_files("ingest_bronze-killed_run", INGEST_LEDGER)
    staged = [lake.file_uri(INGEST_LEDGER, f["path"]) for f in files]
    assert staged
    assert all(Path(p).exists() for p in staged)
    dead_pid = 2**22 + 12345  # above pid_max's default: no such process
    stale = settings.home / f"warehouse.duckdb.{dead_pid}.replace"
    live = settings.home / f"warehouse.duckdb.{os.getpid()}.replace"
    stale.write_bytes(b"half a copy")
    live.write_bytes(b"a copy being written")

    # a scheduler is alive: a fresh batch may be one of its runs, so it stays
    assert sweep(settings, scheduler_alive=True) == {"staging": [], "warehouse": [stale.name]}
    assert (Path(settings.lake_uri) / "_staging" / "ingest_bronze-killed_run").is_dir()
    # no scheduler, the lake lock held: nobody else can be writing it
    assert sweep(settings, scheduler_alive=False) == {
        "staging": ["ingest_bronze-killed_run"],
        "warehouse": [],
    }
    assert not (Path(settings.lake_uri) / "_staging" / "ingest_bronze-killed_run").exists()
    assert not any(Path(p).exists() for p in staged)  # its uncommitted data files went too
    assert live.exists()
    assert not stale.exists()
    assert lake.read(INGEST_LEDGER).num_rows == 0


# -- catalog ---------------------------------------------------------------------------------------------------
def test_a_missing_catalog_column_is_the_one_problem_reported(tmp_path):
    import csv

    from wenulake.devtools.generator import generate

    generate(tmp_path / "sample", devices=4, hours=1)
    folder = tmp_path / "sample" / "catalog"
    rows = list(csv.reader((folder / "devices.csv").open()))
    drop = rows[0].index("site_id")
    with (folder / "devices.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    done = wenulake("catalog", "load", str(folder), env={"WENULAKE_HOME": str(tmp_path / "home")})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "devices.csv:1: site_id: missing column",
        "error: catalog has 1 problem(s), nothing loaded; the first: devices.csv:1: site_id: missing column",
    ]
