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

A clean file (every row well formed, naive `YYYY-MM-DD HH:MM:SS` times of a known device, plausible, no blank
line, no nonexistent local time) is parsed column-wise by Arrow (`_parse_clean`), about ten times faster; any
other file, or any doubt, takes the line-by-line path above. Both give the same result (tests/test_legacy.py).
"""

from __future__ import annotations

import csv
import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from wenulake.contracts import Reason
from wenulake.contracts.tables import TS
from wenulake.landing import (
    DEFAULT_LIMITS,
    CorruptObject,
    InputLimits,
    bounded_raw,
    decompress_capped,
    too_big,
)

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


def decode(key: str, data: bytes, limits: InputLimits = DEFAULT_LIMITS) -> str:
    """The file's text: gunzipped when the name ends in .gz (streaming, capped), UTF-8 with an optional BOM.
    Raises CorruptObject for a file over `limits.max_object_bytes`, stored or decompressed."""
    refused = too_big(len(data), limits)
    if refused:
        raise CorruptObject(refused)
    if key.endswith(".gz"):
        data = decompress_capped(data, limits.max_object_bytes)
    return data.decode("utf-8-sig")


#: a field made only of a quoted value without quotes or commas inside (what the column-wise path accepts)
_QUOTED_FIELD = re.compile(r'(?:(?<=,)|^)"[^",\r\n]*"(?=,|\r?$)', re.MULTILINE)
_NAIVE_TS = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_SEPARATORS = "[\x1c-\x1f]"


def _flat(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (compute functions over a CSV table's columns return chunked ones)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _parse_clean(
    key: str,
    device_id: str,
    text: str,
    lines: list[str],
    channels: list[str],
    year: int,
    month: int,
    zone: str,
    now: datetime,
) -> ParsedFile | None:
    """The column-wise path for a clean file; None as soon as anything would need the line-by-line rules."""
    import pyarrow.csv as pacsv

    data_lines = lines[1:]
    if not data_lines or any(not line or line.isspace() for line in data_lines):
        return None
    if '"' in text and '"' in _QUOTED_FIELD.sub("", text):
        return None
    names = ["timestamp", *channels]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(("\n".join(data_lines) + "\n").encode()),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    n = table.num_rows
    if n != len(data_lines):
        return None
    stamps = table["timestamp"]
    if not pc.all(pc.match_substring_regex(stamps, _NAIVE_TS)).as_py():
        return None
    try:
        spaced = pc.replace_substring(stamps, "T", " ")
        seconds = pc.strptime(spaced, format="%Y-%m-%d %H:%M:%S", unit="s")
        if not pc.all(pc.equal(pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S"), spaced)).as_py():
            return None  # a day or time that does not exist (strptime rolls 02-30 over to 03-02)
        naive = seconds.cast(pa.timestamp("us"))
        early = pc.assume_timezone(naive, timezone=zone, ambiguous="earliest", nonexistent="raise")
        late = pc.assume_timezone(naive, timezone=zone, ambiguous="latest", nonexistent="raise")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a nonexistent local time, or a date that does not exist
    values = []
    for channel in channels:
        if pc.any(pc.match_substring_regex(table[channel], _SEPARATORS)).as_py():
            return None  # Arrow trims U+001C..U+001F as whitespace, Python's float() does not
        cells = pc.utf8_trim_whitespace(table[channel])
        empty = pc.equal(cells, "")
        numeric = pc.or_(empty, pc.match_substring_regex(cells, _NUMBER))
        if not pc.all(numeric).as_py():
            return None
        try:
            column = pc.cast(pc.if_else(empty, pa.scalar(None, pa.string()), cells), pa.float64())
        except pa.ArrowInvalid:
            return None
        if pc.all(pc.is_finite(pc.drop_null(column))).as_py() is False:
            return None  # inf, nan or an overflow: the line-by-line path rejects those rows
        values.append(column)
    ambiguous = pc.not_equal(early, late)
    dst_ambiguous = pc.sum(ambiguous).as_py() or 0
    utc = early
    if dst_ambiguous:  # the earlier instant the first time a naive time occurs in the file, later afterwards
        seen: set[Any] = set()
        pick = []
        for is_ambiguous, stamp in zip(ambiguous.to_pylist(), naive.to_pylist(), strict=True):
            pick.append(bool(is_ambiguous) and stamp in seen)
            if is_ambiguous:
                seen.add(stamp)
        utc = pc.if_else(pa.array(pick, pa.bool_()), late, early)
    utc = utc.cast(TS)
    local = pc.local_timestamp(pc.cast(utc, pa.timestamp("us", tz=zone)))
    first, last = pc.min_max(utc).values()
    lo, hi = pc.min_max(local).values()
    if (
        first.as_py() < EARLIEST
        or last.as_py() > now + FUTURE_SLACK
        or (lo.as_py().year, lo.as_py().month) != (year, month)
        or (hi.as_py().year, hi.as_py().month) != (year, month)
    ):
        return None
    parsed = ParsedFile(key, device_id, channels, CELLS_SCHEMA.empty_table())
    parsed.rows = parsed.accepted_rows = n
    parsed.dst_ambiguous = dst_ambiguous
    line_arr = pa.array(range(2, n + 2), pa.int64())
    date_arr = pc.cast(local, pa.date32())
    utc_arr, date_arr = _flat(utc), _flat(date_arr)
    parts = []
    for channel, column in zip(channels, values, strict=True):
        raw = _flat(column)
        parsed.null_values += raw.null_count
        part = pa.table(
            {
                "line": line_arr,
                "ts": utc_arr,
                "local_date": date_arr,
                "channel": pa.repeat(pa.scalar(channel, pa.string()), n),
                "raw_value": raw,
            }
        )
        parts.append(part.filter(raw.is_valid()) if raw.null_count else part)
    parsed.cells = pa.concat_tables(parts).cast(CELLS_SCHEMA)
    parsed.repeats = pc.count_distinct(utc_arr).as_py() != n
    return parsed


def parse_file(
    key: str,
    data: bytes,
    year: int,
    month: int,
    zone: str | None,
    now: datetime,
    column_wise: bool = True,
    limits: InputLimits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Parse one legacy file of month (year, month). `zone` is the device's site zone, None when the device is
    not in the catalog (its well-formed rows become `unknown_device`). `column_wise=False` forces the
    line-by-line path (the reference the column-wise one is tested against)."""
    name = key.rsplit("/", 1)[-1]
    matched = FILE_NAME.match(name)
    device_id = matched["device_id"] if matched else name
    empty = CELLS_SCHEMA.empty_table()
    try:
        text = decode(key, data, limits)
    except (CorruptObject, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
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
    if column_wise and header_problem is None and zone is not None:
        try:
            clean = _parse_clean(key, device_id, text, lines, channels, year, month, zone, now)
        except Exception:  # any doubt, hostile input included: the line-by-line path decides per row
            clean = None
        if clean is not None:
            return clean
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
        raw_line = bounded_raw(line, limits.raw_bytes)
        try:
            if header_problem is not None:
                rejects.append(Reject(Reason.MALFORMED_ROW, number, raw_line, header_problem))
                continue
            try:
                fields = _split(line)
            except csv.Error as exc:
                rejects.append(Reject(Reason.MALFORMED_ROW, number, raw_line, f"not a CSV row: {exc}"))
                continue
            if len(fields) != width:
                rejects.append(
                    Reject(
                        Reason.MALFORMED_ROW,
                        number,
                        raw_line,
                        f"{len(fields)} fields, the header has {width}",
                    )
                )
                continue
            ts_text = fields[0].strip()
            try:
                stamp = datetime.fromisoformat(ts_text)
            except ValueError:
                rejects.append(
                    Reject(Reason.MALFORMED_ROW, number, raw_line, f"timestamp {ts_text!r} is not ISO 8601")
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
                rejects.append(Reject(Reason.MALFORMED_ROW, number, raw_line, bad))
                continue
            if resolver is None:
                rejects.append(
                    Reject(
                        Reason.UNKNOWN_DEVICE, number, raw_line, f"device {device_id!r} is not in the catalog"
                    )
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
                rejects.append(Reject(Reason.IMPLAUSIBLE_TIMESTAMP, number, raw_line, why, utc))
                continue
        except Exception as exc:  # hostile input the rules above did not foresee (e.g. year 1 + offset)
            why = f"row could not be parsed ({type(exc).__name__}: {str(exc)[:80]})"
            rejects.append(Reject(Reason.MALFORMED_ROW, number, raw_line, why))
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


def parse_task(args: tuple[Any, ...]) -> ParsedFile:
    """`parse_file(*args)`, for a process pool (this module imports only pyarrow, so workers start fast);
    args are parse_file's, optionally followed by `column_wise` and `limits`."""
    return parse_file(*args)
