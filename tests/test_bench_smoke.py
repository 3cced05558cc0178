"""The benchmark harness runs end to end on a tiny size, so it cannot rot (timings are not checked here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_harness_runs_on_a_tiny_size(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--sizes",
            "XS",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "results"),
        ],
        env={**os.environ, "WENULAKE_AIRFLOW_HOME": str(tmp_path / "airflow")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [result_file] = (tmp_path / "results").glob("*.json")
    [row] = json.loads(result_file.read_text())["results"]
    assert row["size"] == "XS"
    assert row["records"] > 0
    assert row["bronze_records_per_s"] > 0
    assert row["peak_rss_mib"] > 0
    assert "| XS |" in done.stdout
