"""Legacy export format v0 (docs/legacy-format.md): the pre-lakehouse system's readings as CSV files, one per
device and month, `<source>/<YYYY>/<MM>/<device_id>.csv[.gz]`.

Pure parsing: `parse_file(...)` turns one file's bytes into cells (line, ts, local date, channel, raw value) and
rejects (reason, line, raw text, detail), with the counts the migration's accounting needs. The catalog lookups
(device -> site zone, channel -> sensor) and every write live in `wenulake.pipeline.migrate`.

Rules (first match wins, per data line):
1. a blank line is skipped and counted (`blank_lines`), it is not a row;
2. `malformed_row`: too few or too many fields, a timestamp that is not ISO 8601, or a value that is not a finite
   number (a header that is not `timestamp,<channel>,...` makes every line of the file malformed);
3. `unknown_device`: the file's device is not in the catalog (one per row);
4. `implausible_timestamp`: before 2015-01-01, more than 24 h after the migration started, or not in the file's
   month in the site's local time (so months never overlap);
5. per non-empty cell, `unknown_channel` when no sensor of the device and channel is valid at ts (decided by the
   migration against the catalog).
Naive timestamps are the site's local time: an ambiguous one (the repeated hour when clocks go back) is the
earlier instant the first time it occurs in the file and the later instant when it occurs again; a nonexistent one
(skipped when clocks go forward) is read with the offset in force before the change, i.e. moved forward by the gap.
Both are counted (`dst_ambiguous`, `dst_nonexistent`).
"""

from __future__ import annotations

import csv
import gzip
import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa

from wenulake.contracts import Reason
from wenulake.contracts.tables import TS

FORMAT_VERSION = "v0"
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(hours=24)
FILE_NAME = re.compile(r"^(?P<device_id>[^/]+?)\.csv(?P<gz>\.gz)?$")
MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
LINE_END = re.compile(r"\r?\n")

CELLS_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("local_date", pa.date32(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("raw_value", pa.float64(), nullable=False),
    ]
)


def parse_month(text: str) -> tuple[int, int]:
    """`YYYY-MM` -> (year, month); ValueError with a clear message otherwise."""
    found = MONTH.match(text.strip())
    if not found or not 1 <= int(found["month"]) <= 12:
        raise ValueError(f"{text!r} is not a month (YYYY-MM)")
    return int(found["year"]), int(found["month"])


