"""`make bench-maintenance`: 100 hourly runs, then maintenance, against one run over the same hours.

Running 100 hourly DAG runs through Airflow and Spark takes hours here, so this drives the same lake writes the
hourly publishers make, with the lake's own code and no Spark: per hour, bronze's commits (staged files of
bronze.sensor_message, ops.quarantine and ops.ingest_ledger published in one transaction each, replacing the
hour: `Lake.stage` + `publish_staged`, as gate_bronze does), silver's merge (`wenulake.pipeline.silver._merge`,
the very function gate_silver calls: late copies of the two hours before land in each hour, so merges rewrite
files of days already written), ops.touched_period replaced by run, ops.dq_result and ops.run_metric appended
(one row per gate and per task); every tenth hour, an earlier hour is rerun (a backfill), replacing its
files. Lake A gets one run over all hours (one commit per table); lake B gets the
hourly runs and then `wenulake maintain` (maintenance.maintain with VACUUM retention 0 h, standing for
"every replaced file is older than the retention").

Measured: files per table (current snapshot, per partition, on storage), log entries, and the analysts' queries
over silver through `wenulake sql`'s engine (median of 5): lake A, lake B before maintenance, lake B after.

    python bench/maintenance.py [--hours 100] [--sensors 300] [--out bench/results]
    python bench/maintenance.py --requery /tmp/wenulake-bench-maint-XXXX [--rounds 15]

`--requery` times the queries again on a finished bench's two lakes (its work folder, printed at the end),
alternating the one-run lake and the maintained one round by round, so both see the same machine load: the
figures to compare on a machine other work shares.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

BENCH = Path(__file__).resolve().parent
T0 = datetime(2026, 4, 4, tzinfo=UTC)
HOUR = timedelta(hours=1)
STEP_MINUTES = 5
RERUN_EVERY = 10  # every 10th hourly run is followed by a rerun of an earlier hour
LATE_SHARE = 0.05  # copies arriving one or two hours after their reading

QUERIES = {
    "one sensor, one day (hourly averages)": (
        "select date_trunc('hour', ts) as hour, avg(value) as avg_value, count(*) as n from silver.reading "
        "where sensor_id = 's0042' and ts >= timestamptz '2026-04-05 00:00:00+00' "
        "and ts < timestamptz '2026-04-06 00:00:00+00' group by all order by 1"
    ),
    "whole table by metric (the README's query)": (
        "select metric, unit, count(*) as n, avg(value) as avg_value from silver.reading group by all order by 1"
    ),
}


def readings(arrival: datetime, sensors: int, run_id: str) -> pa.Table:
    """Silver rows arriving in hour `arrival`: the hour's readings, plus late copies of the two hours before."""
    ts_list, sensor_list, received = [], [], []
    per_hour = 60 // STEP_MINUTES
    for s in range(sensors):
        for k in range(per_hour):
            ts_list.append(arrival + timedelta(minutes=STEP_MINUTES * k))
            sensor_list.append(f"s{s:04d}")
            received.append(arrival + timedelta(minutes=STEP_MINUTES * k, seconds=5))
        if s % int(1 / LATE_SHARE) == 0 and arrival > T0:
            for back in (1, 2):
                late = arrival - back * HOUR
                if late >= T0:  # a late duplicate copy of a reading already stored (same sensor and ts)
                    ts_list.append(late + timedelta(minutes=STEP_MINUTES * (s % per_hour)))
                    sensor_list.append(f"s{s:04d}")
                    received.append(arrival + timedelta(minutes=1))
    n = len(ts_list)
    ts = pa.array(ts_list, pa.timestamp("us", tz="UTC"))
    sensor = pa.array(sensor_list)
    value = pc.add(pc.multiply(pa.array(range(n), pa.float64()), 0.01), 20.0)
    device = pc.replace_substring(sensor, "s", "d")
    text = pa.array([f"{arrival:%Y%m%d%H}-{i}" for i in range(n)])

    def const(v: object, kind: pa.DataType) -> pa.Array:
        return pa.repeat(pa.scalar(v, kind), n)

    return pa.table(
        {
            "sensor_id": sensor,
            "ts": ts,
            "local_date": pc.cast(ts, pa.date32()),
            "value": value,
            "raw_value": value,
            "raw_unit": const("C", pa.string()),
            "unit": const("C", pa.string()),
            "metric": const("temperature", pa.string()),
            "kind": const("gauge", pa.string()),
            "channel": const("t", pa.string()),
            "device_id": device,
            "site_id": const("site1", pa.string()),
            "company_id": const("c1", pa.string()),
            "timezone": const("UTC", pa.string()),
            "message_id": text,
            "received_at": pa.array(received, pa.timestamp("us", tz="UTC")),
            "object_key": const(f"sensors/{arrival:%Y/%m/%d/%H}/obj", pa.string()),
            "record_index": pa.array(range(n), pa.int64()),
            "arrival_hour": const(arrival, pa.timestamp("us", tz="UTC")),
            "run_id": const(run_id, pa.string()),
            "source": const("live", pa.string()),
        }
    )


