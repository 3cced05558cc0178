"""Every input the fuzzers found crashing a parser, kept as a regression test (the target's checks, and what
the parser must now say about it)."""

from __future__ import annotations

import json

import pytest

from tests.fuzz import targets
from wenulake.contracts import Reason
from wenulake.pipeline.workorders import parse_object

CREATED = {
    "event_id": "e1",
    "event_type": "order.created",
    "schema_version": "1",
    "occurred_at": "2026-04-04T00:00:00Z",
    "order_id": "WO-1",
    "client_id": "c1",
    "site_id": "s1",
    "source": "client",
    "priority": "high",
    "sla_hours": 8,
}


@pytest.mark.parametrize(
    "override",
    [
        # found by the workorders target: timedelta(hours=8111...1) raised OverflowError in build_orders, which
        # failed the whole work-order build of the run, every retry again
        {"sla_hours": int("8" + "1" * 55)},
        {"sla_hours": 1e300},
        {"occurred_at": "9999-12-31T23:00:00Z"},  # created_at + 8 h passes datetime's range
    ],
)
def test_an_sla_past_the_calendar_is_a_malformed_event(override: dict) -> None:
    body = json.dumps({**CREATED, **override}).encode()
    targets.workorders(body)
    _copies, quarantine, (_status, records, accepted, bad) = parse_object(
        "workorders/x", body, targets.HOUR, "r", targets.NOW, targets.LIMITS
    )
    assert (records, accepted, bad) == (1, 0, 1)
    assert quarantine[0]["reason"] == Reason.MALFORMED_EVENT.value
    assert "sla_hours" in quarantine[0]["detail"]


@pytest.mark.parametrize("separator", ["\x1c", "\x1d", "\x1e", "\x1f"])
def test_a_value_ending_in_an_information_separator_is_read_alike_on_both_legacy_paths(
    separator: str,
) -> None:
    # found by the legacy target: Arrow's utf8_trim_whitespace trims U+001C..U+001F, Python's float() does
    # not, so the column-wise path accepted `1\x1d` as 1.0 where the line-by-line reference rejects the row
    body = f"timestamp,temp,rh\n2026-03-10 12:30:00,1{separator},9\n2026-03-10 12:31:00,2,{separator}\n"
    targets.legacy(b"\x00" + body.encode())
    from wenulake.legacy import parse_file

    parsed = parse_file("legacy/2026/03/dev-00001.csv", body.encode(), 2026, 3, "Europe/Madrid", targets.NOW)
    assert [(r.line, r.reason) for r in parsed.rejects] == [(2, Reason.MALFORMED_ROW)]
    assert parsed.accepted_rows == 1


def _catalog_problem(table: str, body: bytes) -> str:
    """The catalog target on one file of the sample catalog; the one-line error read_catalog gives for it."""
    from wenulake.catalog.csvfiles import CatalogInvalid, read_catalog

    targets.catalog(bytes([targets.catalog_tables().index(table)]) + body)
    assert targets._CATALOG_DIR is not None
    with pytest.raises(CatalogInvalid) as invalid:
        read_catalog(targets._CATALOG_DIR)
    return str(invalid.value)


@pytest.mark.parametrize(
    ("table", "body", "expected"),
    [
        # found by the catalog target: a byte that is not UTF-8 raised UnicodeDecodeError out of `catalog load`
        ("thresholds", b"company_id,metric\n\x9b,co2\n", "thresholds.csv:2: not UTF-8 text (byte 0x9b)"),
        # csv's field limit (131,072 characters) raised csv.Error
        (
            "companies",
            b"company_id,name\nc1," + b"x" * 140_000 + b"\n",
            "companies.csv:2: not a readable CSV",
        ),
        # a quoted header with a newline made the "one line" error two lines
        ("companies", b'company_id,name,"a\nb"\nc1,x,y\n', "companies.csv:1: 'a\\nb': unknown column"),
        # a column given twice: the last one silently won
        (
            "companies",
            b"company_id,name,name\nc1,x,y\n",
            "companies.csv:1: name: column given more than once",
        ),
    ],
)
def test_a_hostile_catalog_file_is_a_catalog_problem_not_a_crash(
    table: str, body: bytes, expected: str
) -> None:
    message = _catalog_problem(table, body)
    assert expected in message
    assert "\n" not in message
