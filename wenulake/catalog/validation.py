"""The catalog's validation rules, once: used by `catalog load` (CSV rows), the REST API and the backoffice forms.

A rule reads one row (CSV strings, or the typed values of a JSON body or a form), reports problems as
`(column, message)` and returns the row typed for the store. The caller says where a problem is (a CSV file and
line, a JSON field, a form input): the message is the same everywhere. Rules that need other rows (a reference to
a parent, a sensor's validity overlapping another) take a lookup, so the CSV path checks against the files and
the service against the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wenulake.catalog.schema import SEVERITIES, threshold_id
from wenulake.timeutil import iso
from wenulake.units import KINDS, UNITS

BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

#: `exists(value)`: is there a parent row with this key?
Exists = Callable[[str], bool]


@dataclass(frozen=True, order=True)
class FieldProblem:
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}" if self.column else self.message


@dataclass
class Checker:
    """Collects the problems of one row."""

    problems: list[FieldProblem] = field(default_factory=list)

    def problem(self, column: str, message: str) -> None:
        self.problems.append(FieldProblem(column, message))

    @staticmethod
    def raw(row: Mapping[str, Any], column: str) -> str:
        """The value as the user wrote it: stripped text, '' for none."""
        value = row.get(column)
        if value is None:
            return ""
        if isinstance(value, datetime):
            return iso(value)
        return str(value).strip()

    def text(self, row: Mapping[str, Any], column: str) -> str | None:
        value = self.raw(row, column)
        if not value:
            self.problem(column, "required, got an empty value")
            return None
        return value

    def instant(self, row: Mapping[str, Any], column: str, required: bool) -> datetime | None:
        value = row.get(column)
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        text = self.raw(row, column)
        if not text:
            if required:
                self.problem(column, "required, expected an ISO 8601 UTC timestamp")
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.problem(column, f"expected an ISO 8601 UTC timestamp, got {text!r}")
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def number(self, row: Mapping[str, Any], column: str, default: float | None) -> float | None:
        value = row.get(column)
        text = self.raw(row, column)
        if not text:
            return default
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
        if not math.isfinite(number):
            self.problem(column, f"expected a number, got {text!r}")
            return None
        return number

    def positive_int(self, row: Mapping[str, Any], column: str) -> int | None:
        """An optional positive whole number ('' or none = None)."""
        value = row.get(column)
        text = self.raw(row, column)
        if not text:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(text)
            except ValueError:
                number = None
        if number is None or number <= 0:
            self.problem(column, f"expected a positive whole number of seconds, got {text!r}")
            return None
        return number

    def reference(self, row: Mapping[str, Any], column: str, exists: Exists, target: str) -> None:
        value = self.raw(row, column)
        if value and not exists(value):
            self.problem(column, f"{value!r} is not a {target} of the catalog")


def company(row: Mapping[str, Any], c: Checker) -> dict[str, Any]:
    return {"company_id": c.text(row, "company_id"), "name": c.text(row, "name")}


def site(row: Mapping[str, Any], c: Checker, company_exists: Exists) -> dict[str, Any]:
    for column in ("site_id", "company_id", "name", "timezone"):
        c.text(row, column)
    c.reference(row, "company_id", company_exists, "company_id")
    zone = c.raw(row, "timezone")
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            c.problem("timezone", f"expected an IANA time zone, got {zone!r}")
    return {k: c.raw(row, k) for k in ("site_id", "company_id", "name", "timezone")}


def device(row: Mapping[str, Any], c: Checker, site_exists: Exists) -> dict[str, Any]:
    c.text(row, "device_id")
    c.text(row, "site_id")
    c.reference(row, "site_id", site_exists, "site_id")
    installed = c.instant(row, "installed_at", required=False)
    retired = c.instant(row, "retired_at", required=False)
    if installed and retired and retired <= installed:
        c.problem("retired_at", f"must be after installed_at ({iso(installed)})")
    return {
        "device_id": c.raw(row, "device_id"),
        "site_id": c.raw(row, "site_id"),
        "installed_at": installed,
        "retired_at": retired,
        "report_interval_s": c.positive_int(row, "report_interval_s"),
    }


def sensor(row: Mapping[str, Any], c: Checker, device_exists: Exists) -> dict[str, Any]:
    for column in ("sensor_id", "device_id", "channel", "metric", "unit", "kind"):
        c.text(row, column)
    c.reference(row, "device_id", device_exists, "device_id")
    metric, unit, kind = c.raw(row, "metric"), c.raw(row, "unit"), c.raw(row, "kind")
    if metric and metric not in UNITS:
        c.problem("metric", f"expected one of {', '.join(UNITS)}, got {metric!r}")
    elif metric and unit and unit not in UNITS[metric]:
        c.problem("unit", f"expected a {metric} unit ({', '.join(UNITS[metric])}), got {unit!r}")
    if kind and kind not in KINDS:
        c.problem("kind", f"expected gauge or counter, got {kind!r}")
    scale = c.number(row, "scale", 1.0)
    offset = c.number(row, "offset", 0.0)
    valid_from = c.instant(row, "valid_from", required=True)
    valid_to = c.instant(row, "valid_to", required=False)
    if valid_from and valid_to and valid_to <= valid_from:
        c.problem("valid_to", f"must be after valid_from ({iso(valid_from)})")
    return {
        "sensor_id": c.raw(row, "sensor_id"),
        "device_id": c.raw(row, "device_id"),
        "channel": c.raw(row, "channel"),
        "metric": metric,
        "unit": unit,
        "kind": kind,
        "scale": scale,
        "offset": offset,
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


def overlap_message(sensor_id: str, other_id: str, device_id: str, channel: str, where: str = "") -> str:
    """Two sensors of one device and channel may not be valid at the same instant."""
    return (
        f"sensor {sensor_id!r} overlaps {other_id!r}{where} on device {device_id!r} channel {channel!r}: "
        "expected valid_from at or after the previous sensor's valid_to"
    )


def windows_overlap(a_from: datetime, a_to: datetime | None, b_from: datetime, b_to: datetime | None) -> bool:
    """Do [a_from, a_to) and [b_from, b_to) intersect (None = open-ended)?"""
    return (a_to is None or b_from < a_to) and (b_to is None or a_from < b_to)


def threshold(row: Mapping[str, Any], c: Checker, sensor_exists: Exists) -> dict[str, Any]:
    c.reference(row, "sensor_id", sensor_exists, "sensor_id")
    metric = c.text(row, "metric")
    if metric and metric not in UNITS:
        c.problem("metric", f"expected one of {', '.join(UNITS)}, got {metric!r}")
    severity = c.text(row, "severity")
    if severity and severity not in SEVERITIES:
        c.problem("severity", f"expected one of {', '.join(SEVERITIES)}, got {severity!r}")
    low = c.number(row, "min_value", None)
    high = c.number(row, "max_value", None)
    if not c.raw(row, "min_value") and not c.raw(row, "max_value"):
        c.problem("max_value", "expected min_value, max_value or both")
    if low is not None and high is not None and low > high:
        c.problem("max_value", f"must be at least min_value ({low})")
    sensor_id = c.raw(row, "sensor_id") or None
    return {
        "threshold_id": threshold_id(sensor_id, c.raw(row, "metric"), c.raw(row, "severity")),
        "sensor_id": sensor_id,
        "metric": metric,
        "min_value": low,
        "max_value": high,
        "severity": severity,
    }


def technician(row: Mapping[str, Any], c: Checker) -> dict[str, Any]:
    for column in ("technician_id", "name", "company"):
        c.text(row, column)
    value = row.get("active")
    if isinstance(value, bool):
        active: bool | None = value
    else:
        active = BOOLEANS.get(c.raw(row, "active").lower())
        if active is None:
            c.problem("active", f"expected true or false, got {c.raw(row, 'active')!r}")
    return {
        "technician_id": c.raw(row, "technician_id"),
        "name": c.raw(row, "name"),
        "company": c.raw(row, "company"),
        "active": bool(active),
    }


def material(row: Mapping[str, Any], c: Checker) -> dict[str, Any]:
    for column in ("material_id", "name", "unit"):
        c.text(row, column)
    return {k: c.raw(row, k) for k in ("material_id", "name", "unit")}