def bronze_rows(silver: pa.Table) -> pa.Table:
    n = silver.num_rows
    return pa.table(
        {
            "device_id": silver["device_id"],
            "message_id": silver["message_id"],
            "key_id": pa.repeat(pa.scalar("k1"), n),
            "received_at": silver["received_at"],
            "ts": silver["ts"],
            "seq": silver["record_index"],
            "readings": pa.array([[("t", 1.0)]] * n, pa.map_(pa.string(), pa.float64())),
            "object_key": silver["object_key"],
            "record_index": silver["record_index"],
            "arrival_hour": silver["arrival_hour"],
            "arrival_date": pc.strftime(silver["arrival_hour"], "%Y-%m-%d"),
            "run_id": silver["run_id"],
        }
    )


def side_rows(first: datetime, hours: int, run_id: str) -> dict[str, pa.Table]:
    """Quarantine, ledger, touched periods, gate results and task metrics of a run over `hours` hours."""
    ts = pa.timestamp("us", tz="UTC")
    arrival = [first + h * HOUR for h in range(hours)]
    now = datetime.now(UTC)
    quarantine = pa.Table.from_pylist(
        [
            {
                "reason": "malformed_record",
                "stage": "bronze",
                "object_key": f"sensors/{a:%Y/%m/%d/%H}/obj",
                "record_index": i,
                "raw": "{",
                "arrival_hour": a,
                "arrival_date": f"{a:%Y-%m-%d}",
                "run_id": run_id,
            }
            for a in arrival
            for i in range(3)
        ]
    )
    ledger = pa.Table.from_pylist(
        [
            {
                "object_key": f"sensors/{a:%Y/%m/%d/%H}/obj",
                "size": 1000,
                "records": 100,
                "accepted": 97,
                "quarantined": 3,
                "status": "ingested",
                "arrival_hour": a,
                "run_id": run_id,
            }
            for a in arrival
        ]
    )
    touched = pa.Table.from_pylist(
        [
            {"run_id": run_id, "stage": "silver", "sensor_id": "s0000", "local_date": a.date(), "hour_utc": a}
            for a in arrival
        ]
    )
    gates = pa.Table.from_pylist(
        [
            {
                "run_id": run_id,
                "stage": stage,
                "suite": stage,
                "table_name": stage,
                "interval_start": first,
                "interval_end": first + hours * HOUR,
                "rows": 1,
                "success": True,
                "evaluated": 5,
                "failed": 0,
                "validated_at": now,
            }
            for stage in ("bronze", "silver", "stats", "gold")
        ]
    )
    tasks = [
        "ingest_bronze",
        "gate_bronze",
        "enrich_silver",
        "gate_silver",
        "stage_gold",
        "compute_stats",
        "gate_stats",
        "load_warehouse",
        "gate_warehouse",
        "purge_stats",
    ]
    metrics = [
        pa.Table.from_pylist(
            [
                {
                    "dag_id": "sensors",
                    "run_id": run_id,
                    "task_id": t,
                    "state": "success",
                    "interval_start": first,
                    "interval_end": first + hours * HOUR,
                    "started_at": now,
                    "finished_at": now,
                    "seconds": 1.0,
                }
            ]
        )
        for t in tasks
    ]
    _ = ts
    return {
        "quarantine": quarantine,
        "ledger": ledger,
        "touched": touched,
        "gates": gates,
        "metrics": metrics,
    }  # type: ignore[dict-item]


