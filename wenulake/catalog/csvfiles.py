"""Read and validate a catalog directory (contract v1 CSVs), reporting every problem at once.

A problem names the file, the line (the header is line 1), the column and what was expected; the rules
themselves live in `wenulake.catalog.validation`, shared with the catalog service's API and forms. Nothing is
returned unless the whole directory is valid, so a load never writes half a catalog.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from wenulake.catalog import validation
from wenulake.catalog.schema import CSV_COLUMNS, OPTIONAL_COLUMNS, OPTIONAL_TABLES
from wenulake.catalog.validation import Checker
from wenulake.errors import ConfigError, WenulakeError

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        column = self.column if self.column.isprintable() else repr(self.column)  # a header with a newline
        message = self.message if self.message.isprintable() else repr(self.message)
        return f"{where}: {column}: {message}" if column else f"{where}: {message}"


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
        #: tables whose file could not be read (missing, empty, columns missing): the root cause of any
        #: reference to them failing, so references to them are not checked (no follow-on errors)
        self.unreadable: set[str] = set()

    def known(self, table: str, ids: set[str]) -> Any:
        """The lookup a reference to `table` checks against; everything passes when its file was unreadable."""
        if table in self.unreadable:
            return lambda _value: True
        return ids.__contains__

    def problem(self, file: str, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(file, line, column, message))

    def read(self, table: str, required: bool = True) -> list[tuple[int, dict[str, str]]]:
        name = f"{table}.csv"
        path = self.folder / name
        if not path.exists():
            if required:
                self.problem(name, 0, "", f"file missing (expected columns {', '.join(CSV_COLUMNS[table])})")
                self.unreadable.add(table)
            return []
        body = path.read_bytes()
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = body[: exc.start].count(b"\n") + 1
            self.problem(
                name, line, "", f"not UTF-8 text (byte 0x{body[exc.start]:02x}): save the file as UTF-8"
            )
            self.unreadable.add(table)
            return []
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            return self._rows(name, table, reader)
        except csv.Error as exc:  # a field over csv's size limit, a broken quote at the end of the file
            self.problem(name, max(reader.line_num, 1), "", f"not a readable CSV file: {exc}")
            self.unreadable.add(table)
            return []

    def _rows(self, name: str, table: str, reader: Any) -> list[tuple[int, dict[str, str]]]:
        header = next(reader, None)
        if header is None:
            self.problem(name, 1, "", "empty file: expected a header row")
            self.unreadable.add(table)
            return []
        header = [h.strip() for h in header]
        expected = CSV_COLUMNS[table]
        needed = [c for c in expected if c not in OPTIONAL_COLUMNS.get(table, ())]
        for column in needed:
            if column not in header:
                self.problem(name, 1, column, "missing column")
        for column in header:
            if column not in expected:
                self.problem(name, 1, column, f"unknown column (expected {', '.join(expected)})")
        if any(c not in header for c in needed):
            self.unreadable.add(table)
            return []
        if len(set(header)) != len(header):
            for column in sorted({c for c in header if header.count(c) > 1}):
                self.problem(name, 1, column, "column given more than once")
            self.unreadable.add(table)
            return []
        absent = {c: "" for c in expected if c not in header}
        rows = []
        for line, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                self.problem(name, line, "", f"{len(values)} fields, expected {len(header)}")
                continue
            rows.append((line, {**absent, **{h: v.strip() for h, v in zip(header, values, strict=True)}}))
        return rows

    def check(self, file: str, line: int, rule: Any, row: dict[str, str], *lookups: Any) -> dict[str, Any]:
        """Apply one of `validation`'s row rules, placing its problems at this file and line."""
        checker = Checker()
        typed: dict[str, Any] = rule(row, checker, *lookups)
        for p in checker.problems:
            self.problem(file, line, p.column, p.message)
        return typed

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
        out["companies"].append(r.check("companies.csv", line, validation.company, row))
    companies = {row["company_id"] for _, row in raw["companies"]}

    r.unique("sites.csv", raw["sites"], "site_id")
    for line, row in raw["sites"]:
        out["sites"].append(r.check("sites.csv", line, validation.site, row, r.known("companies", companies)))
    sites = {row["site_id"] for _, row in raw["sites"]}

    r.unique("devices.csv", raw["devices"], "device_id")
    for line, row in raw["devices"]:
        out["devices"].append(r.check("devices.csv", line, validation.device, row, r.known("sites", sites)))
    devices = {row["device_id"] for _, row in raw["devices"]}

    r.unique("sensors.csv", raw["sensors"], "sensor_id")
    windows: dict[tuple[str, str], list[tuple[datetime, datetime | None, int, str]]] = defaultdict(list)
    for line, row in raw["sensors"]:
        typed = r.check("sensors.csv", line, validation.sensor, row, r.known("devices", devices))
        valid_from, valid_to = typed["valid_from"], typed["valid_to"]
        if valid_from and not (valid_to and valid_to <= valid_from) and row["device_id"] and row["channel"]:
            windows[(row["device_id"], row["channel"])].append((valid_from, valid_to, line, row["sensor_id"]))
        out["sensors"].append(typed)
    for (device, channel), spans in windows.items():
        spans.sort(key=lambda s: s[0])
        for (_, end_a, line_a, id_a), (start_b, _, line_b, id_b) in itertools.pairwise(spans):
            if end_a is None or end_a > start_b:
                r.problem(
                    "sensors.csv",
                    line_b,
                    "valid_from",
                    validation.overlap_message(id_b, id_a, device, channel, f" (line {line_a})"),
                )
    sensors = {row["sensor_id"] for _, row in raw["sensors"]}

    seen_thresholds: dict[str, int] = {}
    for line, row in raw["thresholds"]:
        typed = r.check("thresholds.csv", line, validation.threshold, row, r.known("sensors", sensors))
        key = typed["threshold_id"]
        if key in seen_thresholds:
            r.problem(
                "thresholds.csv",
                line,
                "metric",
                f"duplicate threshold for {key} (first on line {seen_thresholds[key]})",
            )
        seen_thresholds[key] = line
        out["thresholds"].append(typed)

    r.unique("technicians.csv", raw["technicians"], "technician_id")
    for line, row in raw["technicians"]:
        out["technicians"].append(r.check("technicians.csv", line, validation.technician, row))

    r.unique("materials.csv", raw["materials"], "material_id")
    for line, row in raw["materials"]:
        out["materials"].append(r.check("materials.csv", line, validation.material, row))

    if r.problems:
        raise CatalogInvalid(r.problems)
    return {table: out.get(table, []) for table in CSV_COLUMNS if table in present}
