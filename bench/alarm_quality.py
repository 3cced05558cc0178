"""Alarm rules against labelled data: generate a landing with injected episodes (threshold, flatline, gap,
counter reset, spikes), run the sensors DAG and the alarms DAG over it, and score every rule.

    .venv/bin/python bench/alarm_quality.py [--devices 400] [--hours 6] [--seed 11]

A truth episode is found when an alarm of its rule and sensor (device for gaps) starts within 2 minutes of it
(and, except for anomalies, ends within 2 minutes). Precision = found alarms / all alarms of the rule;
recall = found episodes / injected episodes. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

TOLERANCE = timedelta(minutes=2)
RULES = ("threshold", "flatline", "gap", "counter_reset", "anomaly")


def truth_episodes(folder: Path) -> list[dict[str, Any]]:
    """truth/episodes.csv and truth/anomalies.csv of a generated landing, as episodes keyed by sensor (device
    for gaps)."""
    from wenulake.timeutil import parse_instant

    with open(folder / "truth" / "episodes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(folder / "truth" / "anomalies.csv", newline="") as fh:
        spikes = [
            {**row, "rule": "anomaly", "started_at": row["ts"], "ended_at": ""} for row in csv.DictReader(fh)
        ]
    return [
        {
            "rule": r["rule"],
            "key": r.get("sensor_id") or r.get("device_id"),
            "started_at": parse_instant(r["started_at"]),
            "ended_at": parse_instant(r["ended_at"]) if r["ended_at"] else None,
        }
        for r in [*rows, *spikes]
    ]


def live_alarms(settings: Any) -> list[dict[str, Any]]:
    import pyarrow.compute as pc

    from wenulake.contracts.tables import FACT_ALARM
    from wenulake.lake import Lake

    table = Lake(settings).read(FACT_ALARM)
    return [
        {**r, "key": r["device_id"] if r["rule"] == "gap" else r["sensor_id"]}
        for r in table.filter(pc.not_equal(table["status"], "retracted")).to_pylist()
    ]


def match(found: list[dict[str, Any]], truth: list[dict[str, Any]]) -> tuple[list, list]:
    """(truth episodes no alarm matches, alarms no truth episode explains)."""
    missed, unexplained = [], list(found)
    for episode in truth:
        hit = next(
            (
                a
                for a in unexplained
                if a["rule"] == episode["rule"]
                and a["key"] == episode["key"]
                and abs(a["started_at"] - episode["started_at"]) <= TOLERANCE
                and (
                    episode["rule"] == "anomaly"
                    or (a["ended_at"] is not None and abs(a["ended_at"] - episode["ended_at"]) <= TOLERANCE)
                )
            ),
            None,
        )
        if hit is None:
            missed.append(episode)
        else:
            unexplained.remove(hit)
    return missed, unexplained


def score(found: list[dict[str, Any]], truth: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    missed, unexplained = match(found, truth)
    out = {}
    for rule in RULES:
        injected = sum(1 for e in truth if e["rule"] == rule)
        alarms = sum(1 for a in found if a["rule"] == rule)
        true_positives = injected - sum(1 for e in missed if e["rule"] == rule)
        out[rule] = {
            "injected": injected,
            "alarms": alarms,
            "false_alarms": sum(1 for a in unexplained if a["rule"] == rule),
            "precision": round(true_positives / alarms, 4) if alarms else 1.0,
            "recall": round(true_positives / injected, 4) if injected else 1.0,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=400)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wenulake-alarm-quality-"))
    os.environ.update(
        {
            "WENULAKE_HOME": str(work / "home"),
            "WENULAKE_LANDING": str(work / "data" / "landing"),
            "WENULAKE_KEYRING": str(work / "data" / "keyring.json"),
        }
    )
    from wenulake.catalog.store import CatalogStore
    from wenulake.devtools.generator import generate
    from wenulake.orchestrate import run_range
    from wenulake.settings import Settings
    from wenulake.timeutil import Interval, parse_instant

    manifest = generate(
        work / "data", devices=args.devices, hours=args.hours, seed=args.seed, fault_rate=0.01
    )
    settings = Settings()
    CatalogStore(settings).load(work / "data" / "catalog")
    interval = Interval(parse_instant(manifest["arrival_start"]), parse_instant(manifest["arrival_end"]))
    run_range(settings, "sensors", interval, hourly=False)
    result = {
        "devices": args.devices,
        "hours": args.hours,
        "seed": args.seed,
        "records": manifest["expected"]["records"],
    }
    result["rules"] = score(live_alarms(settings), truth_episodes(work / "data"))
    print(json.dumps(result, indent=2))
    sys.stdout.flush()
    os._exit(0)  # delta-rs threads: skip interpreter teardown (see wenulake.cli)


if __name__ == "__main__":
    sys.exit(main())
