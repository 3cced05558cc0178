"""`make bench`: how fast is wenulake, where does the time go, what does it cost in memory.

For each dataset size (generated once with `wenulake landing generate`, cached under bench/data/), in one
process: Spark start-up, a warm-up run (Airflow, GX, Spark's Python workers), the sensors DAG end to end over
the whole range (dag.test, Spark warm), seconds per task, the alarms DAG it schedules (detect_alarms' share of
sensors + alarms), the seconds of every gate task (`gate_*`: its
validation only) and their share of the end-to-end time, the fixed overhead of one hourly run with no data,
peak RSS of the whole process tree, the warehouse load rows/s against DuckDB reading the same Parquet (DuckDB
and PostgreSQL warehouses), and the hand-written reference (bench/reference.py) on the same landing, which must
agree with the pipeline: bronze and enrichment counts, fact rows, and every stats_daily row.

Writes bench/results/<timestamp>.json, .md (the table it prints) and .png (throughput and peak RSS against
size). `--no-warm-up` and `--no-postgres` make a quick run (the smoke test): the checks stay, the timings then
include start-up costs.
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


STARTED = time.perf_counter()


def progress(message: str) -> None:
    """One line on stderr with the seconds since the harness started."""
    print(f"[bench {time.perf_counter() - STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


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
    from wenulake.devtools.generator import generate

    folder = data_dir / size
    if not (folder / "manifest.json").exists():
        progress(f"generating {size}")
        generate(folder, seed=1, **SIZES[size])  # type: ignore[arg-type]
    return folder


def _gate_seconds(task: object) -> float:
    """A gate task's validation seconds (its summary's `gate_seconds`), else the whole task's seconds."""
    summary = getattr(task, "summary", None) or {}
    gate = summary.get("gate_seconds") if isinstance(summary, dict) else None
    return float(gate if gate is not None else getattr(task, "seconds", 0.0))


