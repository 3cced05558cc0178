"""`make bench`: how fast is wenulake, where does the time go, what does it cost in memory.

For each dataset size (generated once with `wenulake landing generate`, cached under bench/data/), in one
process: Spark start-up, the sensors DAG end to end over the whole range (dag.test, Spark warm), seconds per
task, the gate's share, the fixed overhead of one hourly run with no data, peak RSS of the whole process tree,
and the hand-written reference (bench/reference.py) on the same landing, whose counts must equal the pipeline's.

Writes bench/results/<timestamp>.json and .md and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
#: size -> generator arguments (about 60 messages per device and hour)
SIZES = {
    "XS": {"devices": 20, "hours": 2},  # smoke test
    "S": {"devices": 280, "hours": 6},  # ~107k records
    "M": {"devices": 4000, "hours": 6},  # ~1.5M records
    "L": {"devices": 8000, "hours": 12},  # ~6M records
}


class PeakRss:
    """Samples the RSS of this process and all its descendants (Spark JVM, Python workers)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.every)

    def __enter__(self) -> PeakRss:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def dataset(size: str, data_dir: Path) -> Path:
    from wenulake.generator import generate

    folder = data_dir / size
    if not (folder / "manifest.json").exists():
        print(f"generating {size} ...", flush=True)
        generate(folder, seed=1, **SIZES[size])  # type: ignore[arg-type]
    return folder


def bench_size(size: str, data_dir: Path, work: Path) -> dict[str, object]:
    from wenulake.accounting import accounting
    from wenulake.orchestrate import run_dag
    from wenulake.settings import Settings
    from wenulake.spark import get_spark
    from wenulake.timeutil import HOUR, Interval, parse_instant

    folder = dataset(size, data_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    home = work / size
    env = {
        "WENULAKE_HOME": str(home),
        "WENULAKE_LANDING": str(folder / "landing"),
        "WENULAKE_KEYRING": str(folder / "keyring.json"),
    }
    os.environ.update(env)
    settings = Settings()
    from wenulake.catalog.store import CatalogStore

    CatalogStore(settings).load(folder / "catalog")
    interval = Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))
    result: dict[str, object] = {"size": size, "records": manifest["expected"]["records"]}

    started = time.perf_counter()
    get_spark(settings)
    result["spark_startup_s"] = round(time.perf_counter() - started, 2)
    # warm-up, in a home of its own: Airflow, GX and Spark's Python workers start once per process
    first_hour = Interval(interval.start, interval.start + HOUR)
    os.environ["WENULAKE_HOME"] = str(work / f"{size}-warm-up")
    CatalogStore(Settings()).load(folder / "catalog")
    run_dag(Settings(), "sensors", first_hour)
    os.environ["WENULAKE_HOME"] = str(home)
    empty = Interval(interval.end + 10 * HOUR, interval.end + 11 * HOUR)

    with PeakRss() as rss:
        report = run_dag(settings, "sensors", interval)
    if not report.ok:
        raise SystemExit(report.failure())
    result["pipeline_s"] = report.seconds
    result["tasks_s"] = {t.task_id: t.seconds for t in report.tasks}
    gate = next(t for t in report.tasks if t.task_id == "gate_bronze")
    result["gate_s"] = (gate.summary or {}).get("gate_seconds")
    ingest = result["tasks_s"]["ingest_bronze"]  # type: ignore[index]
    result["bronze_records_per_s"] = round(manifest["expected"]["records"] / ingest)
    enrich = result["tasks_s"]["enrich_silver"]  # type: ignore[index]
    silver_rows = manifest["expected"]["non_null_readings"] - manifest["expected"]["unknown_channel_readings"]
    result["silver_rows"] = silver_rows
    result["silver_rows_per_s"] = round(silver_rows / enrich)
    silver_gate = next(t for t in report.tasks if t.task_id == "gate_silver")
    result["gate_s"] = round(
        float(result["gate_s"] or 0) + float((silver_gate.summary or {}).get("gate_seconds") or 0), 3
    )
    result["peak_rss_mib"] = round(rss.peak / 2**20)
    stats = next(t for t in report.tasks if t.task_id == "compute_stats").summary or {}
    result["stats_s_per_million_readings"] = stats.get("seconds_per_million_readings")

    overhead = run_dag(settings, "sensors", Interval(empty.start + HOUR, empty.end + HOUR))
    result["hourly_overhead_s"] = overhead.seconds  # an hour with no objects: DAG and task fixed costs

    counts = accounting(settings, interval)
    counts["messages_valid"] += counts[
        "q_unknown_device"
    ]  # the reference stops at bronze: winners, unenriched
    done = subprocess.run(
        [sys.executable, str(BENCH / "reference.py"), str(folder)], capture_output=True, text=True, check=True
    )
    reference = json.loads(done.stdout)
    result["reference_s"] = reference.pop("seconds")
    bronze_keys = ("objects", "corrupt_objects", "records", "duplicates", "messages_valid", "q_malformed_record",
                   "q_unknown_key", "q_decrypt_failed", "q_implausible_timestamp")  # fmt: skip
    mismatched = {
        k: (counts[k], reference.get(k, 0)) for k in bronze_keys if reference.get(k, 0) != counts[k]
    }
    if mismatched:
        raise SystemExit(f"{size}: reference and pipeline disagree (pipeline, reference): {mismatched}")
    result["pipeline_vs_reference"] = round(float(result["pipeline_s"]) / float(result["reference_s"]), 2)  # type: ignore[arg-type]
    result.update(bench_warehouse(settings, interval))
    return result


