"""bench/nab.py end to end on one short NAB series (1,882 readings, 19 days): the landing it writes goes through
the sensors DAG and the alarms DAG for real (hours of 2024, before the alarms DAG's scheduler start date), and the
figures, the results file and the PNG come out. Timings and the corpus score are not checked here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERIES = "realKnownCause/rogue_agent_key_hold.csv"


@pytest.mark.slow
def test_nab_bench_runs_one_series_through_the_pipeline(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "nab.py"),
            "--series",
            SERIES,
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "results"),
            "--plot",
            str(tmp_path / "nab.png"),
            "--plot-series",
            SERIES,
        ],
        env={**os.environ, "WENULAKE_AIRFLOW_HOME": str(tmp_path / "airflow")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout[done.stdout.rindex("\n{\n") :])  # after the pipeline's log lines
    [result_file] = (tmp_path / "results").glob("nab-*.json")
    result = json.loads(result_file.read_text())
    assert printed["nab_standard"] == result["nab_standard"]
    assert result["records"] == 1882
    assert result["windows"] == 2
    assert {"hit_rate", "false_alarms_per_sensor_month", "delay_hours_median", "delay_hours_p90"} <= set(
        result
    )
    # the alarms DAG evaluated the readings (a run before its start date used to create no task) and raised
    assert result["task_seconds"]["alarms.detect_alarms"] > 0
    assert result["windows_hit"] + result["false_alarms"] > 0
    assert (tmp_path / "nab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