def bench_size(
    size: str, data_dir: Path, work: Path, warm_up: bool = True, postgres: bool = True
) -> dict[str, object]:
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

    progress(f"{size}: Spark start-up")
    started = time.perf_counter()
    get_spark(settings)
    result["spark_startup_s"] = round(time.perf_counter() - started, 2)
    if warm_up:
        progress(f"{size}: warm-up run")
        # in a home of its own: Airflow, GX and Spark's Python workers start once per process
        first_hour = Interval(interval.start, interval.start + HOUR)
        os.environ["WENULAKE_HOME"] = str(work / f"{size}-warm-up")
        CatalogStore(Settings()).load(folder / "catalog")
        run_dag(Settings(), "sensors", first_hour)
        os.environ["WENULAKE_HOME"] = str(home)
    empty = Interval(interval.end + 10 * HOUR, interval.end + 11 * HOUR)

    progress(f"{size}: sensors DAG over {interval}")
    with PeakRss() as rss:
        report = run_dag(settings, "sensors", interval)
    if not report.ok:
        raise SystemExit(report.failure())
    result["pipeline_s"] = report.seconds
    result["tasks_s"] = {t.task_id: t.seconds for t in report.tasks}
    gates = {t.task_id: round(_gate_seconds(t), 3) for t in report.tasks if t.task_id.startswith("gate_")}
    result["gates_s"] = gates
    result["gate_s"] = round(sum(gates.values()), 3)
    result["gate_share"] = round(float(result["gate_s"]) / report.seconds, 3)  # type: ignore[arg-type]
    result["pipeline_records_per_s"] = round(manifest["expected"]["records"] / report.seconds)
    ingest = result["tasks_s"]["ingest_bronze"]  # type: ignore[index]
    result["bronze_records_per_s"] = round(manifest["expected"]["records"] / ingest)
    enrich = result["tasks_s"]["enrich_silver"]  # type: ignore[index]
    silver_rows = manifest["expected"]["non_null_readings"] - manifest["expected"]["unknown_channel_readings"]
    result["silver_rows"] = silver_rows
    result["silver_rows_per_s"] = round(silver_rows / enrich)
    result["peak_rss_mib"] = round(rss.peak / 2**20)
    stats = next(t for t in report.tasks if t.task_id == "compute_stats").summary or {}
    result["stats_s_per_million_readings"] = stats.get("seconds_per_million_readings")

    progress(f"{size}: alarms DAG over {interval}")
    # what `wenulake run sensors` runs next (silver's asset schedules it): its detect_alarms share of the
    # whole run, sensors + alarms (issue 17's goal: at most 10% on M)
    alarms = run_dag(settings, "alarms", interval)
    if not alarms.ok:
        raise SystemExit(alarms.failure())
    result["alarms_s"] = alarms.seconds
    detect = next(t.seconds for t in alarms.tasks if t.task_id == "detect_alarms")
    result["detect_alarms_s"] = detect
    result["detect_alarms_share"] = round(detect / (report.seconds + alarms.seconds), 3)

    progress(f"{size}: an hourly run with no data")
    overhead = run_dag(settings, "sensors", Interval(empty.start + HOUR, empty.end + HOUR))
    result["hourly_overhead_s"] = overhead.seconds  # an hour with no objects: DAG and task fixed costs

    progress(f"{size}: reference")
    stats_file = work / f"{size}-reference-stats_daily.parquet"
    done = subprocess.run(
        [sys.executable, str(BENCH / "reference.py"), str(folder), "--stats-out", str(stats_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    reference = json.loads(done.stdout)
    result["reference_s"] = reference.pop("seconds")
    result["reference_records_per_s"] = round(manifest["expected"]["records"] / float(result["reference_s"]))  # type: ignore[arg-type]
    result["reference_checks"] = check_reference(size, settings, interval, reference, stats_file)
    result["fact_rows"] = reference["fact_rows"]
    result["stats_daily_rows"] = reference["stats_daily_rows"]
    result["stats_daily_digest"] = reference["stats_daily_digest"]
    result["pipeline_vs_reference"] = round(float(result["pipeline_s"]) / float(result["reference_s"]), 2)  # type: ignore[arg-type]
    progress(f"{size}: warehouse loads")
    result.update(bench_warehouse(settings, interval, postgres))
    progress(f"{size}: done")
    return result


#: stats_daily of the published warehouse, rounded as the reference rounds it (bench/reference.py STATS_SQL)
PIPELINE_STATS_SQL = """
select sensor_id, local_date, n, round(min_value, 6) as min_value, round(max_value, 6) as max_value,
       round(avg_value, 6) as avg_value, round(consumption, 6) as consumption
from stats_daily
"""


def check_reference(
    size: str, settings: object, interval: object, reference: dict[str, object], stats_file: Path
) -> list[str]:
    """Raise SystemExit unless the reference agrees with the pipeline; return the names of the checks made.

    - bronze and enrichment counts against the lake's accounting (the reference's messages_valid counts every
      winner, unknown devices included: the pipeline's counts them apart);
    - fact rows against silver.reading and the warehouse's fact_reading, whole tables (one run over the range);
    - no implausible value (the silver gate would have failed the run on one);
    - stats_daily, every row of both: n exact; min, max, avg and counters' consumption rounded to 6 decimals
      (same formulas, another engine). Counters are compared too: the pipeline's day-by-day deltas, started
      from the last reading before the day, add up to the reference's deltas over the whole series.
    """
    from wenulake.accounting import accounting
    from wenulake.query import connect

    counts = accounting(settings, interval)  # type: ignore[arg-type]
    counts["messages_valid"] += counts["q_unknown_device"]
    keys = ("objects", "corrupt_objects", "records", "duplicates", "messages_valid", "q_malformed_record",
            "q_unknown_key", "q_key_device_mismatch", "q_decrypt_failed", "q_implausible_timestamp",
            "q_unknown_device",
            "q_unknown_channel", "null_values")  # fmt: skip
    mismatched = {k: (counts[k], reference.get(k, 0)) for k in keys if reference.get(k, 0) != counts[k]}
    con = connect(settings, warehouse=True)  # type: ignore[arg-type]
    try:
        for table in ("silver.reading", "fact_reading"):
            (rows,) = con.execute(f"select count(*) from {table}").fetchone()  # type: ignore[misc]
            if rows != reference["fact_rows"]:
                mismatched[f"rows of {table} / fact_rows"] = (rows, reference["fact_rows"])
        if reference["implausible_values"]:
            mismatched["implausible_values"] = (0, reference["implausible_values"])
        con.execute(f"create temp table pipeline_stats as {PIPELINE_STATS_SQL}")
        con.execute("create temp table reference_stats as select * from read_parquet(?)", [str(stats_file)])
        only = {
            side: con.execute(
                f"select * from {side}_stats except select * from {other}_stats order by 1, 2"
            ).fetchall()
            for side, other in (("pipeline", "reference"), ("reference", "pipeline"))
        }
        (pipeline_rows,) = con.execute("select count(*) from pipeline_stats").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    if pipeline_rows != reference["stats_daily_rows"]:
        mismatched["stats_daily rows"] = (pipeline_rows, reference["stats_daily_rows"])
    if only["pipeline"] or only["reference"]:
        mismatched["stats_daily rows only in (pipeline, reference)"] = (
            len(only["pipeline"]),
            len(only["reference"]),
        )
        mismatched["stats_daily first differences (pipeline, reference)"] = (
            only["pipeline"][:3],
            only["reference"][:3],
        )  # type: ignore[assignment]
    if mismatched:
        raise SystemExit(f"{size}: reference and pipeline disagree (pipeline, reference): {mismatched}")
    return [*keys, "silver.reading rows", "fact_reading rows", "implausible_values", "stats_daily"]


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


def bench_warehouse(settings: object, interval: object, postgres: bool = True) -> dict[str, object]:
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
    result["wh_fact_rows"] = duck["rows"]
    if not postgres:
        return result
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
        ("gate_share", "gate share"),
        ("hourly_overhead_s", "empty hourly run s"),
        ("detect_alarms_s", "detect_alarms s"),
        ("detect_alarms_share", "detect_alarms share (sensors + alarms)"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("reference_s", "reference s"),
        ("pipeline_vs_reference", "pipeline / reference"),
        ("fact_rows", "fact rows (= reference)"),
        ("stats_s_per_million_readings", "stats s per 1M readings"),
        ("wh_fact_rows", "warehouse fact rows"),
        ("wh_direct_read_rows_per_s", "DuckDB direct read rows/s"),
        ("wh_duckdb_rows_per_s", "DuckDB load rows/s"),
        ("wh_postgres_rows_per_s", "PostgreSQL load rows/s (COPY + merge)"),
    ]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(key, "")) for key, _ in columns) + " |" for r in results]
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, object]], path: Path) -> None:
    """PNG: throughput (records/s, pipeline end to end and reference) and peak RSS against size in records."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = sorted(results, key=lambda r: int(r["records"]))  # type: ignore[call-overload]
    records = [int(r["records"]) for r in rows]  # type: ignore[call-overload]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for key, label in (
        ("pipeline_records_per_s", "pipeline, end to end"),
        ("reference_records_per_s", "reference"),
    ):
        speed.plot(records, [r[key] for r in rows], "o-", label=label)
    speed.set(title="Throughput", xlabel="records", ylabel="records/s", xscale="log", yscale="log")
    speed.legend()
    memory.plot(records, [r["peak_rss_mib"] for r in rows], "o-", color="tab:red")
    memory.set(title="Peak RSS, whole process tree", xlabel="records", ylabel="MiB", xscale="log")
    memory.set_ylim(bottom=0)
    for axis, key in ((speed, "pipeline_records_per_s"), (memory, "peak_rss_mib")):
        axis.grid(True, which="both", alpha=0.3)
        if len(records) == 1:  # one size: centre its point
            axis.set_xlim(records[0] / 3, records[0] * 3)
        for r, x in zip(rows, records, strict=True):
            axis.annotate(str(r["size"]), (x, r[key]), xytext=(4, 4), textcoords="offset points", fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=os.environ.get("BENCH_SIZES", "S,M"), help="comma-separated: XS,S,M,L"
    )
    parser.add_argument("--data", type=Path, default=BENCH / "data", help="dataset cache")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    parser.add_argument(
        "--no-warm-up", action="store_true", help="skip the warm-up run (timings then include start-up costs)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL warehouse load")
    args = parser.parse_args(argv)
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="wenulake-bench-"))
    os.environ.setdefault("WENULAKE_AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    results = [
        bench_size(size, args.data, work, warm_up=not args.no_warm_up, postgres=not args.no_postgres)
        for size in sizes
    ]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)}
    options = {"warm_up": not args.no_warm_up, "postgres": not args.no_postgres}
    (args.out / f"{stamp}.json").write_text(
        json.dumps({"machine": machine, "options": options, "results": results}, indent=2) + "\n"
    )
    table = markdown(results)
    (args.out / f"{stamp}.md").write_text(table)
    plot(results, args.out / f"{stamp}.png")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
