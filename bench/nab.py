"""The anomaly rule on the Numenta Anomaly Benchmark (NAB): each labelled series as one sensor, through the real
pipeline, scored by NAB's standard profile (bench/nab_scorer.py).

    .venv/bin/python bench/nab.py [--series NAME,...] [--out bench/results] [--plot docs/nab-example.png]

1. The 30 series vendored in bench/nab/ (realKnownCause, realAWSCloudwatch, artificialWithAnomaly; NAB commit
   ea702d7, MIT) become a landing of the contract: series k is device `nab-kk` with one gauge sensor
   `nab-kk-p-1` (metric power, unit W: canonical, scale 1, no threshold; NAB's values fit its physical limits),
   one encrypted v2 message per value at the series' own timestamp (naive, read as UTC) moved forward by whole
   weeks so that every series starts in the week of ALIGN (the contract rejects readings before 2015, and most
   NAB series are older; whole weeks keep each reading's weekday and time of day, and series side by side make
   one landing of ~1,900 hours rather than years of mostly empty hours), received a second later; catalog CSVs
   and keyring beside it. Cached under bench/data/nab-<hash>/ (the hash of the series).
2. In a fresh WENULAKE_HOME: `catalog load`, then the sensors DAG over the landing's hours in one run, which
   schedules the alarms DAG (orchestrate.run_range, as `wenulake run sensors` does).
3. The non-retracted anomaly alarms of gold.fact_alarm are the detections (each alarm's started_at, a reading
   of its series); the scorer turns them into NAB's normalised score, the window hit rate, false alarms per
   sensor-month and detection delays.
Prints the figures as JSON, writes them to <out>/nab-<timestamp>.json and, with --plot, a PNG of one series
(--plot-series) with its labelled windows and the alarms raised.
"""

from __future__ import annotations

import argparse
import base64
import csv
import gzip
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.nab_scorer import score_series, summary  # noqa: E402

