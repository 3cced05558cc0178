"""Shared fixtures: one SparkSession, one Airflow metadata DB, one generated sample landing per test session,
and one run of each kind over that sample (`range_run`, `reverse_hourly_run`) that every test needing that state
copies (`ran_home`, `reverse_home`) instead of running the DAGs again. `make run`'s own sample is run both ways
too: once over its range (`make_run_range`) and hour by hour (`hourly_run`, copied by `hourly_home`).

The environment is fixed here, before Spark or Airflow start, because both read it once per process:
Spark's Python workers inherit it (AWS credentials for moto), Airflow reads AIRFLOW_* at import.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SESSION_DIR = Path(tempfile.mkdtemp(prefix="wenulake-tests-"))
for _key in [k for k in os.environ if k.startswith("WENULAKE_")]:
    del os.environ[_key]
os.environ.update(
    {
        "WENULAKE_AIRFLOW_HOME": str(SESSION_DIR / "airflow"),
        "WENULAKE_SPARK_MASTER": "local[2]",
        "WENULAKE_HOME": str(SESSION_DIR / "default-home"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        # moto accepts any credentials; set before Spark starts so its Python workers inherit them
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)
for _key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_key, None)

#: WENULAKE_* as the session starts: what the shared runs see, whatever the requesting test changed.
BASE_ENV = {k: v for k, v in os.environ.items() if k.startswith("WENULAKE_")}

#: The session's sample: small enough for seconds per run, with every fault present (checked in tests).
SAMPLE = {"devices": 10, "hours": 3, "seed": 7, "fault_rate": 0.03}


@pytest.fixture(scope="session")
def sample() -> dict[str, Any]:
    """A generated landing (+ catalog, keyring, manifest) shared read-only by the whole session."""
    from wenulake.devtools.generator import generate

    out = SESSION_DIR / "sample"
    manifest = generate(out, **SAMPLE)  # type: ignore[arg-type]
    return {"dir": out, "manifest": manifest}


@pytest.fixture
def home(tmp_path: Path, sample: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh WENULAKE_HOME reading the session's sample landing and keyring."""
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_LANDING", str(sample["dir"] / "landing"))
    monkeypatch.setenv("WENULAKE_KEYRING", str(sample["dir"] / "keyring.json"))
    from wenulake.catalog.store import CatalogStore
    from wenulake.settings import Settings

    CatalogStore(Settings()).load(sample["dir"] / "catalog")
    return tmp_path / "home"


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path, sample: dict[str, Any]) -> None:
    """Point WENULAKE_* at `home` reading the session's sample landing and keyring (nothing else set)."""
    for key in [k for k in os.environ if k.startswith("WENULAKE_")]:
        monkeypatch.delenv(key)
    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WENULAKE_HOME", str(home))
    monkeypatch.setenv("WENULAKE_LANDING", str(sample["dir"] / "landing"))
    monkeypatch.setenv("WENULAKE_KEYRING", str(sample["dir"] / "keyring.json"))


@contextmanager
def shared_home(name: str, sample: dict[str, Any]) -> Iterator[Path]:
    """A session-wide home for one kind of run over the sample, its catalog loaded, in a clean environment."""
    from wenulake.catalog.store import CatalogStore
    from wenulake.settings import Settings

    home = SESSION_DIR / "runs" / name / "home"
    with pytest.MonkeyPatch.context() as patch:
        _use_home(patch, home, sample)
        CatalogStore(Settings()).load(sample["dir"] / "catalog")
        yield home