def month_name(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The month's UTC bounds (start inclusive, end exclusive)."""
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass
class Reject:
    reason: Reason
    line: int | None  # CSV line number (header = 1); None for a file that cannot be read at all
    raw: str
    detail: str
    ts: datetime | None = None


@dataclass
class ParsedFile:
    key: str  # `legacy/<YYYY>/<MM>/<file name>`
    device_id: str
    channels: list[str]
    cells: pa.Table  # CELLS_SCHEMA: the non-empty cells of accepted rows
    rows: int = 0  # data lines (blank lines excluded)
    accepted_rows: int = 0
    null_values: int = 0
    blank_lines: int = 0
    dst_ambiguous: int = 0
    dst_nonexistent: int = 0
    unreadable: bool = False
    repeats: bool = False  # an instant occurs on two accepted lines (duplicates are possible)
    rejects: list[Reject] = field(default_factory=list)

    def count(self, reason: Reason) -> int:
        return sum(1 for r in self.rejects if r.reason == reason and r.line is not None)


class ZoneResolver:
    """Naive local times -> UTC and UTC -> local date for one IANA zone, cached per hour (a zone's offset
    changes at most once in an hour that is checked whole; other hours take the exact path)."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self._naive: dict[datetime, timedelta | None] = {}
        self._utc: dict[datetime, timedelta | None] = {}
        self.seen_ambiguous: set[datetime] = set()
        self.ambiguous = 0
        self.nonexistent = 0

    def _steady_offset(self, hour: datetime) -> timedelta | None:
        """The offset of a naive local hour if it is the same all through the hour, else None."""
        z = self.zone
        first = hour.replace(tzinfo=z)
        last = (hour + timedelta(minutes=59, seconds=59)).replace(tzinfo=z)
        offsets = {
            first.utcoffset(),
            first.replace(fold=1).utcoffset(),
            last.utcoffset(),
            last.replace(fold=1).utcoffset(),
        }
        return offsets.pop() if len(offsets) == 1 else None

    def to_utc(self, naive: datetime) -> datetime:
        hour = naive.replace(minute=0, second=0, microsecond=0)
        if hour not in self._naive:
            self._naive[hour] = self._steady_offset(hour)
        offset = self._naive[hour]
        if offset is not None:
            return (naive - offset).replace(tzinfo=UTC)
        early = naive.replace(tzinfo=self.zone)
        late = early.replace(fold=1)
        if early.utcoffset() == late.utcoffset():
            return early.astimezone(UTC)
        if early.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == naive:
            self.ambiguous += 1
            if naive in self.seen_ambiguous:
                return late.astimezone(UTC)
            self.seen_ambiguous.add(naive)
            return early.astimezone(UTC)
        self.nonexistent += 1  # fold=0 of a skipped time uses the offset before the change
        return early.astimezone(UTC)

    def local(self, utc: datetime) -> datetime:
        hour = utc.replace(minute=0, second=0, microsecond=0)
        if hour not in self._utc:
            a, b = (
                hour.astimezone(self.zone).utcoffset(),
                (hour + timedelta(minutes=59, seconds=59)).astimezone(self.zone).utcoffset(),
            )
            self._utc[hour] = a if a == b else None
        offset = self._utc[hour]
        if offset is not None:
            return (utc + offset).replace(tzinfo=None)
        return utc.astimezone(self.zone).replace(tzinfo=None)


def _split(line: str) -> list[str]:
    if '"' not in line:
        return line.split(",")
    return next(csv.reader([line], strict=True))


def _number(text: str) -> float | None:
    """An empty cell is None; a number (quotes already removed) is a float; anything else raises ValueError."""
    if not text or text.isspace():
        return None
    value = float(text)
    if "_" in text or not math.isfinite(value):
        raise ValueError(text)
    return value


def decode(key: str, data: bytes) -> str:
    """The file's text: gunzipped when the name ends in .gz, UTF-8 with an optional BOM."""
    if key.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def parse_file(
    key: str,
    data: bytes,
    year: int,
    month: int,
    zone: str | None,
    now: datetime,
) -> ParsedFile:
    """Parse one legacy file of month (year, month). `zone` is the device's site zone, None when the device is
    not in the catalog (its well-formed rows become `unknown_device`)."""
    name = key.rsplit("/", 1)[-1]
    matched = FILE_NAME.match(name)
    device_id = matched["device_id"] if matched else name
    empty = CELLS_SCHEMA.empty_table()
    try:
        text = decode(key, data)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        parsed = ParsedFile(key, device_id, [], empty, unreadable=True)
        parsed.rejects.append(Reject(Reason.MALFORMED_ROW, None, "", f"cannot read the file: {exc}"))
        return parsed
    lines = LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    header_problem = None
    channels: list[str] = []
    if not lines:
        header_problem = "the file is empty (no header)"
    else:
        try:
            names = [n.strip() for n in _split(lines[0])]
        except csv.Error as exc:
            names, header_problem = [], f"header is not CSV: {exc}"
        if header_problem is None:
            channels = names[1:]
            if not names or names[0] != "timestamp":
                header_problem = f"header must start with 'timestamp', found {names[0] if names else ''!r}"
            elif not channels or any(not c for c in channels) or len(set(channels)) != len(channels):
                header_problem = "header needs distinct, non-empty channel names after 'timestamp'"
    parsed = ParsedFile(key, device_id, channels if header_problem is None else [], empty)
    resolver = ZoneResolver(zone) if zone else None
    width = len(channels) + 1
    latest = now + FUTURE_SLACK
    lines_out: list[int] = []
    ts_out: list[datetime] = []
    dates_out: list[date] = []
    values_out: list[list[float | None]] = [[] for _ in channels]
    rejects = parsed.rejects

    for index in range(1, len(lines)):
        line = lines[index]
        number = index + 1
        if not line or line.isspace():
            parsed.blank_lines += 1
            continue
        parsed.rows += 1
        if header_problem is not None:
            rejects.append(Reject(Reason.MALFORMED_ROW, number, line, header_problem))
            continue
        try:
            fields = _split(line)
        except csv.Error as exc:
            rejects.append(Reject(Reason.MALFORMED_ROW, number, line, f"not a CSV row: {exc}"))
            continue
        if len(fields) != width:
            rejects.append(
                Reject(Reason.MALFORMED_ROW, number, line, f"{len(fields)} fields, the header has {width}")
            )
            continue
        ts_text = fields[0].strip()
        try:
            stamp = datetime.fromisoformat(ts_text)
        except ValueError:
            rejects.append(
                Reject(Reason.MALFORMED_ROW, number, line, f"timestamp {ts_text!r} is not ISO 8601")
            )
            continue
        row: list[float | None] = []
        bad = None
        for channel, cell in zip(channels, fields[1:], strict=True):
            try:
                row.append(_number(cell))
            except ValueError:
                bad = f"value {cell.strip()!r} of {channel!r} is not a number"
                break
        if bad is not None:
            rejects.append(Reject(Reason.MALFORMED_ROW, number, line, bad))
            continue
        if resolver is None:
            rejects.append(
                Reject(Reason.UNKNOWN_DEVICE, number, line, f"device {device_id!r} is not in the catalog")
            )
            continue
        utc = resolver.to_utc(stamp) if stamp.tzinfo is None else stamp.astimezone(UTC)
        local = resolver.local(utc)
        if utc < EARLIEST or utc > latest or (local.year, local.month) != (year, month):
            why = (
                "before 2015-01-01"
                if utc < EARLIEST
                else "in the future"
                if utc > latest
                else f"local time {local.isoformat()} is not in {month_name(year, month)}"
            )
            rejects.append(Reject(Reason.IMPLAUSIBLE_TIMESTAMP, number, line, why, utc))
            continue
        parsed.accepted_rows += 1
        lines_out.append(number)
        ts_out.append(utc)
        dates_out.append(local.date())
        for j, value in enumerate(row):
            values_out[j].append(value)

    if resolver is not None:
        parsed.dst_ambiguous, parsed.dst_nonexistent = resolver.ambiguous, resolver.nonexistent
    if lines_out:
        line_arr = pa.array(lines_out, pa.int64())
        ts_arr = pa.array(ts_out, TS)
        date_arr = pa.array(dates_out, pa.date32())
        parts = []
        for channel, values in zip(channels, values_out, strict=True):
            raw = pa.array(values, pa.float64())
            parsed.null_values += raw.null_count
            part = pa.table(
                {
                    "line": line_arr,
                    "ts": ts_arr,
                    "local_date": date_arr,
                    "channel": pa.array([channel] * len(values), pa.string()),
                    "raw_value": raw,
                }
            )
            parts.append(part.filter(raw.is_valid()) if raw.null_count else part)
        parsed.cells = pa.concat_tables(parts).cast(CELLS_SCHEMA)
        parsed.repeats = len(set(ts_out)) != len(ts_out)
    return parsed
