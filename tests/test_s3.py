"""Landing and lake on a real S3 endpoint: moto's server on 127.0.0.1, spoken to over HTTP by boto3 (landing,
keyring), delta-rs (lake) and DuckDB httpfs (queries)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import arrival_range, expected_accounting
from wenulake.accounting import accounting
from wenulake.errors import ConfigError, StorageError
from wenulake.landing import list_interval
from wenulake.orchestrate import run_dag, run_range
from wenulake.query import run_query
from wenulake.settings import Settings
from wenulake.storage import StoreSpec
from wenulake.timeutil import Interval, parse_instant

pytestmark = [pytest.mark.s3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_home(s3_endpoint: str, sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request) -> Settings:
    """Buckets for landing, lake and secrets, filled with the session sample."""
    import boto3

    name = request.node.name.replace("_", "-")[:30].lower().strip("-")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    buckets = {kind: f"{kind}-{name}" for kind in ("landing", "lake", "secrets")}
    for bucket in buckets.values():
        client.create_bucket(Bucket=bucket)
    landing = sample["dir"] / "landing"
    for path in landing.rglob("*"):
        if path.is_file():
            client.upload_file(
                str(path), buckets["landing"], f"firehose/{path.relative_to(landing).as_posix()}"
            )
    client.upload_file(str(sample["dir"] / "keyring.json"), buckets["secrets"], "wenulake/keyring.json")
    env = {
        "WENULAKE_HOME": str(tmp_path / "home"),
        "WENULAKE_LANDING": f"s3://{buckets['landing']}/firehose",
        "WENULAKE_LAKE": f"s3://{buckets['lake']}/lake",
        "WENULAKE_KEYRING": f"s3://{buckets['secrets']}/wenulake/keyring.json",
        "WENULAKE_S3_ENDPOINT_URL": s3_endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from wenulake.catalog.store import CatalogStore

    CatalogStore(Settings()).load(sample["dir"] / "catalog")
    return Settings()


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_sensors_dag_reads_an_s3_landing_and_writes_an_s3_lake(s3_home: Settings, sample):
    interval = arrival_range(sample["manifest"])
    run_range(s3_home, "sensors", interval, hourly=False)
    assert accounting(s3_home, interval) == expected_accounting(sample["manifest"])
    # analysts' SQL reads the S3 lake through DuckDB's delta extension
    rows = run_query(s3_home, "select count(*) as n from bronze.sensor_message").rows
    expected = sample["manifest"]["expected"]
    assert rows == [(expected["messages_valid"] + expected["duplicates"],)]
    silver = run_query(s3_home, "select count(*) from silver.reading").rows
    assert silver == [(expected["non_null_readings"] - expected["unknown_channel_readings"],)]
    # the warehouse was loaded from stage files on S3 (WENULAKE_STAGE defaults to $WENULAKE_LAKE/stage)
    assert run_query(s3_home, "select count(*) from fact_reading").rows == silver


def test_listing_is_paginated_and_complete(s3_endpoint, tmp_path):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="paged")
    for i in range(1205):  # more than one 1000-key page
        client.put_object(Bucket="paged", Key=f"p/sensors/2026/04/04/00/obj-{i:05d}", Body=b"{}")
    store = StoreSpec("s3://paged/p", endpoint_url=s3_endpoint).open()
    found = list_interval(store, Interval.parse("2026-04-04T00:00:00Z", "2026-04-04T01:00:00Z"))
    assert len(found) == 1205
    assert found[0].info.etag  # S3 gives the ETag


def test_missing_bucket_is_a_clear_error(s3_endpoint):
    store = StoreSpec("s3://no-such-bucket/x", endpoint_url=s3_endpoint).open()
    with pytest.raises(ConfigError, match="bucket 'no-such-bucket' does not exist"):
        list_interval(store, Interval.parse("2026-04-04T00:00:00Z", "2026-04-04T01:00:00Z"))


def test_endpoint_down_retries_then_fails_clearly():
    dead = f"http://127.0.0.1:{free_port()}"
    store = StoreSpec("s3://landing/x", endpoint_url=dead, max_attempts=2, connect_timeout=0.5).open()
    with pytest.raises(
        StorageError, match=r"cannot reach the S3 endpoint http://127\.0\.0\.1:\d+ \(2 attempts\)"
    ):
        list_interval(store, Interval.parse("2026-04-04T00:00:00Z", "2026-04-04T01:00:00Z"))


@pytest.mark.slow
@pytest.mark.airflow
def test_dag_run_against_a_dead_endpoint_fails_with_the_endpoint_named(tmp_path, monkeypatch, sample):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENULAKE_LANDING", "s3://landing/firehose")
    monkeypatch.setenv("WENULAKE_KEYRING", str(sample["dir"] / "keyring.json"))
    monkeypatch.setenv("WENULAKE_S3_ENDPOINT_URL", dead)
    monkeypatch.setenv("WENULAKE_S3_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("WENULAKE_S3_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("WENULAKE_TASK_RETRIES", "1")
    monkeypatch.setenv("WENULAKE_RETRY_DELAY_SECONDS", "0.1")
    interval = Interval(parse_instant("2026-04-04T00:00:00Z"), parse_instant("2026-04-04T01:00:00Z"))
    report = run_dag(Settings(), "sensors", interval)
    assert not report.ok
    assert "ingest_bronze: cannot reach the S3 endpoint" in report.failure()
    ingest = next(t for t in report.tasks if t.task_id == "ingest_bronze")
    assert ingest.tries == 2  # a transient failure goes through the DAG's retries
