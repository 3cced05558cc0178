"""The alarm rules' cost on an hourly run: `alarms.evaluate` (what detect_alarms runs, without the lake writes)
for every device of a silver of one-minute gauges, scoped to the last hour, as each hourly run of the schedule
scopes it.

    .venv/bin/python bench/alarms_cost.py [--devices 100] [--days 8] [--runs 3]

Silver: DEVICES devices x 3 gauges (temperature, humidity, co2), one reading a minute for DAYS days (a daily
sine, noise, a spike now and then), in an in-memory DuckDB table (the lake's Delta scan is not measured). Each
run evaluates the scope {device: the start of hour h} for the last RUNS hours, with the alarms of one evaluation of
the silver before them as gold.fact_alarm (what the schedule's earlier runs left), updated after each run. Prints one JSON object: readings
read per run, the seconds of each run, and the anomaly episodes per sensor and day of that earlier evaluation. Uses only APIs every version of the alarms module has, so the same
script measures another checkout (run it with that checkout's interpreter).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

END = datetime(2026, 4, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    import duckdb

    from wenulake.devtools.thresholds import co2_default_threshold
    from wenulake.pipeline import alarms
    from wenulake.settings import Settings

    settings = Settings()
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema silver")
    start = END - timedelta(days=args.days)
    con.execute(
        f"""
        create table silver.reading as
        select
            'd' || d || '-' || m as sensor_id,
            timestamptz '{start.isoformat()}' + to_minutes(i) as ts,
            round(
                case m when 'temp' then 21 when 'rh' then 45 else 560 end
                * (1 + 0.1 * sin(2 * pi() * i / 1440.0 + d) + 0.01 * (hash(d, m, i) % 100) / 100.0
                   + case when hash(d, m, i) % 5000 = 0 then 0.3 else 0 end),
                3
            ) as value,
            'gauge' as kind,
            case m when 'temp' then 'temperature' when 'rh' then 'humidity' else 'co2' end as metric,
            'd' || d as device_id,
            's' || (d % 25) as site_id,
            'c1' as company_id
        from range({args.devices}) as devices(d), (values ('temp'), ('rh'), ('co2')) as metrics(m),
             range({args.days * 1440}) as minutes(i)
        order by sensor_id, ts
        """
    )
    thresholds = co2_default_threshold()
    hours = {END - HOUR * k for k in range(args.days * 24)}
    coverage = alarms.coverage_table(settings, hours)
    first = END - HOUR * args.runs
    # gold.fact_alarm as the hourly schedule left it before the measured hours: one evaluation of the silver
    # before them (not timed)
    before = con.execute(
        "select * from silver.reading where ts < ? order by sensor_id, ts", [first]
    ).fetch_arrow_table()
    found = alarms.episodes(settings, before, thresholds, coverage)
    existing = alarms.reconcile_rows(alarms.Evaluation(found, {}, before.num_rows), [], "seed")
    seconds, readings = [], []
    for k in range(args.runs, 0, -1):
        hour = END - HOUR * k
        scope = {f"d{d}": hour for d in range(args.devices)}
        started = time.perf_counter()
        evaluation = alarms.evaluate(
            settings, con, scope, existing, thresholds, coverage, window_end=hour + HOUR
        )
        existing = list(
            {
                r["alarm_id"]: r for r in existing + alarms.reconcile_rows(evaluation, existing, f"run-{k}")
            }.values()
        )
        seconds.append(round(time.perf_counter() - started, 3))
        readings.append(evaluation.readings)
    print(
        json.dumps(
            {
                "sensors": args.devices * 3,
                "silver_readings": args.devices * 3 * args.days * 1440,
                "readings_per_run": readings,
                "alarms_before": found.num_rows,
                # the anomaly rule's episodes in the untimed evaluation, per sensor and day of silver before the
                # measured hours: all, and the false ones (no injected spike from their start to their end)
                **{
                    f"anomaly_{name}_per_sensor_day": round(
                        count / (args.devices * 3 * (args.days - args.runs / 24)), 3
                    )
                    for name, count in anomaly_episodes(con, found, start).items()
                },
                "seconds": seconds,
                "median_s": statistics.median(seconds),
            }
        )
    )
    return 0


def anomaly_episodes(con: object, found: object, start: datetime) -> dict[str, int]:
    """The anomaly episodes of `found`, and those without an injected spike (the silver's `hash % 5000 = 0`
    readings) between their start and their end (or the data's end, open)."""
    con.register("found", found)  # type: ignore[attr-defined]
    row = con.execute(  # type: ignore[attr-defined]
        """
        with spikes as (
            select sensor_id, ts from silver.reading
            where hash(cast(split_part(split_part(sensor_id, '-', 1), 'd', 2) as bigint), split_part(sensor_id, '-', 2),
                       cast(date_diff('minute', ?, ts) as bigint)) % 5000 = 0
        )
        select
            count(*) as episodes,
            count(*) filter (where not exists (
                select 1 from spikes
                where spikes.sensor_id = found.sensor_id and spikes.ts >= found.started_at
                and (found.ended_at is null or spikes.ts <= found.ended_at)
            )) as false_episodes
        from found where rule = 'anomaly'
        """,
        [start],
    ).fetchone()
    return {"episodes": row[0], "false_episodes": row[1]}


if __name__ == "__main__":
    raise SystemExit(main())
