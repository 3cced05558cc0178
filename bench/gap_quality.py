"""The gap rule on devices with ordinary jitter: false gap alarms per device-month and real silences found.

    .venv/bin/python bench/gap_quality.py [--per-cadence 4] [--days 35] [--seed 17] [--out bench/results]

Devices report every 5, 10, 15, 30 and 60 minutes (`--per-cadence` of each), each interval jittered by up to
+-10%, skipping one reading now and then (2%, never two in a row), for `--days` days; each device also falls silent 3 times for
3 hours to 3 days (the injected, real silences). The readings go into a DuckDB silver and the alarms stage's
own evaluation (wenulake.pipeline.alarms.evaluate, as the detect_alarms task runs it, every landing hour
processed) judges them, three ways: cadences learned (the default), cadences from the catalog
(devices.report_interval_s), and the rule as it was before cadences (WENULAKE_ALARM_GAP_MINUTES alone, no
merging). A gap alarm overlapping no injected silence is false. Prints one JSON object and writes it to
`--out`/gap_quality.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CADENCES_S = (300, 600, 900, 1800, 3600)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
SILENCES = (timedelta(hours=3), timedelta(hours=8), timedelta(days=1), timedelta(days=3))
JITTER = 0.10
SKIP = 0.02
MONTH_DAYS = 30.0


def generate(per_cadence: int, days: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Readings (one temperature gauge per device) and, per device, its cadence and injected silences."""
    rng = random.Random(seed)
    end = T0 + timedelta(days=days)
    rows: list[dict[str, Any]] = []
    devices: dict[str, Any] = {}
    for cadence in CADENCES_S:
        for i in range(per_cadence):
            device = f"c{cadence}-{i}"
            silences: list[tuple[datetime, datetime]] = []
            lengths = [s for s in SILENCES if s <= timedelta(days=days) / 5]
            for _ in range(1000):  # 3 silences after the first day, 12 hours apart at least
                if len(silences) == 3:
                    break
                length = rng.choice(lengths)
                latest = days * 24 * 60 - int(length / timedelta(minutes=1)) - 12 * 60
                start = T0 + timedelta(minutes=rng.randrange(24 * 60, latest))
                span = (start, start + length)
                if all(
                    span[1] + timedelta(hours=12) < a or span[0] > b + timedelta(hours=12)
                    for a, b in silences
                ):
                    silences.append(span)
            devices[device] = {"cadence_s": cadence, "silences": sorted(silences)}
            ts = T0 + timedelta(seconds=rng.uniform(0, cadence))
            skipped = False
            while ts < end:
                skipped = not skipped and rng.random() < SKIP  # one reading missing, never two in a row
                if not any(a <= ts < b for a, b in silences) and not skipped:
                    rows.append(
                        {
                            "sensor_id": f"{device}-t",
                            "ts": ts,
                            "value": round(21 + rng.gauss(0, 0.5), 3),
                            "kind": "gauge",
                            "metric": "temperature",
                            "device_id": device,
                            "site_id": "s1",
                            "company_id": "c1",
                        }
                    )
                ts += timedelta(seconds=cadence * (1 + rng.uniform(-JITTER, JITTER)))
    return rows, devices


def judge(settings: Any, rows: list[dict[str, Any]], catalog: Any) -> tuple[list[dict[str, Any]], float, Any]:
    """The gap episodes the alarms stage's evaluation finds over `rows` (every hour processed)."""
    import duckdb
    import pyarrow as pa

    from wenulake.contracts.tables import TS
    from wenulake.pipeline import alarms
    from wenulake.timeutil import floor_hour

    schema = pa.schema([("sensor_id", pa.string()), ("ts", TS), ("value", pa.float64()), ("kind", pa.string()),
                        ("metric", pa.string()), ("device_id", pa.string()), ("site_id", pa.string()),
                        ("company_id", pa.string())])  # fmt: skip
    silver = pa.Table.from_pylist(rows, schema=schema)
    first = floor_hour(min(r["ts"] for r in rows))
    last = floor_hour(max(r["ts"] for r in rows))
    hours = [first + timedelta(hours=i) for i in range(int((last - first) / timedelta(hours=1)) + 1)]
    thresholds = pa.schema([("threshold_id", pa.string()), ("sensor_id", pa.string()), ("metric", pa.string()),
                            ("min_value", pa.float64()), ("max_value", pa.float64()),
                            ("severity", pa.string())]).empty_table()  # fmt: skip
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema silver")
    con.register("silver_rows", silver)
    con.execute("create view silver.reading as select * from silver_rows")
    started = time.perf_counter()
    evaluation = alarms.evaluate(
        settings,
        con,
        dict.fromkeys({r["device_id"] for r in rows}, first),
        [],
        thresholds,
        alarms.coverage_table(settings, hours),
        devices=catalog,
    )
    seconds = time.perf_counter() - started
    con.close()
    gaps = [e for e in evaluation.found.to_pylist() if e["rule"] == "gap"]
    latest = alarms.latest_cadences(evaluation.cadences) if evaluation.cadences is not None else None
    return gaps, seconds, latest


