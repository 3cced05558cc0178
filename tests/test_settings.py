from pathlib import Path

import pytest
from pydantic import ValidationError

from wenulake.settings import Settings


def test_defaults_live_under_home(monkeypatch, tmp_path):
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    settings = Settings()
    assert settings.landing_uri == str(tmp_path / "landing")
    assert settings.lake_uri == str(tmp_path / "lake")
    assert settings.keyring_uri == str(tmp_path / "keyring.json")
    assert settings.delta_storage_options() == {}


def test_s3_locations_and_endpoint(monkeypatch):
    monkeypatch.setenv("WENULAKE_LAKE", "s3://lake/prefix")
    monkeypatch.setenv("WENULAKE_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    options = Settings().delta_storage_options()
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert options["AWS_ALLOW_HTTP"] == "true"
    # concurrent writers: commits by conditional put, no unsafe rename; bounded retries (fail in seconds)
    assert options["AWS_CONDITIONAL_PUT"] == "etag"
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in options
    assert options["max_retries"] == "3"
    assert options["retry_timeout"] == "20000ms"


def test_empty_variable_means_default(monkeypatch, tmp_path):
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    monkeypatch.setenv("WENULAKE_LANDING", "")
    assert Settings().landing_uri == str(tmp_path / "landing")


def test_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("WENULAKE_S3_MAX_ATTEMPTS", "0")
    with pytest.raises(ValidationError, match="s3_max_attempts"):
        Settings()


def test_explicit_fields_travel_as_environment():
    env = Settings(home=Path("/x"), spark_master="local[1]").to_env()
    assert env["WENULAKE_HOME"] == "/x"
    assert env["WENULAKE_SPARK_MASTER"] == "local[1]"
    assert "WENULAKE_LANDING" not in env  # unset fields keep deriving from home


def test_wenulake_settings_masks_passwords(tmp_path):
    """`wenulake settings` printed database URLs with their passwords (issue 18)."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "WENULAKE_HOME": str(tmp_path),
        "WENULAKE_CATALOG_URL": "postgresql+psycopg://loader:cat-s3cret@db:5432/catalog",
        "WENULAKE_WAREHOUSE_URL": "postgresql://loader:wh-s3cret@db/warehouse?sslmode=require&password=q-s3cret",
        "WENULAKE_WAREHOUSE_READER_URL": "postgresql://analyst:rd-s3cret@db/warehouse",
        "WENULAKE_SPARK_AUTH_SECRET": "spark-s3cret",
    }
    done = subprocess.run(
        [sys.executable, "-m", "wenulake", "settings"], env=env, capture_output=True, text=True, check=True
    )
    assert "s3cret" not in done.stdout
    assert "postgresql+psycopg://loader:***@db:5432/catalog" in done.stdout
    assert "postgresql://analyst:***@db/warehouse" in done.stdout
    assert "sslmode=require&password=***" in done.stdout


def test_masked_leaves_values_without_secrets_alone():
    from wenulake.settings import masked

    assert masked("postgresql://postgres@127.0.0.1:5432/db") == "postgresql://postgres@127.0.0.1:5432/db"
    assert masked("s3://bucket/prefix") == "s3://bucket/prefix"
    assert masked(None) == "None"
    assert masked("https://user:@host/") == "https://user:@host/"


def test_spark_mode_defaults_to_local_and_names_its_three_modes(monkeypatch):
    assert Settings().spark_mode == "local"
    assert Settings().spark_master == "local[2]"  # conftest's local master, untouched by the mode
    monkeypatch.setenv("WENULAKE_SPARK_MODE", "emr-serverless")
    assert Settings().spark_mode == "emr-serverless"
    monkeypatch.setenv("WENULAKE_SPARK_MODE", "yarn")
    with pytest.raises(ValidationError, match="spark_mode"):
        Settings()


def test_cluster_mode_needs_a_cluster_master(monkeypatch):
    monkeypatch.setenv("WENULAKE_SPARK_MODE", "cluster")
    with pytest.raises(ValidationError, match="WENULAKE_SPARK_MASTER=spark://"):
        Settings()
    monkeypatch.setenv("WENULAKE_SPARK_MASTER", "spark://127.0.0.1:7077")
    settings = Settings()
    assert (settings.spark_mode, settings.spark_master) == ("cluster", "spark://127.0.0.1:7077")
