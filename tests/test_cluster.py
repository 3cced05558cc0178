"""Cluster mode: the sensors DAG on a standalone Spark cluster (one master, one worker, started from the
pip-installed Spark on 127.0.0.1) with landing and lake on moto's S3 server, giving the accounting local mode
gives. The DAG runs in a subprocess (`wenulake run sensors`): this process already holds a local[2] session, and
a process has one SparkContext."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import arrival_range, expected_accounting
from wenulake import cluster
from wenulake.accounting import accounting
from wenulake.errors import ConfigError
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.timeutil import iso

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.spark, pytest.mark.airflow, pytest.mark.s3]

WENULAKE = Path(sys.executable).parent / "wenulake"
TASK_LINE = re.compile(r"^\s+(\w+)\s+(\w+)\s+([\d.]+) s\b", re.M)  # metric columns may follow


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive shipped to executors, built from the sources under test."""
    return cluster.build_package(tmp_path_factory.mktemp("dist") / "wenulake.zip")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.ClusterInfo]:
    """A master and one 2-core worker on free loopback ports, stopped by their pids afterwards."""
    settings = Settings(home=tmp_path_factory.mktemp("cluster-home"))
    info = cluster.start(
        settings,
        port=cluster.free_port(),
        webui_port=cluster.free_port(),
        worker_webui_port=cluster.free_port(),
        cores=2,
        memory="2g",
    )
    try:
        yield info
    finally:
        stopped = cluster.stop(settings)
        assert sorted(stopped) == sorted(info.pids.values())
        assert not cluster.running_pids(settings)


