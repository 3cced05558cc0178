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


def test_wenulake_settings_shows_effective_values_not_none(tmp_path, monkeypatch):
    """`settings` printed `None` for values that have a default (issue 21)."""
    from wenulake.settings import effective_values

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    shown = effective_values(Settings())
    assert not [name for name, text in shown.items() if text == "None"]
    assert shown["stage"] == f"{tmp_path / 'lake' / 'stage'} (default)"
    assert shown["catalog_url"] == f"sqlite:///{tmp_path / 'catalog.db'} (default)"
    assert shown["notifications_file"] == f"{tmp_path / 'notifications.jsonl'} (default)"
    assert shown["ops_topic_arn"].startswith("(unset: ")
    assert shown["sensors_deadline_minutes"] == "45.0"


def test_accounting_refuses_an_instant_not_on_the_hour(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from wenulake.cli import cli

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    done = CliRunner().invoke(
        cli, ["accounting", "--start", "2026-04-04T00:30:00Z", "--end", "2026-04-04T02:00:00Z"]
    )
    assert done.exit_code == 2
    assert "2026-04-04T00:30:00Z is not on the hour" in done.output
    assert "--start" in done.output


def test_catalog_show_lists_technicians_and_materials(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from wenulake.cli import cli

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    for table, column in (("technicians", "technician_id"), ("materials", "material_id")):
        done = CliRunner().invoke(cli, ["catalog", "show", table, "--format", "csv"])
        assert done.exit_code == 0, done.output
        assert done.output.splitlines()[0].startswith(column)
