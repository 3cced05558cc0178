"""Read and validate a catalog directory (contract v1 CSVs), reporting every problem at once.

A problem names the file, the line (the header is line 1), the column and what was expected. Nothing is
returned unless the whole directory is valid, so a load never writes half a catalog.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wenulake.catalog.schema import CSV_COLUMNS, OPTIONAL_TABLES, SEVERITIES, threshold_id
from wenulake.errors import ConfigError, WenulakeError
from wenulake.timeutil import iso
from wenulake.units import KINDS, UNITS

Rows = dict[str, list[dict[str, Any]]]
BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class CatalogInvalid(ConfigError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        lines = "; ".join(str(p) for p in self.problems[:20])
        more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"catalog has {len(self.problems)} problem(s), nothing loaded: {lines}{more}")


class _Reader:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.problems: list[Problem] = []

    def problem(self, file: str, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(file, line, column, message))

    def read(self, table: str, required: bool = True) -> list[tuple[int, dict[str, str]]]:
        name = f"{table}.csv"
        path = self.folder / name
        if not path.exists():
            if required:
                self.problem(name, 0, "", f"file missing (expected columns {', '.join(CSV_COLUMNS[table])})")
            return []
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                self.problem(name, 1, "", "empty file: expected a header row")
                return []
            header = [h.strip() for h in header]
            expected = CSV_COLUMNS[table]
            for column in expected:
                if column not in header:
                    self.problem(name, 1, column, "missing column")
            for column in header:
                if column not in expected:
                    self.problem(name, 1, column, f"unknown column (expected {', '.join(expected)})")
            if any(c not in header for c in expected):
                return []
            rows = []
            for line, values in enumerate(reader, start=2):
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    self.problem(name, line, "", f"{len(values)} fields, expected {len(header)}")
                    continue
                rows.append((line, {h: v.strip() for h, v in zip(header, values, strict=True)}))
            return rows

    # -- typed fields ------------------------------------------------------------------------------------------
    def text(self, file: str, line: int, row: dict[str, str], column: str) -> str | None:
        value = row[column]
        if not value:
            self.problem(file, line, column, "required, got an empty value")
            return None
        return value

    def instant(
        self, file: str, line: int, row: dict[str, str], column: str, required: bool
    ) -> datetime | None:
        value = row[column]
        if not value:
            if required:
                self.problem(file, line, column, "required, expected an ISO 8601 UTC timestamp")
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.problem(file, line, column, f"expected an ISO 8601 UTC timestamp, got {value!r}")
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def number(
        self, file: str, line: int, row: dict[str, str], column: str, default: float | None
    ) -> float | None:
        value = row[column]
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            self.problem(file, line, column, f"expected a number, got {value!r}")
            return None
        return number

    def unique(self, file: str, rows: list[tuple[int, dict[str, str]]], column: str) -> None:
        seen: dict[str, int] = {}
        for line, row in rows:
            key = row[column]
            if key in seen:
                self.problem(file, line, column, f"duplicate id {key!r} (first on line {seen[key]})")
            elif key:
                seen[key] = line

    def reference(
        self, file: str, line: int, row: dict[str, str], column: str, known: set[str], target: str
    ) -> None:
        value = row[column]
        if value and value not in known:
            self.problem(file, line, column, f"{value!r} is not a {target} of the catalog")


def read_catalog(folder: Path) -> Rows:
    """Validated rows per table, typed for the store; raises CatalogInvalid listing every problem."""
    if not folder.is_dir():
        raise WenulakeError(f"catalog directory {folder} does not exist")
    r = _Reader(folder)
    raw = {table: r.read(table, required=table not in OPTIONAL_TABLES) for table in CSV_COLUMNS}
    present = {t for t in CSV_COLUMNS if t not in OPTIONAL_TABLES or (folder / f"{t}.csv").exists()}
    out: Rows = defaultdict(list)

    r.unique("companies.csv", raw["companies"], "company_id")
    for line, row in raw["companies"]:
        company_id, name = (
            r.text("companies.csv", line, row, "company_id"),
            r.text("companies.csv", line, row, "name"),
        )
        out["companies"].append({"company_id": company_id, "name": name})
    companies = {row["company_id"] for _, row in raw["companies"]}

    r.unique("sites.csv", raw["sites"], "site_id")
    for line, row in raw["sites"]:
        for column in ("site_id", "company_id", "name", "timezone"):
            r.text("sites.csv", line, row, column)
        r.reference("sites.csv", line, row, "company_id", companies, "company_id")
        if row["timezone"]:
            try:
                ZoneInfo(row["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                r.problem(
                    "sites.csv", line, "timezone", f"expected an IANA time zone, got {row['timezone']!r}"
                )
        out["sites"].append({k: row[k] for k in CSV_COLUMNS["sites"]})
    sites = {row["site_id"] for _, row in raw["sites"]}

    r.unique("devices.csv", raw["devices"], "device_id")
    for line, row in raw["devices"]:
        r.text("devices.csv", line, row, "device_id")
        r.text("devices.csv", line, row, "site_id")
        r.reference("devices.csv", line, row, "site_id", sites, "site_id")
        installed = r.instant("devices.csv", line, row, "installed_at", required=False)
        retired = r.instant("devices.csv", line, row, "retired_at", required=False)
        if installed and retired and retired <= installed:
            r.problem("devices.csv", line, "retired_at", f"must be after installed_at ({iso(installed)})")
        out["devices"].append(
            {
                "device_id": row["device_id"],
                "site_id": row["site_id"],
                "installed_at": installed,
                "retired_at": retired,
            }
        )
    devices = {row["device_id"] for _, row in raw["devices"]}

    r.unique("sensors.csv", raw["sensors"], "sensor_id")
    windows: dict[tuple[str, str], list[tuple[datetime, datetime | None, int, str]]] = defaultdict(list)
    for line, row in raw["sensors"]:
        f = "sensors.csv"
        for column in ("sensor_id", "device_id", "channel", "metric", "unit", "kind"):
            r.text(f, line, row, column)
        r.reference(f, line, row, "device_id", devices, "device_id")
        metric, unit = row["metric"], row["unit"]
        if metric and metric not in UNITS:
            r.problem(f, line, "metric", f"expected one of {', '.join(UNITS)}, got {metric!r}")
        elif metric and unit and unit not in UNITS[metric]:
            r.problem(f, line, "unit", f"expected a {metric} unit ({', '.join(UNITS[metric])}), got {unit!r}")
        if row["kind"] and row["kind"] not in KINDS:
            r.problem(f, line, "kind", f"expected gauge or counter, got {row['kind']!r}")
        scale = r.number(f, line, row, "scale", 1.0)
        offset = r.number(f, line, row, "offset", 0.0)
        valid_from = r.instant(f, line, row, "valid_from", required=True)
        valid_to = r.instant(f, line, row, "valid_to", required=False)
        if valid_from and valid_to and valid_to <= valid_from:
            r.problem(f, line, "valid_to", f"must be after valid_from ({iso(valid_from)})")
        elif valid_from and row["device_id"] and row["channel"]:
            windows[(row["device_id"], row["channel"])].append((valid_from, valid_to, line, row["sensor_id"]))
        out["sensors"].append(
            {
                "sensor_id": row["sensor_id"],
                "device_id": row["device_id"],
                "channel": row["channel"],
                "metric": metric,
                "unit": unit,
                "kind": row["kind"],
                "scale": scale,
                "offset": offset,
                "valid_from": valid_from,
                "valid_to": valid_to,
            }
        )
    for (device, channel), spans in windows.items():
        spans.sort(key=lambda s: s[0])
        for (_, end_a, line_a, id_a), (start_b, _, line_b, id_b) in itertools.pairwise(spans):
            if end_a is None or end_a > start_b:
                r.problem(
                    "sensors.csv",
                    line_b,
                    "valid_from",
                    f"sensor {id_b!r} overlaps {id_a!r} (line {line_a}) on device {device!r} channel {channel!r}: "
                    "expected valid_from at or after the previous sensor's valid_to",
                )
    sensors = {row["sensor_id"] for _, row in raw["sensors"]}

    seen_thresholds: dict[str, int] = {}
    for line, row in raw["thresholds"]:
        f = "thresholds.csv"
        r.reference(f, line, row, "sensor_id", sensors, "sensor_id")
        threshold_metric = r.text(f, line, row, "metric")
        if threshold_metric and threshold_metric not in UNITS:
            r.problem(f, line, "metric", f"expected one of {', '.join(UNITS)}, got {threshold_metric!r}")
        severity = r.text(f, line, row, "severity")
        if severity and severity not in SEVERITIES:
            r.problem(f, line, "severity", f"expected one of {', '.join(SEVERITIES)}, got {severity!r}")
        low = r.number(f, line, row, "min_value", None)
        high = r.number(f, line, row, "max_value", None)
        if not row["min_value"] and not row["max_value"]:
            r.problem(f, line, "max_value", "expected min_value, max_value or both")
        if low is not None and high is not None and low > high:
            r.problem(f, line, "max_value", f"must be at least min_value ({low})")
        key = threshold_id(row["sensor_id"] or None, row["metric"], row["severity"])
        if key in seen_thresholds:
            r.problem(
                f, line, "metric", f"duplicate threshold for {key} (first on line {seen_thresholds[key]})"
            )
        seen_thresholds[key] = line
        out["thresholds"].append(
            {
                "threshold_id": key,
                "sensor_id": row["sensor_id"] or None,
                "metric": threshold_metric,
                "min_value": low,
                "max_value": high,
                "severity": severity,
            }
        )

    r.unique("technicians.csv", raw["technicians"], "technician_id")
    for line, row in raw["technicians"]:
        f = "technicians.csv"
        for column in ("technician_id", "name", "company"):
            r.text(f, line, row, column)
        active = row["active"].lower()
        if active not in BOOLEANS:
            r.problem(f, line, "active", f"expected true or false, got {row['active']!r}")
        out["technicians"].append(
            {
                "technician_id": row["technician_id"],
                "name": row["name"],
                "company": row["company"],
                "active": BOOLEANS.get(active, False),
            }
        )

    r.unique("materials.csv", raw["materials"], "material_id")
    for line, row in raw["materials"]:
        for column in ("material_id", "name", "unit"):
            r.text("materials.csv", line, row, column)
        out["materials"].append({k: row[k] for k in CSV_COLUMNS["materials"]})

    if r.problems:
        raise CatalogInvalid(r.problems)
    return {table: out.get(table, []) for table in CSV_COLUMNS if table in present}
