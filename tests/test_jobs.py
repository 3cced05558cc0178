"""jobs/: the spark-submit entry points run the same steps the DAG tasks call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import arrival_range
from wenulake.contracts.tables import SILVER_READING
from wenulake.lake import Lake
from wenulake.settings import Settings
from wenulake.timeutil import iso

ROOT = Path(__file__).resolve().parent.parent
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"


def submit(job: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    return subprocess.run(
        [str(SPARK_SUBMIT), "--master", "local[2]", str(ROOT / "jobs" / f"{job}.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.spark
def test_bronze_then_silver_by_spark_submit(home, sample):
    interval = arrival_range(sample["manifest"])
    window = ["--start", iso(interval.start), "--end", iso(interval.end)]
    bronze = submit("bronze", *window, "--run-id", "job-bronze")
    assert bronze.returncode == 0, bronze.stderr[-3000:]
    summary = json.loads(bronze.stdout.strip().splitlines()[-1])
    assert (summary["job"], summary["run_id"]) == ("bronze", "job-bronze")
    assert summary["steps"]["stage"]["records"] == sample["manifest"]["expected"]["records"]
    assert summary["steps"]["publish"]["gates"]

    silver = submit("silver", *window, "--run-id", "job-silver")
    assert silver.returncode == 0, silver.stderr[-3000:]
    expected = sample["manifest"]["expected"]
    readings = Lake(Settings()).read(SILVER_READING)
    assert readings.num_rows == expected["non_null_readings"] - expected["unknown_channel_readings"]
    assert set(readings["run_id"].to_pylist()) == {"job-silver"}


def test_a_job_with_a_bad_interval_is_a_usage_error():
    done = subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "bronze.py"), "--start", "2026-04-04T01:00:00Z", "--end",
         "2026-04-04T00:00:00Z"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "is not after its start" in done.stderr
