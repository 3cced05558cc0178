"""Bronze on Spark: executors write the data files, the driver only records and commits them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import arrival_range, snapshots
from wenulake.catalog.store import CatalogStore
from wenulake.contracts.tables import INGEST_LEDGER, QUARANTINE, SENSOR_MESSAGE
from wenulake.lake import Lake
from wenulake.lakefiles import FILE_SCHEMA
from wenulake.pipeline import bronze, silver
from wenulake.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.spark]
OUTPUTS = (SENSOR_MESSAGE, QUARANTINE, INGEST_LEDGER)


def test_the_driver_collects_file_descriptors_only(home, sample, monkeypatch):
    from pyspark.sql.classic.dataframe import DataFrame  # the class local and standalone sessions use

    collected = []
    to_arrow = DataFrame.toArrow

    def spy(self):  # type: ignore[no-untyped-def]
        table = to_arrow(self)
        collected.append(table.schema)
        return table

    monkeypatch.setattr(DataFrame, "toArrow", spy)
    monkeypatch.setattr(DataFrame, "collect", lambda self: pytest.fail("a batch was collected"))
    monkeypatch.setattr(DataFrame, "toPandas", lambda self: pytest.fail("a batch was collected"))
    summary = bronze.ingest(Settings(), arrival_range(sample["manifest"]), "spy")
    assert summary.records == sample["manifest"]["expected"]["records"]
    assert collected, "the ingest ran no Spark job"
    assert all(schema.names == FILE_SCHEMA.names for schema in collected)


def test_a_crash_between_file_writes_and_commit_leaves_the_tables_and_a_rerun_equals_a_clean_run(
    home, sample, tmp_path, monkeypatch
):
    settings = Settings()
    interval = arrival_range(sample["manifest"])
    lake = Lake(settings)
    lake.ensure()
    before = snapshots(settings)
    versions = {spec.name: lake.version(spec) for spec in OUTPUTS}

    bronze.ingest(settings, interval, "crashed")  # the executors wrote every file; the commit never came
    written = [
        Path(u) for spec in OUTPUTS for u in lake.staged_batch(bronze.batch_name("crashed"), spec).uris
    ]
    assert written
    assert all(p.exists() for p in written)
    assert all(str(p).startswith(str(Path(lake.root))) for p in written)  # in the tables' folders
    assert snapshots(settings) == before
    assert {spec.name: lake.version(spec) for spec in OUTPUTS} == versions

    bronze.run(settings, interval, "rerun")
    rerun = snapshots(settings)
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "clean"))
    clean = Settings()
    CatalogStore(clean).load(sample["dir"] / "catalog")
    bronze.run(clean, interval, "clean")
    assert rerun == snapshots(clean)
    assert rerun[SENSOR_MESSAGE.name].num_rows > 0

    # the dead batch's files are dropped by its staging cleanup, and the table does not change
    lake.drop_staging(bronze.batch_name("crashed"))
    assert not any(p.exists() for p in written)
    assert snapshots(settings) == rerun


def test_silver_split_over_several_writer_tasks_equals_one_writer(home, sample, tmp_path, monkeypatch):
    """A large batch is repartitioned over every core before silver's Python writers (MESSAGES_PER_WRITER
    messages per task): the tables are those one writer gives, and more than one task really wrote."""
    from wenulake.contracts.tables import SILVER_READING

    interval = arrival_range(sample["manifest"])
    settings = Settings()
    bronze.run(settings, interval, "one")
    silver.run(settings, interval, "one")
    one = snapshots(settings, (SILVER_READING.name, QUARANTINE.name))

    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path / "split"))
    split_settings = Settings()
    CatalogStore(split_settings).load(sample["dir"] / "catalog")
    monkeypatch.setattr(silver, "MESSAGES_PER_WRITER", 10)
    bronze.run(split_settings, interval, "split")
    silver.enrich(split_settings, interval, "split")
    staged = Lake(split_settings).staged_batch(silver.batch_name("split"), SILVER_READING).uris
    assert len(staged) > len({u.rsplit("/", 1)[0] for u in staged}), "one file per partition: not split"
    silver.publish(split_settings, interval, "split")
    assert snapshots(split_settings, (SILVER_READING.name, QUARANTINE.name)) == one
    assert one[SILVER_READING.name].num_rows > 0