def run(lake: object, first: datetime, hours: int, sensors: int, run_id: str) -> None:
    """One sensors run over [first, first + hours): the lake writes its publishers make."""
    from wenulake.contracts.tables import (
        DQ_RESULT,
        INGEST_LEDGER,
        QUARANTINE,
        RUN_METRIC,
        SENSOR_MESSAGE,
        TOUCHED_PERIOD,
    )
    from wenulake.lake import Lake
    from wenulake.lakefiles import Where, sql_literal
    from wenulake.pipeline.silver import _merge
    from wenulake.timeutil import Interval

    assert isinstance(lake, Lake)
    interval = Interval(first, first + hours * HOUR)
    silver = pa.concat_tables([readings(first + h * HOUR, sensors, run_id) for h in range(hours)])
    side = side_rows(first, hours, run_id)
    batch = f"bronze-{run_id}"
    lake.stage(batch, SENSOR_MESSAGE, bronze_rows(silver))
    lake.stage(batch, QUARANTINE, side["quarantine"])
    lake.stage(batch, INGEST_LEDGER, side["ledger"])
    in_hours = Where.hours("arrival_hour", interval.start, interval.end)
    lake.publish_staged(
        batch, QUARANTINE, Where.hours("arrival_hour", interval.start, interval.end, stage="bronze")
    )
    lake.publish_staged(batch, SENSOR_MESSAGE, in_hours)
    lake.publish_staged(batch, INGEST_LEDGER, in_hours)
    lake.drop_staging(batch)
    _merge(lake, silver, interval)
    lake.replace(TOUCHED_PERIOD, side["touched"], f"run_id = {sql_literal(run_id)}")
    lake.append(DQ_RESULT, side["gates"])
    for metric in side["metrics"]:
        lake.append(RUN_METRIC, metric)


def measure(settings: object, lake: object) -> dict[str, object]:
    from wenulake.contracts.tables import TABLES
    from wenulake.maintenance import table_state

    states = {name: table_state(lake, spec).__dict__ for name, spec in TABLES.items()}  # type: ignore[arg-type]
    return {
        "tables": {k: v for k, v in states.items() if v["version"] > 0},
        "total_files": sum(v["files"] for v in states.values()),
        "total_stored_files": sum(v["stored_files"] for v in states.values()),
        "total_log_entries": sum(v["log_entries"] for v in states.values()),
        "queries": time_queries(settings),
    }


def time_queries(settings: object) -> dict[str, float]:
    """Median seconds of 5: the whole `wenulake sql` path (a session per query, as the command makes), and the
    query alone in one open session (the scan: what the files' layout changes)."""
    from wenulake.query import connect, run_query

    out = {}
    for name, sql in QUERIES.items():
        run_query(settings, sql)  # type: ignore[arg-type]  # warm-up: extensions, file metadata
        times = []
        for _ in range(5):
            began = time.perf_counter()
            run_query(settings, sql)  # type: ignore[arg-type]
            times.append(time.perf_counter() - began)
        out[f"{name} [wenulake sql]"] = round(statistics.median(times), 4)
        con = connect(settings)  # type: ignore[arg-type]
        try:
            con.execute(sql).fetchall()
            times = []
            for _ in range(5):
                began = time.perf_counter()
                con.execute(sql).fetchall()
                times.append(time.perf_counter() - began)
        finally:
            con.close()
        out[f"{name} [query alone]"] = round(statistics.median(times), 4)
    return out


