"""Cluster mode against local mode: the sensors DAG on one bench dataset, once on `local[2]` and once on a
standalone cluster of one 2-core worker (started here, on 127.0.0.1, and stopped by its pids).

Each mode runs in a process of its own (one SparkContext per process), after a warm-up hour in another home
(JVM, Python workers, Airflow and GX started), so the figures compare steady-state task times. Prints a JSON
line per mode and the ratios: `python bench/cluster.py --size S`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH.parent) not in sys.path:  # `python bench/cluster.py` from anywhere: `bench.run` is importable
    sys.path.insert(0, str(BENCH.parent))


def child(size: str, data_dir: Path, work: Path) -> dict[str, object]:
    """One mode, in this process: warm-up hour, then the whole range; seconds per task and rates."""
    from bench.run import dataset
    from wenulake.catalog.store import CatalogStore
    from wenulake.orchestrate import run_dag
    from wenulake.settings import Settings
    from wenulake.timeutil import HOUR, Interval, parse_instant

    folder = dataset(size, data_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    os.environ.update(
        {"WENULAKE_LANDING": str(folder / "landing"), "WENULAKE_KEYRING": str(folder / "keyring.json")}
    )
    interval = Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))
    for name, part in (("warm-up", Interval(interval.start, interval.start + HOUR)), ("run", interval)):
        os.environ["WENULAKE_HOME"] = str(work / name)
        settings = Settings()
        CatalogStore(settings).load(folder / "catalog")
        report = run_dag(settings, "sensors", part)
        if not report.ok:
            raise SystemExit(report.failure())
    tasks = {t.task_id: t.seconds for t in report.tasks}
    expected = manifest["expected"]
    silver_rows = expected["non_null_readings"] - expected["unknown_channel_readings"]
    return {
        "master": settings.spark_master,
        "records": expected["records"],
        "pipeline_s": round(report.seconds, 2),
        "ingest_bronze_s": tasks["ingest_bronze"],
        "enrich_silver_s": tasks["enrich_silver"],
        "bronze_records_per_s": round(expected["records"] / tasks["ingest_bronze"]),
        "silver_rows_per_s": round(silver_rows / tasks["enrich_silver"]),
        "tasks_s": tasks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", help="bench dataset size (bench/run.py SIZES; default S)")
    parser.add_argument("--data", type=Path, default=BENCH / "data", help="dataset cache")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.size, args.data, args.work)), flush=True)
        return 0

    from bench.run import dataset
    from wenulake import cluster
    from wenulake.settings import Settings

    dataset(args.size, args.data)
    scratch = Path(tempfile.mkdtemp(prefix="wenulake-bench-cluster-"))
    package = cluster.build_package(scratch / "wenulake.zip")
    cluster_settings = Settings(home=scratch / "cluster-home")
    info = cluster.start(
        cluster_settings,
        port=cluster.free_port(),
        webui_port=cluster.free_port(),
        worker_webui_port=cluster.free_port(),
        cores=2,
        memory="2g",
    )
    results = {}
    try:
        for mode, master in (("local", "local[2]"), ("cluster", info.master_url)):
            env = {k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")}
            env.update(
                {
                    "WENULAKE_SPARK_MASTER": master,
                    "WENULAKE_SPARK_DRIVER_HOST": "127.0.0.1",
                    "WENULAKE_SPARK_PY_FILES": str(package),
                    "WENULAKE_AIRFLOW_HOME": str(scratch / f"{mode}-airflow"),
                    "SPARK_LOCAL_IP": "127.0.0.1",
                    "PYTHONPATH": str(BENCH.parent),
                }
            )
            command = [sys.executable, "-m", "bench.cluster", "--child", "--size", args.size]
            command += ["--data", str(args.data), "--work", str(scratch / mode)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps({mode: results[mode]}), flush=True)
    finally:
        cluster.stop(cluster_settings)
    local, remote = results["local"], results["cluster"]
    print(
        json.dumps(
            {
                "bronze_cluster_over_local": round(
                    remote["bronze_records_per_s"] / local["bronze_records_per_s"], 2
                ),
                "silver_cluster_over_local": round(
                    remote["silver_rows_per_s"] / local["silver_rows_per_s"], 2
                ),
                "pipeline_cluster_over_local": round(local["pipeline_s"] / remote["pipeline_s"], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
