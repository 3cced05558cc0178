"""Legacy export format v0: the pure parser (no catalog, no lake)."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime

import pytest

from wenulake.contracts import Reason
from wenulake.legacy import month_bounds, parse_file, parse_month

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def parse(text: str | bytes, key: str = "legacy/2026/03/dev-1.csv", zone: str | None = "Europe/Madrid"):
    data = text.encode() if isinstance(text, str) else text
    return parse_file(key, data, 2026, 3, zone, NOW)


def cells(parsed) -> list[tuple[int, datetime, str, float]]:
    rows = parsed.cells.to_pylist()
    return [(r["line"], r["ts"], r["channel"], r["raw_value"]) for r in rows]


def test_offsets_quotes_bom_crlf_and_nulls() -> None:
    parsed = parse(
        '\ufefftimestamp,temp,"rh"\r\n2026-03-10T10:00:00+01:00,"21.5",\r\n"2026-03-10T09:01:00Z",21.6,40\r\n'
    )
    assert parsed.channels == ["temp", "rh"]
    assert parsed.rows == 2
    assert parsed.accepted_rows == 2
    assert parsed.null_values == 1
    assert sorted(cells(parsed)) == [
        (2, datetime(2026, 3, 10, 9, 0, tzinfo=UTC), "temp", 21.5),
        (3, datetime(2026, 3, 10, 9, 1, tzinfo=UTC), "rh", 40.0),
        (3, datetime(2026, 3, 10, 9, 1, tzinfo=UTC), "temp", 21.6),
    ]
    assert parsed.cells["local_date"].to_pylist()[0] == date(2026, 3, 10)


def test_naive_local_time_and_nonexistent_hour_moves_forward() -> None:
    # Madrid, 2026-03-29: 02:00 local does not exist (clocks go 02:00 -> 03:00)
    parsed = parse("timestamp,temp\n2026-03-29 01:30:00,1\n2026-03-29 02:30:00,2\n2026-03-29 03:30:00,3\n")
    got = {value: ts for _, ts, _, value in cells(parsed)}
    assert got[1.0] == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert got[2.0] == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # read as 02:30+01:00, i.e. 03:30 summer time
    assert got[3.0] == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # the same instant: a duplicate downstream
    assert parsed.dst_nonexistent == 1
    assert parsed.dst_ambiguous == 0


def test_ambiguous_hour_first_earlier_then_later() -> None:
    # Madrid, 2025-10-26: 02:00-03:00 local happens twice (03:00 summer -> 02:00 winter)
    text = "timestamp,temp\n2025-10-26 02:30:00,1\n2025-10-26 02:30:00,2\n2025-10-26 03:30:00,3\n"
    parsed = parse_file("legacy/2025/10/dev-1.csv", text.encode(), 2025, 10, "Europe/Madrid", NOW)
    got = {value: ts for _, ts, _, value in cells(parsed)}
    assert got[1.0] == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert got[2.0] == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert got[3.0] == datetime(2025, 10, 26, 2, 30, tzinfo=UTC)
    assert parsed.dst_ambiguous == 2
    assert parsed.dst_nonexistent == 0


def test_every_defect_is_a_reject_with_its_line() -> None:
    text = "\n".join(
        [
            "timestamp,temp,rh",
            "2026-03-10 10:00:00,1,2",  # 2 ok
            "2026-03-10 10:01:00,1",  # 3 too few
            "2026-03-10 10:02:00,1,2,3",  # 4 too many
            "yesterday,1,2",  # 5 bad timestamp
            "2026-03-10 10:03:00,abc,2",  # 6 not a number
            "2026-03-10 10:04:00,nan,2",  # 7 not finite
            "2026-03-10 10:05:00,1_000,2",  # 8 not a plain number
            '2026-03-10 10:06:00,"1,2',  # 9 unbalanced quote
            "",  # 10 blank
            "2014-12-31T00:00:00Z,1,2",  # 11 before 2015
            "2026-04-01 00:30:00,1,2",  # 12 local April in a March file
            "2026-02-28T23:30:00Z,1,2",  # 13 00:30 local on 1 March: in the month
            "2026-03-31T23:30:00Z,1,2",  # 14 01:30 local on 1 April: not in the month
        ]
    )
    parsed = parse(text)
    by_line = {r.line: r.reason for r in parsed.rejects}
    assert by_line == {
        3: Reason.MALFORMED_ROW,
        4: Reason.MALFORMED_ROW,
        5: Reason.MALFORMED_ROW,
        6: Reason.MALFORMED_ROW,
        7: Reason.MALFORMED_ROW,
        8: Reason.MALFORMED_ROW,
        9: Reason.MALFORMED_ROW,
        11: Reason.IMPLAUSIBLE_TIMESTAMP,
        12: Reason.IMPLAUSIBLE_TIMESTAMP,
        14: Reason.IMPLAUSIBLE_TIMESTAMP,
    }
    assert parsed.rows == 12
    assert parsed.blank_lines == 1
    assert parsed.accepted_rows == 2
    assert parsed.rows == len(parsed.rejects) + parsed.accepted_rows
    assert next(r for r in parsed.rejects if r.line == 3).raw == "2026-03-10 10:01:00,1"
    assert next(r for r in parsed.rejects if r.line == 4).detail == "4 fields, the header has 3"


def test_unknown_device_is_one_per_well_formed_row() -> None:
    parsed = parse(
        "timestamp,temp\n2026-03-10 10:00:00,1\n2026-03-10 10:01:00\n2026-03-10 10:02:00,\n", zone=None
    )
    assert [(r.line, r.reason) for r in parsed.rejects] == [
        (2, Reason.UNKNOWN_DEVICE),
        (3, Reason.MALFORMED_ROW),
        (4, Reason.UNKNOWN_DEVICE),
    ]
    assert parsed.cells.num_rows == 0


def test_bad_header_makes_every_line_malformed() -> None:
    parsed = parse("time,temp\n2026-03-10 10:00:00,1\n2026-03-10 10:01:00,2\n")
    assert [(r.line, r.reason) for r in parsed.rejects] == [
        (2, Reason.MALFORMED_ROW),
        (3, Reason.MALFORMED_ROW),
    ]
    assert "header must start with 'timestamp'" in parsed.rejects[0].detail
    duplicated = parse("timestamp,temp,temp\n2026-03-10 10:00:00,1,2\n")
    assert duplicated.rejects[0].reason == Reason.MALFORMED_ROW
    assert duplicated.accepted_rows == 0


def test_gzip_and_unreadable_files() -> None:
    body = gzip.compress(b"timestamp,temp\r\n2026-03-10 10:00:00,1\r\n")
    parsed = parse(body, key="legacy/2026/03/dev-1.csv.gz")
    assert parsed.device_id == "dev-1"
    assert parsed.accepted_rows == 1
    broken = parse(b"not gzip at all", key="legacy/2026/03/dev-1.csv.gz")
    assert broken.unreadable
    assert broken.rows == 0
    assert [(r.line, r.reason) for r in broken.rejects] == [(None, Reason.MALFORMED_ROW)]
    assert broken.count(Reason.MALFORMED_ROW) == 0  # not a row: counted in unreadable_files


def test_month_helpers() -> None:
    assert parse_month("2026-03") == (2026, 3)
    assert month_bounds(2026, 12) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="not a month"):
        parse_month("2026-13")


# -- the column-wise path equals the line-by-line one ----------------------------------------------------------
def _minutes(start: datetime, count: int, zone_naive: bool = True) -> list[str]:
    from datetime import timedelta

    rows = []
    for m in range(count):
        t = start + timedelta(minutes=m)
        rh = "" if m % 7 == 0 else f"{40 + m % 10}.5"
        rows.append(f'{t:%Y-%m-%d %H:%M:%S},{20 + m % 5}.25,{rh},"{400 + m % 30}"')
    return rows


def _same(key: str, text: str | bytes, year: int, month: int, zone: str | None = "Europe/Madrid"):
    data = text.encode() if isinstance(text, str) else text
    fast = parse_file(key, data, year, month, zone, NOW)
    slow = parse_file(key, data, year, month, zone, NOW, column_wise=False)
    assert fast.cells.equals(slow.cells)
    for name in ("device_id", "channels", "rows", "accepted_rows", "null_values", "blank_lines"):
        assert getattr(fast, name) == getattr(slow, name), name
    for name in ("dst_ambiguous", "dst_nonexistent", "unreadable", "repeats", "rejects"):
        assert getattr(fast, name) == getattr(slow, name), name
    return fast


def _clean_path_taken(key: str, text: str, year: int, month: int, zone: str = "Europe/Madrid") -> bool:
    from wenulake.legacy import _parse_clean, decode

    lines = decode(key, text.encode()).splitlines()
    channels = lines[0].split(",")[1:]
    return _parse_clean(key, "d", text, lines, channels, year, month, zone, NOW) is not None


def test_column_wise_path_on_a_clean_month_with_quotes_nulls_bom_and_crlf() -> None:
    text = "\ufeff" + "\r\n".join(["timestamp,temp,rh,co2", *_minutes(datetime(2026, 3, 10), 3000)]) + "\r\n"
    parsed = _same("legacy/2026/03/dev-1.csv", text, 2026, 3)
    assert parsed.accepted_rows == 3000
    assert _clean_path_taken("legacy/2026/03/dev-1.csv", text.lstrip("\ufeff").replace("\r\n", "\n"), 2026, 3)


def test_column_wise_path_resolves_the_repeated_hour_like_the_line_rules() -> None:
    # Madrid, 2025-10-26 02:00-03:00 local happens twice: a logger in local time writes it twice
    first = _minutes(datetime(2025, 10, 26, 1, 0), 120)  # 01:00 .. 02:59
    again = _minutes(datetime(2025, 10, 26, 2, 0), 120)  # 02:00 .. 03:59 (the repeated hour, then 03:00)
    text = "\n".join(["timestamp,temp,rh,co2", *first, *again]) + "\n"
    parsed = _same("legacy/2025/10/dev-1.csv", text, 2025, 10)
    assert parsed.dst_ambiguous == 120
    assert not parsed.repeats
    assert _clean_path_taken("legacy/2025/10/dev-1.csv", text, 2025, 10)


@pytest.mark.parametrize(
    "body",
    [
        "2026-03-29 01:30:00,1\n2026-03-29 02:30:00,2\n",  # nonexistent local time
        "2026-03-10 10:00:00,1\n\n2026-03-10 10:01:00,2\n",  # blank line
        "2026-03-10 10:00:00,nan\n",  # not finite
        "2026-03-10 10:00:00,1e999\n",  # overflow
        "2026-03-10 10:00:00, 1.5 \n2026-03-10T10:01:00,+2\n",  # spaces, T, sign
        "2026-03-10 10:00:00,1\n2026-03-10 10:00,2\n",  # no seconds
        "2026-03-10 10:00:00,1\n2026-03-10T09:01:00Z,2\n",  # an offset
        '2026-03-10 10:00:00,"1,5"\n',  # a comma inside quotes
        '2026-03-10 10:00:00,"1"x\n',  # text after a quote
        "2026-03-10 10:00:00,1\n2026-04-01 00:30:00,2\n",  # not in the month
        "2026-03-10 10:00:00,1\n2026-03-10 10:01:00,1,2\n",  # too many fields
        "2026-02-30 10:00:00,1\n",  # no such day
        "2026-03-10 10:00:00,٣\n",  # a digit Python reads and Arrow does not
        "2026-03-10 10:00:00,1\r2026-03-10 10:01:00,2\n",  # a lone CR
        "2026-03-10 10:00:00,\n2026-03-10 10:01:00,\n",  # every value empty
    ],
)
def test_any_doubt_gives_the_line_by_line_result(body: str) -> None:
    _same("legacy/2026/03/dev-1.csv", "timestamp,temp\n" + body, 2026, 3)


def test_column_wise_path_on_the_uci_occupancy_excerpt(tmp_path) -> None:
    from pathlib import Path

    from tests.uci_occupancy_to_v0 import convert

    source = Path(__file__).parent / "data" / "uci_occupancy" / "datatraining_excerpt.txt"
    convert(source, tmp_path, "uci-room")
    path = tmp_path / "2015" / "02" / "uci-room.csv"
    text = path.read_text()
    parsed = _same("legacy/2015/02/uci-room.csv", text, 2015, 2, zone="Europe/Brussels")
    assert parsed.accepted_rows == 200
    assert _clean_path_taken("legacy/2015/02/uci-room.csv", text, 2015, 2, zone="Europe/Brussels")