def _direct_read(rows_file: str) -> float:
    """Seconds for DuckDB to read a stage file into a table of its own: the yardstick for loads."""
    import duckdb

    con = duckdb.connect()
    try:
        started = time.perf_counter()
        con.execute("create table direct as select * from read_parquet(?)", [rows_file])
        return time.perf_counter() - started
    finally:
        con.close()


def _load_once(settings: object, interval: object, run_id: str) -> dict[str, float]:
    """Stage every silver partition afresh, time DuckDB's direct read of the fact stage file, then the load
    and its publication (gate included) on the backend `settings` names."""
    from wenulake.pipeline import gold, stats

    staged = gold.stage(settings, interval, run_id)  # type: ignore[arg-type]
    stats.compute(settings, interval, run_id)  # type: ignore[arg-type]
    stats.publish(settings, interval, run_id)  # type: ignore[arg-type]
    rows_file = str(Path(gold.stage_dir(settings, "fact_reading", run_id)) / "rows.parquet")  # type: ignore[arg-type]
    direct = _direct_read(rows_file)
    loaded = gold.load(settings, interval, run_id)  # type: ignore[arg-type]
    published = gold.publish(settings, interval, run_id)  # type: ignore[arg-type]
    return {
        "rows": staged["fact_rows"],
        "direct_s": direct,
        "load_s": loaded["tables"]["fact_reading"]["seconds"],
        "gate_s": published.gate_seconds,
        "publish_s": published.publish_seconds,
    }


def bench_warehouse(settings: object, interval: object) -> dict[str, object]:
    """Warehouse load rows/s per backend against DuckDB reading the same Parquet stage file directly. The
    fact table's whole history is staged (the warehouse starts empty for PostgreSQL, full for DuckDB: a
    replace). Rates: fact rows / seconds of the fact table's load (DuckDB: staging + delete + insert; PostgreSQL:
    COPY into the staging schema + the merge's share on publish)."""
    import uuid

    import psycopg

    from wenulake.settings import Settings

    result: dict[str, object] = {}
    # an empty warehouse of each kind over the same lake and catalog: the load takes the whole history
    base = settings.model_dump()  # type: ignore[attr-defined]
    base.update(
        lake=settings.lake_uri,  # type: ignore[attr-defined]
        catalog_url=f"sqlite:///{(settings.home / 'catalog.db').absolute()}",  # type: ignore[attr-defined]
        home=settings.home.parent / f"{settings.home.name}-warehouse-bench",  # type: ignore[attr-defined]
    )
    duck = _load_once(Settings(**base), interval, "bench-warehouse-duckdb")
    result["wh_duckdb_rows_per_s"] = round(duck["rows"] / duck["load_s"])
    result["wh_direct_read_rows_per_s"] = round(duck["rows"] / duck["direct_s"])
    admin_url = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"wenulake_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL warehouse not measured: {exc}", flush=True)
        return result
    with admin:
        admin.execute(f'create database "{name}"')
    try:
        url = admin_url.rsplit("/", 1)[0] + "/" + name
        pg_settings = Settings(**{**base, "warehouse_url": url})
        pg = _load_once(pg_settings, interval, "bench-warehouse-postgres")
        with psycopg.connect(url) as con:
            row = con.execute(
                "select seconds from ops.warehouse_load where table_name = 'fact_reading' "
                "and run_id = 'bench-warehouse-postgres'"
            ).fetchone()
        merge = float(row[0]) if row else 0.0
        result["wh_postgres_rows_per_s"] = round(pg["rows"] / (pg["load_s"] + merge))
        result["wh_postgres_copy_rows_per_s"] = round(pg["rows"] / pg["load_s"])
        result["wh_postgres_direct_read_rows_per_s"] = round(pg["rows"] / pg["direct_s"])
        result["wh_postgres_gate_s"] = round(pg["gate_s"], 2)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')
    result["wh_fact_rows"] = duck["rows"]
    return result


def markdown(results: list[dict[str, object]]) -> str:
    columns = [
        ("size", "size"),
        ("records", "records"),
        ("spark_startup_s", "Spark start s"),
        ("pipeline_s", "pipeline s"),
        ("bronze_records_per_s", "bronze rec/s"),
        ("silver_rows_per_s", "silver rows/s"),
        ("gate_s", "gates s"),
        ("hourly_overhead_s", "empty hourly run s"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("reference_s", "reference s"),
        ("pipeline_vs_reference", "pipeline / reference"),
        ("stats_s_per_million_readings", "stats s per 1M readings"),
        ("wh_fact_rows", "warehouse fact rows"),
        ("wh_direct_read_rows_per_s", "DuckDB direct read rows/s"),
        ("wh_duckdb_rows_per_s", "DuckDB load rows/s"),
        ("wh_postgres_rows_per_s", "PostgreSQL load rows/s (COPY + merge)"),
    ]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(key, "")) for key, _ in columns) + " |" for r in results]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=os.environ.get("BENCH_SIZES", "S,M"), help="comma-separated: XS,S,M,L"
    )
    parser.add_argument("--data", type=Path, default=BENCH / "data", help="dataset cache")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="wenulake-bench-"))
    os.environ.setdefault("WENULAKE_AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    results = [bench_size(size, args.data, work) for size in sizes]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)}
    (args.out / f"{stamp}.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )
    table = markdown(results)
    (args.out / f"{stamp}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
