"""`make bench` (migration part): how fast the historical migration is, on a generated legacy slice.

Writes one month of one-minute readings (temperature, humidity, CO2) for N devices in legacy format v0 (naive
local times, some quoted values and empty cells), migrates it with the same code as `wenulake migrate`
(parse, attribute, silver gate, publish, stats/warehouse/alarms refresh), and reports seconds per phase,
values per second, and the extrapolation to the issue's target: a year of one-minute readings for 100 devices
(about 150M values, twelve months): the process's start-up once (the first month's extra seconds), then the
warm month's seconds per value (measured by migrating the same month a second time, a redo).

    python bench/migration.py [--devices 10] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TARGET_VALUES = 100 * 365 * 24 * 60 * 3  # a year, 100 devices, one-minute rows of 3 channels: ~158M
MONTH = (2025, 1)


def catalog(directory: Path, devices: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "companies.csv").write_text("company_id,name\nbench,Bench\n")
    (directory / "sites.csv").write_text("site_id,company_id,name,timezone\nsite,bench,Site,Europe/Madrid\n")
    (directory / "thresholds.csv").write_text("sensor_id,metric,min_value,max_value,severity\n")
    dev = ["device_id,site_id,installed_at,retired_at"]
    sen = ["sensor_id,device_id,channel,metric,unit,kind,scale,offset,valid_from,valid_to"]
    for i in range(devices):
        d = f"legacy-{i:04d}"
        dev.append(f"{d},site,2020-01-01T00:00:00Z,")
        for channel, metric, unit in (
            ("temp", "temperature", "F"),
            ("rh", "humidity", "%"),
            ("co2", "co2", "ppm"),
        ):
            sen.append(f"{d}-{channel},{d},{channel},{metric},{unit},gauge,1.0,0.0,2020-01-01T00:00:00Z,")
    (directory / "devices.csv").write_text("\n".join(dev) + "\n")
    (directory / "sensors.csv").write_text("\n".join(sen) + "\n")


def legacy_month(source: Path, devices: int) -> int:
    """Write the month; returns the number of non-empty values."""
    year, month = MONTH
    start = datetime(year, month, 1)
    minutes = 31 * 24 * 60
    rng = random.Random(1)
    values = 0
    folder = source / f"{year:04d}" / f"{month:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(devices):
        lines = ["timestamp,temp,rh,co2"]
        for m in range(minutes):
            t = start + timedelta(minutes=m)
            temp = f"{68 + rng.random() * 6:.2f}"
            rh = "" if m % 97 == 0 else f"{40 + rng.random() * 10:.1f}"
            co2 = f'"{400 + rng.randrange(300)}"'
            values += 2 + (rh != "")
            lines.append(f"{t:%Y-%m-%d %H:%M:%S},{temp},{rh},{co2}")
        (folder / f"legacy-{i:04d}.csv").write_text("\r\n".join(lines) + "\r\n")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10, help="devices in the slice (one month each)")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wenulake-bench-migration-"))
    os.environ["WENULAKE_HOME"] = str(work / "home")
    os.environ.setdefault("WENULAKE_AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from wenulake.catalog.store import CatalogStore
    from wenulake.pipeline import migrate
    from wenulake.settings import Settings

    catalog(work / "catalog", args.devices)
    CatalogStore(Settings()).load(work / "catalog")
    written = time.perf_counter()
    values = legacy_month(work / "legacy", args.devices)
    write_s = time.perf_counter() - written
    month = f"{MONTH[0]:04d}-{MONTH[1]:02d}"
    cold = migrate.migrate_month(Settings(), str(work / "legacy"), month)
    # the same month again in the same process (a redo: replaces what the first run wrote), as the second and
    # later months of `wenulake migrate` run: libraries imported, GX context built
    report = migrate.migrate_month(Settings(), str(work / "legacy"), month)
    for run in (cold, report):
        if run.readings != values:
            raise SystemExit(f"expected {values} readings, migrated {run.readings}")
    per_value = report.seconds / values
    start_up = max(0.0, cold.seconds - report.seconds)
    result = {
        "devices": args.devices,
        "rows": report.rows,
        "values": values,
        "seconds": report.seconds,
        "first_month_seconds": cold.seconds,
        "phases_s": report.phases,
        "values_per_s": round(values / report.seconds),
        "parse_values_per_s": round(values / report.phases["parse"]),
        "write_legacy_files_s": round(write_s, 2),
        "target_values": TARGET_VALUES,
        "target_extrapolated_min": round((start_up + per_value * TARGET_VALUES) / 60, 1),
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 1)},
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"migration-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in report.phases.items())
    print(
        f"migration: {args.devices} devices x 1 month = {report.rows} rows, {values} values in "
        f"{report.seconds:.1f} s warm, {cold.seconds:.1f} s as the first month of a process "
        f"({result['values_per_s']} values/s warm; {phases}); "
        f"a year of 100 devices ({TARGET_VALUES / 1e6:.0f}M values) extrapolates to "
        f"{result['target_extrapolated_min']} min (load average {result['machine']['load_average_1m']} on "
        f"{os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