NAB = BENCH / "nab"
CORPORA = ("realKnownCause", "realAWSCloudwatch", "artificialWithAnomaly")
PLOT_SERIES = "realKnownCause/machine_temperature_system_failure.csv"
#: every series is moved by whole weeks to start in the week from this Monday
ALIGN = datetime(2024, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


def shift(stamps: list[datetime]) -> timedelta:
    """The whole weeks that move a series' first reading into the week from ALIGN."""
    return WEEK * -((stamps[0] - ALIGN) // WEEK)


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp[:19]).replace(tzinfo=UTC)


def load_series(names: list[str] | None = None) -> dict[str, tuple[list[datetime], list[float]]]:
    """NAB name -> (timestamps, values) of the vendored series (all of them, or `names`)."""
    windows = json.loads((NAB / "combined_windows.json").read_text())
    out = {}
    for name in sorted(windows):
        if names and name not in names:
            continue
        with gzip.open(NAB / "data" / f"{name}.gz", "rt", newline="") as fh:
            rows = list(csv.DictReader(fh))
        out[name] = ([parse(r["timestamp"]) for r in rows], [float(r["value"]) for r in rows])
    if names and set(names) - set(out):
        raise SystemExit(f"unknown series: {sorted(set(names) - set(out))}")
    return out


def device_of(index: int) -> str:
    return f"nab-{index:02d}"


def write_landing(series: dict[str, tuple[list[datetime], list[float]]], folder: Path) -> dict[str, Any]:
    """The landing, catalog and keyring of the series (one device and sensor each); returns the manifest."""
    from wenulake.catalog.schema import CSV_COLUMNS
    from wenulake.crypto import encrypt
    from wenulake.landing import SENSORS_STREAM, hour_prefix
    from wenulake.timeutil import EPOCH, floor_hour, iso

    rng = random.Random(17)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "catalog").mkdir(parents=True)
    keys: dict[str, Any] = {}
    hours: dict[datetime, list[str]] = {}
    devices, sensors = [], []
    for index, (stamps, values) in enumerate(series.values()):
        device = device_of(index)
        key_id, key = f"k-{device}", rng.randbytes(32)
        keys[key_id] = {"key": base64.b64encode(key).decode(), "device_id": device}
        moved = shift(stamps)
        installed = iso(stamps[0] + moved - timedelta(days=1))
        devices.append((device, "s-nab", installed, "", ""))  # retired_at, report_interval_s: learned
        sensors.append((f"{device}-p-1", device, "p", "power", "W", "gauge", 1.0, 0.0, installed, ""))
        for seq, (original, value) in enumerate(zip(stamps, values, strict=True), start=1):
            ts = original + moved
            message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            ts_ms = (ts - EPOCH) // timedelta(milliseconds=1)
            plain = json.dumps({"ts": ts_ms, "seq": seq, "readings": {"p": value}}, separators=(",", ":"))
            blob = encrypt(key, device, plain.encode(), rng.randbytes(12), key_id, message_id)
            record = {
                "message_id": message_id,
                "device_id": device,
                "key_id": key_id,
                "received_at": iso(ts + timedelta(seconds=1)),
                "payload": base64.b64encode(blob).decode(),
                "v": 2,
            }
            hours.setdefault(floor_hour(ts + timedelta(seconds=1)), []).append(
                json.dumps(record, separators=(",", ":"))
            )
    for hour, lines in hours.items():
        path = (
            tmp
            / "landing"
            / hour_prefix(SENSORS_STREAM, hour)
            / f"{SENSORS_STREAM}-1-{hour:%Y-%m-%d-%H-%M-%S}.gz"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    tables = {
        "companies": [("c-nab", "NAB")],
        "sites": [("s-nab", "c-nab", "NAB series", "UTC")],
        "devices": devices,
        "sensors": sensors,
        "thresholds": [],
    }
    for table, rows in tables.items():
        with open(tmp / "catalog" / f"{table}.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(CSV_COLUMNS[table])
            writer.writerows(rows)
    keyring = tmp / "keyring.json"
    keyring.write_text(json.dumps({"keys": keys}, indent=1) + "\n")
    keyring.chmod(0o600)
    manifest = {
        "series": {name: device_of(i) for i, name in enumerate(series)},
        "records": sum(len(v[0]) for v in series.values()),
        "arrival_start": iso(min(hours)),
        "arrival_end": iso(max(hours) + timedelta(hours=1)),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return manifest


def landing(series: dict[str, tuple[list[datetime], list[float]]], data_dir: Path) -> Path:
    digest = hashlib.sha256(json.dumps(sorted(series)).encode())
    for name in sorted(series):
        digest.update((NAB / "data" / f"{name}.gz").read_bytes())
    folder = data_dir / f"nab-{digest.hexdigest()[:12]}"
    if not (folder / "manifest.json").exists():
        print(f"writing the landing of {len(series)} series to {folder}", file=sys.stderr, flush=True)
        write_landing(series, folder)
    return folder


def run_pipeline(folder: Path, home: Path) -> dict[str, Any]:
    """catalog load + the sensors DAG (then alarms) over the landing's hours, in `home`; returns timings and
    the anomaly alarms by device."""
    os.environ.update(
        {
            "WENULAKE_HOME": str(home),
            "WENULAKE_LANDING": str(folder / "landing"),
            "WENULAKE_KEYRING": str(folder / "keyring.json"),
        }
    )
    from bench.alarm_quality import live_alarms
    from wenulake.catalog.store import CatalogStore
    from wenulake.orchestrate import run_range
    from wenulake.settings import Settings
    from wenulake.timeutil import Interval, parse_instant

    manifest = json.loads((folder / "manifest.json").read_text())
    settings = Settings()
    CatalogStore(settings).load(folder / "catalog")
    interval = Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))
    started = time.perf_counter()
    reports = run_range(settings, "sensors", interval, hourly=False)
    seconds = time.perf_counter() - started
    tasks = {f"{r.dag_id}.{t.task_id}": round(t.seconds, 2) for r in reports for t in r.tasks}
    alarms: dict[str, list[dict[str, Any]]] = {}
    for alarm in live_alarms(settings):
        if alarm["rule"] == "anomaly":
            alarms.setdefault(alarm["device_id"], []).append(alarm)
    return {"seconds": round(seconds, 1), "tasks": tasks, "alarms": alarms, "manifest": manifest}


def score(
    series: dict[str, tuple[list[datetime], list[float]]], detections: dict[str, set[datetime]]
) -> dict[str, Any]:
    windows = json.loads((NAB / "combined_windows.json").read_text())
    labels = json.loads((NAB / "combined_labels.json").read_text())
    scores = [
        score_series(
            name,
            stamps,
            detections.get(name, set()),
            [(parse(a), parse(b)) for a, b in windows[name]],
            [parse(x) for x in labels[name]],
        )
        for name, (stamps, _) in series.items()
    ]
    out = summary(scores)
    out["per_series"] = {
        s.name: {"windows": s.windows, "hits": s.hits, "false_alarms": s.false_alarms, "raw": round(s.raw, 3)}
        for s in scores
    }
    return out


def plot(
    name: str, stamps: list[datetime], values: list[float], detections: set[datetime], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = json.loads((NAB / "combined_windows.json").read_text())[name]
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    ax.plot(stamps, values, linewidth=0.6, color="#333333", label="readings")
    for i, (a, b) in enumerate(windows):
        ax.axvspan(parse(a), parse(b), color="#f4a261", alpha=0.35, label="NAB window" if i == 0 else None)
    value_at = dict(zip(stamps, values, strict=True))
    hits = sorted(detections)
    ax.scatter(hits, [value_at[t] for t in hits], color="#d62828", zorder=3, s=30, label="anomaly alarm")
    probation = stamps[min(len(stamps) - 1, int(min(0.15 * len(stamps), 750)))]
    ax.axvline(probation, color="#888888", linestyle=":", label="end of NAB probation")
    ax.set_title(f"{name}: labelled windows and the alarms raised (wenulake anomaly rule, defaults)")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", help="comma-separated NAB names (default: all 30)")
    parser.add_argument("--data", type=Path, default=BENCH / "data", help="landing cache")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--plot", type=Path, help="write a PNG of --plot-series here")
    parser.add_argument("--plot-series", default=PLOT_SERIES)
    args = parser.parse_args(argv)
    series = load_series(args.series.split(",") if args.series else None)
    folder = landing(series, args.data)
    home = Path(tempfile.mkdtemp(prefix="wenulake-nab-"))
    try:
        ran = run_pipeline(folder, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    by_device = {device: name for name, device in ran["manifest"]["series"].items()}
    detections: dict[str, set[datetime]] = {}
    for device, alarms in ran["alarms"].items():
        name = by_device[device]
        moved = shift(series[name][0])
        detections[name] = {a["started_at"] - moved for a in alarms}
    from wenulake.settings import Settings

    settings = Settings()
    result: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "nab_commit": "ea702d7",
        "parameters": {
            "window_minutes": settings.alarm_anomaly_window,
            "max_points": settings.alarm_anomaly_max_points,
            "min_window_minutes": settings.alarm_anomaly_min_window,
            "margin": settings.alarm_anomaly_margin,
            "warmup_minutes": settings.alarm_anomaly_warmup,
            "hold_minutes": settings.alarm_anomaly_hold,
        },
        "records": ran["manifest"]["records"],
        "pipeline_seconds": ran["seconds"],
        "task_seconds": ran["tasks"],
        **score(series, detections),
    }
    if args.plot and args.plot_series in series:
        stamps, values = series[args.plot_series]
        plot(args.plot_series, stamps, values, detections.get(args.plot_series, set()), args.plot)
        result["plot"] = str(args.plot)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"nab-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    target.write_text(json.dumps(result, indent=2, default=str) + "\n")
    figures = {k: v for k, v in result.items() if k not in ("per_series", "task_seconds")}
    print(json.dumps({**figures, "results": str(target)}, indent=2, default=str))
    sys.stdout.flush()
    os._exit(0)  # delta-rs threads: skip interpreter teardown (see wenulake.cli)


if __name__ == "__main__":
    sys.exit(main())