def score(gaps: list[dict[str, Any]], devices: dict[str, Any], days: int) -> dict[str, Any]:
    """False alarms (overlapping no injected silence) per device-month, overall, per cadence and on the first
    day (while a cadence is still being learned); injected silences found (overlapped by an alarm)."""
    far = T0 + timedelta(days=days + 1)
    false: list[dict[str, Any]] = []
    found = 0
    for gap in gaps:
        spans = devices[gap["device_id"]]["silences"]
        end = gap["ended_at"] or far
        if not any(gap["started_at"] < b and end > a for a, b in spans):
            false.append(gap)
    for device, info in devices.items():
        mine = [g for g in gaps if g["device_id"] == device]
        for a, b in info["silences"]:
            found += any(g["started_at"] < b and (g["ended_at"] or far) > a for g in mine)
    months = len(devices) * days / MONTH_DAYS
    per_cadence = {}
    for cadence in CADENCES_S:
        mine = [d for d, info in devices.items() if info["cadence_s"] == cadence]
        n = sum(1 for g in false if g["device_id"] in mine)
        per_cadence[f"{cadence // 60}min"] = {
            "false_per_device_month": round(n / (len(mine) * days / MONTH_DAYS), 3),
            "gap_alarms": sum(1 for g in gaps if g["device_id"] in mine),
        }
    first_day = sum(1 for g in false if g["started_at"] < T0 + timedelta(days=1))
    return {
        "gap_alarms": len(gaps),
        "false_alarms": len(false),
        "false_per_device_month": round(len(false) / months, 3),
        "false_first_day": first_day,
        "false_per_device_month_after_first_day": round((len(false) - first_day) / months, 3),
        "silences_found": found,
        "silences_injected": sum(len(info["silences"]) for info in devices.values()),
        "per_cadence": per_cadence,
        "hourly_device_alarms_per_device_month": per_cadence["60min"]["gap_alarms"]
        / (sum(1 for i in devices.values() if i["cadence_s"] == 3600) * days / MONTH_DAYS),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-cadence", type=int, default=4, help="devices per cadence (5 cadences)")
    parser.add_argument("--days", type=int, default=35, help="days of readings (>= 5)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if args.days < 5:
        parser.error("--days must be at least 5")

    import pyarrow as pa

    from wenulake.settings import Settings

    rows, devices = generate(args.per_cadence, args.days, args.seed)
    settings = Settings()
    catalog = pa.table(
        {"device_id": list(devices), "report_interval_s": [info["cadence_s"] for info in devices.values()]}
    )
    legacy = Settings(alarm_gap_cadence_factor=1e-9, alarm_gap_merge_periods=0)
    result: dict[str, Any] = {
        "devices": len(devices),
        "days": args.days,
        "readings": len(rows),
        "jitter": f"+-{JITTER:.0%} of the interval",
        "skipped_readings": f"{SKIP:.0%}",
        "settings": {
            "gap_minutes": settings.alarm_gap_minutes,
            "cadence_factor": settings.alarm_gap_cadence_factor,
            "merge_periods": settings.alarm_gap_merge_periods,
            "cadence_days": settings.alarm_cadence_days,
            "cadence_min_intervals": settings.alarm_cadence_min_intervals,
        },
    }
    for name, run_settings, table in (("learned", settings, None), ("catalog", settings, catalog),
                                      ("before_cadence", legacy, None)):  # fmt: skip
        gaps, seconds, latest = judge(run_settings, rows, table)
        result[name] = {**score(gaps, devices, args.days), "evaluate_seconds": round(seconds, 2)}
        if name == "learned" and latest is not None:
            error = [
                abs(r["report_interval_s"] - devices[r["device_id"]]["cadence_s"])
                / devices[r["device_id"]]["cadence_s"]
                for r in latest.to_pylist()
            ]
            result[name]["learned_cadence_max_relative_error"] = round(max(error), 4) if error else None
    result["goal_false_per_device_month_at_most_1"] = result["learned"]["false_per_device_month"] <= 1.0
    text = json.dumps(result, indent=2, default=str)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gap_quality.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