def upload_sample(endpoint: str, sample_dir: Path, prefix: str) -> dict[str, str]:
    """Landing, lake and secrets buckets on the S3 server, the sample's landing and keyring uploaded."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    buckets = {kind: f"{prefix}-{kind}" for kind in ("landing", "lake", "secrets")}
    for bucket in buckets.values():
        client.create_bucket(Bucket=bucket)
    landing = sample_dir / "landing"
    for path in landing.rglob("*"):
        if path.is_file():
            client.upload_file(
                str(path), buckets["landing"], f"firehose/{path.relative_to(landing).as_posix()}"
            )
    client.upload_file(str(sample_dir / "keyring.json"), buckets["secrets"], "keyring.json")
    return buckets


def run_in_subprocess(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        [str(WENULAKE), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"wenulake {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def task_seconds(output: str) -> dict[str, float]:
    return {task: float(seconds) for task, state, seconds in TASK_LINE.findall(output) if state == "success"}


def test_package_archive_holds_the_package_and_is_reproducible(package: Path, tmp_path: Path):
    import zipfile

    names = zipfile.ZipFile(package).namelist()
    assert "wenulake/__init__.py" in names
    assert "wenulake/transforms/bronze.py" in names
    assert "wenulake/crypto.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert cluster.build_package(tmp_path / "again.zip").read_bytes() == package.read_bytes()


def test_sensors_dag_on_a_standalone_cluster_with_an_s3_lake_accounts_like_local_mode(
    standalone: cluster.ClusterInfo,
    package: Path,
    moto_endpoint: str,
    sample: dict[str, Any],
    tmp_path: Path,
    record_property: Any,
):
    buckets = upload_sample(moto_endpoint, sample["dir"], "cluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")}
    env.update(
        {
            "WENULAKE_HOME": str(tmp_path / "home"),
            "WENULAKE_AIRFLOW_HOME": os.environ["WENULAKE_AIRFLOW_HOME"],
            "WENULAKE_LANDING": f"s3://{buckets['landing']}/firehose",
            "WENULAKE_LAKE": f"s3://{buckets['lake']}/lake",
            "WENULAKE_KEYRING": f"s3://{buckets['secrets']}/keyring.json",
            "WENULAKE_S3_ENDPOINT_URL": moto_endpoint,
            "WENULAKE_SPARK_MASTER": standalone.master_url,
            "WENULAKE_SPARK_DRIVER_HOST": "127.0.0.1",
            "WENULAKE_SPARK_PY_FILES": str(package),
        }
    )
    interval = arrival_range(sample["manifest"])
    settings = Settings(
        home=tmp_path / "home",
        landing=env["WENULAKE_LANDING"],
        lake=env["WENULAKE_LAKE"],
        keyring=env["WENULAKE_KEYRING"],
        s3_endpoint_url=moto_endpoint,
    )
    from wenulake.catalog.store import CatalogStore

    CatalogStore(settings).load(sample["dir"] / "catalog")  # SQLite in the home the subprocess uses
    output = run_in_subprocess(
        ["run", "sensors", "--start", iso(interval.start), "--end", iso(interval.end)], env
    )

    # the Spark work ran on the cluster: the master saw the application finish, with the worker's cores
    state = cluster.master_state(standalone.webui_url)
    apps = [a for a in state["completedapps"] if a["name"] == "wenulake"]  # type: ignore[union-attr]
    assert apps, f"no wenulake application completed on {standalone.master_url}: {json.dumps(state)[:1000]}"
    assert apps[-1]["cores"] == 2
    # ... and its executor received the package archive (addPyFile ships it into the executor's work folder)
    shipped = list((Path(standalone.log_dir) / "work").glob(f"{apps[-1]['id']}/*/{package.name}"))
    assert shipped, f"{package.name} was not shipped to the executors of {apps[-1]['id']}"

    # the same accounting as local mode (the generator's ground truth, which the local-mode tests also check)
    assert accounting(settings, interval) == expected_accounting(sample["manifest"])
    expected = sample["manifest"]["expected"]
    silver = run_query(settings, "select count(*) from silver.reading").rows
    assert silver == [(expected["non_null_readings"] - expected["unknown_channel_readings"],)]
    assert run_query(settings, "select count(*) from fact_reading").rows == silver

    seconds = task_seconds(output)
    records = expected["records"]
    record_property("cluster_ingest_bronze_seconds", seconds["ingest_bronze"])
    record_property("cluster_bronze_records_per_second", round(records / seconds["ingest_bronze"], 1))
    print(f"cluster: {records} records, ingest_bronze {seconds['ingest_bronze']:.1f} s")


def test_executors_import_the_shipped_archive(standalone: cluster.ClusterInfo, package: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")}
    env.update(
        {
            "WENULAKE_SPARK_MASTER": standalone.master_url,
            "WENULAKE_SPARK_DRIVER_HOST": "127.0.0.1",
            "WENULAKE_SPARK_PY_FILES": str(package),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "wenulake.cluster", "probe"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["master"] == standalone.master_url
    (executor,) = report["executors"]
    assert executor["wenulake"].endswith(f"{package.name}/wenulake/__init__.py")
    assert executor["python"] == sys.executable


def test_cluster_mode_without_the_archive_is_a_clear_error(standalone: cluster.ClusterInfo, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")}
    missing = tmp_path / "missing.zip"
    env.update(
        {
            "WENULAKE_SPARK_MASTER": standalone.master_url,
            "WENULAKE_SPARK_DRIVER_HOST": "127.0.0.1",
            "WENULAKE_SPARK_PY_FILES": str(missing),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "wenulake.cluster", "probe"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert f"cluster mode needs the package archive {missing}" in done.stderr
    assert "make package" in done.stderr


def test_a_taken_port_is_a_clear_error_and_starts_nothing(tmp_path: Path):
    import socket

    settings = Settings(home=tmp_path / "home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(
            ConfigError, match=rf"port {port} for the master web UI is in use on 127\.0\.0\.1"
        ):
            cluster.start(
                settings, port=cluster.free_port(), webui_port=port, worker_webui_port=cluster.free_port()
            )
    assert not cluster.running_pids(settings)
    assert not list((tmp_path / "home" / "cluster").glob("*.pid"))
