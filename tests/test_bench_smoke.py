"""The benchmark harness runs end to end on a tiny size, so it cannot rot (timings are not checked here).

Quick mode (no warm-up run, no PostgreSQL load): every measure is still taken and the reference is still
checked against the pipeline (counts, fact rows, every stats_daily row); the harness exits non-zero otherwise.
"""

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
            "--no-warm-up",
            "--no-postgres",
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
    assert row["pipeline_records_per_s"] > 0
    assert row["reference_records_per_s"] > 0
    assert row["peak_rss_mib"] > 0
    assert {"gate_bronze", "gate_silver", "gate_stats", "gate_warehouse"} <= set(row["gates_s"])
    assert 0 < row["gate_share"] < 1
    assert {"records", "q_unknown_device", "q_unknown_channel", "fact_reading rows", "stats_daily"} <= set(
        row["reference_checks"]
    )
    assert row["fact_rows"] == row["wh_fact_rows"] > 0
    assert row["stats_daily_rows"] > 0
    assert row["pipeline_vs_reference"] > 0
    [plot] = (tmp_path / "results").glob("*.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_size > 10_000
    assert "| XS |" in done.stdout
    assert "gate share" in done.stdout


def test_gap_bench_runs_on_a_tiny_size(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gap_quality.py"), "--per-cadence", "1", "--days", "8",
         "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gap_quality.json").read_text())
    assert result == json.loads(done.stdout)
    assert result["devices"] == 5
    for name in ("learned", "catalog", "before_cadence"):
        assert result[name]["silences_injected"] == 15
        assert set(result[name]["per_cadence"]) == {"5min", "10min", "15min", "30min", "60min"}
    assert result["learned"]["silences_found"] == 15
    # the rule before cadences raises an alarm per reading on the hourly device: far more than with them
    assert result["before_cadence"]["gap_alarms"] > 10 * result["learned"]["gap_alarms"]