def requery(work: Path, rounds: int) -> dict[str, dict[str, float]]:
    """Median over `rounds` of each query alone in an open session, one-run lake and maintained lake alternating."""
    from wenulake.query import connect

    lakes = {"one_run": settings_for(work / "one-run"), "after_maintenance": settings_for(work / "hourly")}
    cons = {name: connect(s) for name, s in lakes.items()}  # type: ignore[arg-type]
    times: dict[str, dict[str, list[float]]] = {name: {q: [] for q in QUERIES} for name in lakes}
    try:
        for con in cons.values():  # warm-up: extensions, file metadata
            for sql in QUERIES.values():
                con.execute(sql).fetchall()
        for _ in range(rounds):
            for q, sql in QUERIES.items():
                for name, con in cons.items():
                    began = time.perf_counter()
                    con.execute(sql).fetchall()
                    times[name][q].append(time.perf_counter() - began)
    finally:
        for con in cons.values():
            con.close()
    return {name: {q: round(statistics.median(v), 4) for q, v in per.items()} for name, per in times.items()}


def settings_for(home: Path) -> object:
    os.environ["WENULAKE_HOME"] = str(home)
    from wenulake.settings import Settings

    return Settings(home=home, vacuum_retention_hours=0, longest_reader_hours=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=100)
    parser.add_argument("--sensors", type=int, default=300)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--requery", type=Path, help="a finished bench's work folder: time its queries again")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    if args.requery:
        print(json.dumps(requery(args.requery, args.rounds), indent=2))
        return 0
    from wenulake.lake import Lake
    from wenulake.maintenance import maintain

    work = Path(tempfile.mkdtemp(prefix="wenulake-bench-maint-"))
    result: dict[str, object] = {"hours": args.hours, "sensors": args.sensors, "step_minutes": STEP_MINUTES}

    one = settings_for(work / "one-run")
    lake_one = Lake(one)  # type: ignore[arg-type]
    lake_one.ensure()
    began = time.perf_counter()
    run(lake_one, T0, args.hours, args.sensors, "one_run")
    result["one_run_seconds"] = round(time.perf_counter() - began, 1)
    result["one_run"] = measure(one, lake_one)
    print(f"one run over {args.hours} h: {result['one_run_seconds']} s", flush=True)

    hourly = settings_for(work / "hourly")
    lake_h = Lake(hourly)  # type: ignore[arg-type]
    lake_h.ensure()
    began = time.perf_counter()
    for h in range(args.hours):
        run(lake_h, T0 + h * HOUR, 1, args.sensors, f"scheduled__{h:04d}")
        if h % RERUN_EVERY == RERUN_EVERY - 1:  # a rerun (backfill) of an hour 3 hours back: replaced files
            run(lake_h, T0 + (h - 3) * HOUR, 1, args.sensors, f"backfill__{h - 3:04d}")
        if h % 10 == 9:
            print(f"  hourly run {h + 1}/{args.hours}: {time.perf_counter() - began:.0f} s", flush=True)
    result["hourly_runs_seconds"] = round(time.perf_counter() - began, 1)
    result["hourly_before_maintenance"] = measure(hourly, lake_h)

    began = time.perf_counter()
    report = maintain(hourly, warehouse=False)  # type: ignore[arg-type]
    result["maintenance_seconds"] = round(time.perf_counter() - began, 1)
    result["hourly_after_maintenance"] = measure(hourly, lake_h)
    result["maintenance_report"] = report.as_dict()
    print(report.table_text(), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"maintenance-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    summary = {
        phase: {
            "files": result[phase]["total_files"],  # type: ignore[index]
            "stored_files": result[phase]["total_stored_files"],  # type: ignore[index]
            "log_entries": result[phase]["total_log_entries"],  # type: ignore[index]
            "silver_max_files_per_partition": result[phase]["tables"]["silver.reading"][
                "max_files_per_partition"
            ],  # type: ignore[index]
            "queries": result[phase]["queries"],  # type: ignore[index]
        }
        for phase in ("one_run", "hourly_before_maintenance", "hourly_after_maintenance")
    }
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}; the lakes stay in {work} (--requery {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
