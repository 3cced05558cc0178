"""The command users live: `wenulake run sensors` over a landing of many hours, cold, in a fresh home.

For each dataset (generated once and cached under bench/data/; default "300x48": 300 devices, 48 hours, about
880k records), in this order and on the same landing:
1. Spark start-up, cold: a fresh process that only starts the SparkSession (the part the goal leaves out);
2. the whole command, cold: `wenulake catalog load` then `wenulake run sensors --start --end` in a fresh
   WENULAKE_HOME and a fresh Airflow home, as subprocesses; wall time and peak RSS of the process tree (the CLI,
   Spark's JVM and Python workers);
3. the hand-written reference (bench/reference.py) on the same landing.
The ratio is (command - Spark start-up) / reference; the goal is at most 2. Appends to
bench/results/command-<timestamp>.json and prints one line per dataset.

`python bench/command.py [--datasets 300x48,4000x6]` (DEVICESxHOURS).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def process_kind(proc: psutil.Process, root: psutil.Process) -> str:
    """What a process of the tree is: the command itself, Spark's JVM, a Python worker, or another."""
    if proc.pid == root.pid:
        return "command"
    name = proc.name()
    if name == "java":
        return "spark_jvm"
    if name.startswith("python"):
        return "python_children"
    return "other"


class TreeRss:
    """Peak RSS of a process and all its descendants, sampled every `every` seconds; `at_peak` splits the peak by
    kind of process and `timeline` keeps (seconds, MiB) of the tree about once a second."""

    def __init__(self, process: subprocess.Popen[bytes], every: float = 0.2) -> None:
        self.root, self.every, self.peak = psutil.Process(process.pid), every, 0
        self.at_peak: dict[str, int] = {}
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.is_set():
            kinds: dict[str, int] = {}
            with contextlib.suppress(psutil.Error):
                for proc in [self.root, *self.root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        kind = process_kind(proc, self.root)
                        kinds[kind] = kinds.get(kind, 0) + proc.memory_info().rss
            total = sum(kinds.values())
            if total > self.peak:
                self.peak, self.at_peak = total, kinds
            elapsed = time.perf_counter() - started
            if not self.timeline or elapsed - self.timeline[-1][0] >= 1.0:
                self.timeline.append((round(elapsed, 1), round(total / 2**20)))
            time.sleep(self.every)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(args: list[str], env: dict[str, str]) -> tuple[float, TreeRss, str]:
    """(seconds, the tree's memory, stdout) of one command; SystemExit when it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with TreeRss(process) as rss:
        out, err = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {process.returncode}: {err.decode()[-2000:]}")
    return seconds, rss, out.decode()


def dataset(devices: int, hours: int, data_dir: Path) -> Path:
    folder = data_dir / f"command-{devices}x{hours}"
    if not (folder / "manifest.json").exists():
        from wenulake.devtools.generator import generate

        print(f"generating {devices} devices x {hours} hours", file=sys.stderr, flush=True)
        generate(folder, devices=devices, hours=hours, seed=3)
    return folder


def bench(devices: int, hours: int, data_dir: Path) -> dict[str, object]:
    folder = dataset(devices, hours, data_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="wenulake-command-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")},
        "WENULAKE_HOME": str(work / "home"),
        "WENULAKE_LANDING": str(folder / "landing"),
        "WENULAKE_KEYRING": str(folder / "keyring.json"),
        "WENULAKE_AIRFLOW_HOME": str(work / "airflow"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    spark_s, _, _ = run(
        [sys.executable, "-c", "from wenulake.settings import Settings; from wenulake.spark import get_spark; "
         "get_spark(Settings()).range(1).count()"],
        env,
    )  # fmt: skip
    wenulake = [sys.executable, "-m", "wenulake"]
    load_s, _, _ = run([*wenulake, "catalog", "load", str(folder / "catalog")], env)
    command_s, rss, out = run(
        [*wenulake, "run", "sensors", "--start", manifest["arrival_start"], "--end", manifest["arrival_end"]],
        env,
    )
    if "balanced: records" not in out:
        raise SystemExit(f"the run is not balanced:\n{out}")
    tasks = {
        parts[0]: float(parts[2])
        for parts in (
            line.split() for line in out.splitlines() if line.startswith("  ")
        )  # "  task state 1.23 s [run-metric columns]"
        if len(parts) >= 4 and parts[1] in ("success", "failed") and parts[3] == "s"
    }
    reference_s = json.loads(
        subprocess.run(
            [sys.executable, str(BENCH / "reference.py"), str(folder)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["seconds"]
    whole = command_s + load_s
    return {
        "dataset": f"{devices}x{hours}",
        "records": manifest["expected"]["records"],
        "spark_startup_s": round(spark_s, 1),
        "command_s": round(whole, 1),
        "peak_rss_mib": round(rss.peak / 2**20),
        "peak_rss_by_process_mib": {k: round(v / 2**20) for k, v in sorted(rss.at_peak.items())},
        "rss_timeline_s_mib": rss.timeline,
        "reference_s": round(float(reference_s), 1),
        "ratio_excluding_spark_startup": round((whole - spark_s) / float(reference_s), 2),
        "ratio_whole": round(whole / float(reference_s), 2),
        "tasks_s": tasks,
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        default=os.environ.get("BENCH_COMMAND", "300x48"),
        help="comma-separated DEVICESxHOURS",
    )
    parser.add_argument("--data", type=Path, default=BENCH / "data", help="dataset cache")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    results = []
    for spec in args.datasets.split(","):
        devices, hours = (int(x) for x in spec.lower().split("x"))
        result = bench(devices, hours, args.data)
        results.append(result)
        print(json.dumps(result), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)}
    (args.out / f"command-{stamp}.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