def copy_of(
    run: dict[str, Any], tmp_path: Path, sample: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A private copy of a shared run's finished home as this test's WENULAKE_HOME (tests may change it)."""
    home = tmp_path / "home"
    shutil.copytree(run["home"], home)
    monkeypatch.setenv("WENULAKE_HOME", str(home))  # the rest of the environment stays the test's
    monkeypatch.setenv("WENULAKE_LANDING", str(sample["dir"] / "landing"))
    monkeypatch.setenv("WENULAKE_KEYRING", str(sample["dir"] / "keyring.json"))
    return home


@pytest.fixture
def wo_home(tmp_path: Path, wo_sample: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh WENULAKE_HOME over the module's work-order landing (`wo_sample`: its folder and manifest) and its
    catalog; returns the Settings."""
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_LANDING", str(wo_sample["dir"] / "landing"))
    from wenulake.catalog.store import CatalogStore
    from wenulake.settings import Settings

    settings = Settings()
    CatalogStore(settings).load(wo_sample["dir"] / "catalog")
    return settings


@pytest.fixture(scope="session")
def range_run(sample: dict[str, Any]) -> dict[str, Any]:
    """The sensors DAG (then alarms, as its assets schedule) once over the whole sample: `reports`, `home`."""
    from tests.helpers import arrival_range
    from wenulake.orchestrate import run_range
    from wenulake.settings import Settings

    with shared_home("range", sample) as home:
        reports = run_range(Settings(), "sensors", arrival_range(sample["manifest"]), hourly=False)
    return {"home": home, "reports": reports}


def make_run_defaults() -> dict[str, str]:
    """`make run`'s sample as the Makefile sets it: SAMPLE_START, SAMPLE_HOURS, SAMPLE_DEVICES, SAMPLE_END."""
    import re

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    found = dict(re.findall(r"^(SAMPLE_[A-Z]+) \?= (\S+)$", makefile, re.MULTILINE))
    assert set(found) == {"SAMPLE_START", "SAMPLE_HOURS", "SAMPLE_DEVICES", "SAMPLE_END"}, found
    return found


@pytest.fixture(scope="session")
def make_run_sample() -> dict[str, Any]:
    """The landing `make run` generates (the Makefile's SAMPLE_* and the generator's defaults, as
    `wenulake landing generate` has them), shared read-only: `dir`, `manifest`, `interval` (make run's range)."""
    from wenulake.devtools.generator import generate
    from wenulake.timeutil import Interval, parse_instant

    make = make_run_defaults()
    out = SESSION_DIR / "make-run-sample"
    start = parse_instant(make["SAMPLE_START"])
    manifest = generate(
        out, devices=int(make["SAMPLE_DEVICES"]), hours=int(make["SAMPLE_HOURS"]), start=start
    )
    interval = Interval(start, parse_instant(make["SAMPLE_END"]))
    return {"dir": out, "manifest": manifest, "interval": interval}


@pytest.fixture(scope="session")
def make_run_range(make_run_sample: dict[str, Any]) -> dict[str, Any]:
    """The sensors DAG (then alarms) once over `make run`'s sample and range, as `make run` runs it."""
    from wenulake.orchestrate import run_range
    from wenulake.settings import Settings

    with shared_home("make-run-range", make_run_sample) as home:
        reports = run_range(Settings(), "sensors", make_run_sample["interval"], hourly=False)
    return {"home": home, "reports": reports}


@pytest.fixture(scope="session")
def hourly_run(make_run_sample: dict[str, Any]) -> dict[str, Any]:
    """The sensors DAG (then alarms) once per hour of `make run`'s sample and range, as the schedule runs them:
    compared with `make_run_range`, one run over the same hours."""
    from wenulake.orchestrate import run_range
    from wenulake.settings import Settings

    with shared_home("hourly", make_run_sample) as home:
        reports = run_range(Settings(), "sensors", make_run_sample["interval"], hourly=True)
    return {"home": home, "reports": reports}


@pytest.fixture(scope="session")
def reverse_hourly_run(sample: dict[str, Any]) -> dict[str, Any]:
    """The sensors DAG alone once per arrival hour, last hour first (late data at its worst)."""
    from tests.helpers import arrival_range
    from wenulake.orchestrate import run_dag
    from wenulake.settings import Settings

    with shared_home("reverse-hourly", sample) as home:
        parts = reversed(arrival_range(sample["manifest"]).split_hourly())
        reports = [run_dag(Settings(), "sensors", part) for part in parts]
    return {"home": home, "reports": reports}


@pytest.fixture
def ran_home(
    range_run: dict[str, Any], tmp_path: Path, sample: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """This test's copy of `range_run`'s home, set as WENULAKE_HOME."""
    return copy_of(range_run, tmp_path, sample, monkeypatch)


@pytest.fixture
def hourly_home(
    hourly_run: dict[str, Any],
    tmp_path: Path,
    make_run_sample: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """This test's copy of `hourly_run`'s home (over `make run`'s sample), set as WENULAKE_HOME."""
    return copy_of(hourly_run, tmp_path, make_run_sample, monkeypatch)


@pytest.fixture
def reverse_home(
    reverse_hourly_run: dict[str, Any],
    tmp_path: Path,
    sample: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """This test's copy of `reverse_hourly_run`'s home, set as WENULAKE_HOME."""
    return copy_of(reverse_hourly_run, tmp_path, sample, monkeypatch)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from wenulake.settings import Settings
    from wenulake.spark import get_spark

    session = get_spark(Settings())
    yield session
    session.stop()


#: Markers that follow from the fixtures a test uses (on top of any it declares): a test on a shared DAG run or a
#: SparkSession is slow; tests/integration is slow as a whole, tests/unit never is.
FIXTURE_MARKERS = {
    "range_run": ("slow", "airflow", "spark"),
    "hourly_run": ("slow", "airflow", "spark"),
    "make_run_range": ("slow", "airflow", "spark"),
    "reverse_hourly_run": ("slow", "airflow", "spark"),
    "first_silver": ("slow", "spark"),  # test_warehouse: bronze and silver of the first hours
    "spark": ("slow", "spark"),
    "postgres_url": ("postgres",),
    "moto_endpoint": ("s3",),
}
TESTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        markers = {m for fixture, marks in FIXTURE_MARKERS.items() if fixture in names for m in marks}
        folder = item.path.relative_to(TESTS_DIR).parts[0] if item.path.is_relative_to(TESTS_DIR) else ""
        if folder == "integration":
            markers.add("slow")
        elif folder == "unit" and "slow" in markers | {m.name for m in item.iter_markers()}:
            raise pytest.UsageError(f"{item.nodeid}: tests/unit holds fast tests only (no Spark, no DAG run)")
        for marker in sorted(markers - {m.name for m in item.iter_markers()}):
            item.add_marker(marker)


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(SESSION_DIR, ignore_errors=True)
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter teardown once every report is written: delta-rs' native runtime threads can
    abort the process while C++ statics are destroyed, which would turn a green run into exit code 134."""
    if _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def reader_url(postgres_url: str) -> str:
    """The analysts' read-only login on the same database (WENULAKE_WAREHOUSE_READER_URL): the warehouse DDL
    creates it and makes it a member of wenulake_reader."""
    return postgres_url.replace("postgresql://postgres@", "postgresql://wenulake_analyst@", 1)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on 127.0.0.1:5432 (PostgreSQL runs there on every machine and in CI), dropped
    afterwards. A test that needs it fails, never skips, when it cannot connect."""
    import psycopg

    name = f"wenulake_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is needed for this test and cannot be reached: {exc}")
    with admin:
        admin.execute(f'create database "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        from wenulake.catalog.store import _engine, normalise_url

        _engine(normalise_url(f"postgresql://postgres@127.0.0.1:5432/{name}")).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free loopback port (S3, DynamoDB, SNS, SQS), stopped afterwards."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def home_copy(run: dict[str, Any], dest: Path) -> Path:
    """A private copy of a shared run's finished home at `dest` (for a second home beside the test's own)."""
    shutil.copytree(run["home"], dest)
    return dest
