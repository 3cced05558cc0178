"""`make bench` (migration part): how fast the historical migration is, at the size of the issue's target.

Writes two consecutive months (January and February 2025) of one-minute readings (temperature, humidity, CO2)
for N devices (default 100, the target's device count) in legacy format v0 (naive local times, some quoted
values and empty cells), and migrates them one after the other with the same code as `wenulake migrate`
(parse, attribute, silver gate, publish, stats/warehouse/alarms refresh), as the first two months of a real
migration run: the first pays the process's start-up (imports, GX context), the second is a later month
migrated beside the first. Reports seconds per phase, values per second and the peak RSS of each month, and
extrapolates to the target, a year of one-minute readings for 100 devices (about 158M values): the first
month as measured, the rest at the second month's seconds per value.

    python bench/migration.py [--devices 100] [--out bench/results]
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
MONTHS = ((2025, 1), (2025, 2))


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


def legacy_month(source: Path, devices: int, year: int = 2025, month: int = 1) -> int:
    """Write the month; returns the number of non-empty values."""
    start = datetime(year, month, 1)
    minutes = int((datetime(year + month // 12, month % 12 + 1, 1) - start).total_seconds()) // 60
    rng = random.Random(year * 100 + month)
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
    parser.add_argument(
        "--devices", type=int, default=100, help="devices in each month (default: the target's 100)"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wenulake-bench-migration-"))
    os.environ["WENULAKE_HOME"] = str(work / "home")
    os.environ.setdefault("WENULAKE_AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    sys.path.insert(0, str(BENCH.parent))
    from bench.run import PeakRss
    from wenulake.catalog.store import CatalogStore
    from wenulake.pipeline import migrate
    from wenulake.settings import Settings

    catalog(work / "catalog", args.devices)
    CatalogStore(Settings()).load(work / "catalog")
    written = time.perf_counter()
    values = [legacy_month(work / "legacy", args.devices, year, month) for year, month in MONTHS]
    write_s = time.perf_counter() - written
    months = []
    for (year, month), expected in zip(MONTHS, values, strict=True):
        name = f"{year:04d}-{month:02d}"
        with PeakRss() as rss:
            report = migrate.migrate_month(Settings(), str(work / "legacy"), name)
        if report.readings != expected:
            raise SystemExit(f"{name}: expected {expected} readings, migrated {report.readings}")
        months.append((name, report, rss.peak))
    (_, first, _), (_, later, _) = months[0], months[1]
    per_value = later.seconds / later.readings
    extrapolated_s = first.seconds + per_value * (TARGET_VALUES - first.readings)
    result = {
        "devices": args.devices,
        "months": [
            {
                "month": name,
                "rows": r.rows,
                "values": r.readings,
                "seconds": r.seconds,
                "values_per_s": round(r.readings / r.seconds),
                "peak_rss_mib": round(peak / 2**20),
                "phases_s": r.phases,
            }
            for name, r, peak in months
        ],
        "seconds": later.seconds,
        "first_month_seconds": first.seconds,
        "phases_s": later.phases,
        "values_per_s": round(later.readings / later.seconds),
        "parse_values_per_s": round(later.readings / later.phases["parse"]),
        "peak_rss_mib": round(max(peak for _, _, peak in months) / 2**20),
        "write_legacy_files_s": round(write_s, 2),
        "target_values": TARGET_VALUES,
        "target_extrapolated_min": round(extrapolated_s / 60, 1),
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 1)},
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"migration-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, r, peak in months:
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in r.phases.items())
        print(
            f"migration {name}: {args.devices} devices, {r.rows} rows, {r.readings} values in {r.seconds:.1f} s "
            f"({round(r.readings / r.seconds)} values/s, peak RSS {peak / 2**30:.1f} GiB; {phases})"
        )
    print(
        f"a year of 100 devices ({TARGET_VALUES / 1e6:.0f}M values) extrapolates to "
        f"{result['target_extrapolated_min']} min: the first month as measured, the rest at the second "
        f"month's rate (load average {result['machine']['load_average_1m']} on {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
