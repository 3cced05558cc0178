"""Hostile landed input (issue 18): no record, object or legacy file can fail an hour; each becomes quarantine.

Every case here failed the task (an exception out of the parser) or stored an unbounded `raw` before the fix.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime

from tests.test_bronze_decode import KEYRING, record
from wenulake.contracts import Reason
from wenulake.landing import InputLimits, bounded_raw, decode_body, split_records
from wenulake.legacy import parse_file
from wenulake.pipeline.workorders import parse_object
from wenulake.settings import Settings
from wenulake.transforms.bronze import OutcomeBuilder, decode_body_into
from wenulake.transforms.workorders import RECORD_STARTS, classify

DEEP = "[" * 1024  # about 1 KB of nesting: RecursionError in json before the fix
NOW = datetime(2026, 4, 4, 12, tzinfo=UTC)
HOUR = datetime(2026, 4, 4, 10, tzinfo=UTC)
SMALL = InputLimits(max_object_bytes=64 * 1024, max_record_bytes=2048, max_json_depth=16, raw_bytes=256)


def bronze_rows(body: bytes, key: str = "sensors/x", limits: InputLimits | None = None) -> list[dict]:
    out = OutcomeBuilder()
    meta = {"size": len(body), "etag": "e", "last_modified": None}
    decode_body_into(out, key, 0, meta, body, KEYRING, limits or InputLimits())
    return out.flush().to_pylist()


def kinds(rows: list[dict]) -> list[tuple]:
    return [(r["kind"], r["reason"]) for r in rows]


# -- sensor records ----------------------------------------------------------------------------------------
def test_deeply_nested_record_is_one_malformed_record_and_the_others_survive() -> None:
    good = json.dumps(record())
    for sep in ("\n", ""):
        rows = bronze_rows(sep.join([good, DEEP, good]).encode())
        assert kinds(rows) == [
            ("message", None),
            ("message", None),
            ("quarantine", "malformed_record"),
            ("object", None),
        ], sep
        assert rows[-1]["records"] == 3


def test_nesting_deeper_than_the_limit_is_refused_even_when_python_could_parse_it() -> None:
    nested = json.dumps({**record(), "extra": json.loads("[" * 20 + "]" * 20)})
    rows = bronze_rows(nested.encode(), limits=SMALL)
    assert kinds(rows) == [("quarantine", "malformed_record"), ("object", None)]
    assert "depth" in rows[0]["detail"]


def test_deep_nesting_inside_a_valid_record_field_is_malformed() -> None:
    rec = record()
    text = json.dumps(rec)[:-1] + ', "x": ' + "[" * 3000 + "]" * 3000 + "}"
    rows = bronze_rows(text.encode())
    assert kinds(rows) == [("quarantine", "malformed_record"), ("object", None)]


def test_a_record_over_the_size_limit_is_malformed_with_a_bounded_raw() -> None:
    huge = json.dumps({**record(), "padding": "x" * 10_000})
    rows = bronze_rows(huge.encode(), limits=SMALL)
    assert kinds(rows) == [("quarantine", "malformed_record"), ("object", None)]
    assert str(len(huge)) in rows[0]["detail"]
    assert "2048" in rows[0]["detail"]
    raw = rows[0]["raw"]
    assert len(raw.encode()) < 256 + 200
    assert raw.startswith(huge[:200])
    assert str(len(huge.encode())) in raw
    assert hashlib.sha256(huge.encode()).hexdigest() in raw


def test_a_broken_piece_without_newline_has_a_bounded_raw() -> None:
    garbage = "x" * 100_000
    rows = bronze_rows(garbage.encode())
    assert kinds(rows) == [("quarantine", "malformed_record"), ("object", None)]
    assert len(rows[0]["raw"]) < InputLimits().raw_bytes + 200


def test_bounded_raw_keeps_short_pieces_as_they_are() -> None:
    assert bounded_raw("garbage", 4096) == "garbage"
    assert bounded_raw("é" * 10, 5).startswith("éé")


# -- objects -------------------------------------------------------------------------------------------------
def test_a_gzip_bomb_is_a_corrupt_object_with_the_reason_in_detail() -> None:
    bomb = gzip.compress(b" " * (4 * 1024 * 1024))  # 4 MiB of spaces in about 4 KB
    assert len(bomb) < 10_000
    rows = bronze_rows(bomb, key="sensors/bomb.gz", limits=SMALL)
    assert kinds(rows) == [("quarantine", "corrupt_object"), ("object", None)]
    assert rows[1]["status"] == "corrupt"
    assert "65536" in rows[0]["detail"]
    assert "WENULAKE_MAX_OBJECT_BYTES" in rows[0]["detail"]


def test_decompression_stops_at_the_cap_without_inflating_everything() -> None:
    import tracemalloc

    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
    tracemalloc.start()
    try:
        rows = bronze_rows(bomb, key="sensors/bomb.gz", limits=SMALL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kinds(rows)[0] == ("quarantine", "corrupt_object")
    assert peak < 8 * 1024 * 1024


def test_multi_member_gzip_under_the_cap_still_reads_every_member() -> None:
    a, b = json.dumps(record()), json.dumps(record(message_id="m2"))
    body = gzip.compress((a + "\n").encode()) + gzip.compress((b + "\n").encode())
    assert [p for p, _ in split_records(decode_body("sensors/x.gz", body))] == [a, b]


def test_an_object_larger_than_the_cap_before_decompression_is_corrupt() -> None:
    text = "\n".join(json.dumps(record(message_id=f"m{i}")) for i in range(400))
    rows = bronze_rows(text.encode(), limits=SMALL)
    assert kinds(rows) == [("quarantine", "corrupt_object"), ("object", None)]


def test_the_caps_are_settings() -> None:
    settings = Settings(
        max_object_bytes=10_000, max_record_bytes=1000, max_json_depth=5, quarantine_raw_bytes=100
    )
    assert InputLimits.from_settings(settings) == InputLimits(10_000, 1000, 5, 100)
    assert InputLimits.from_settings(Settings()) == InputLimits()


# -- work-order events ---------------------------------------------------------------------------------------
def test_deeply_nested_work_order_pieces_are_malformed_events() -> None:
    envelope = {"Type": "Notification", "MessageId": "x", "Message": DEEP}
    body = "\n".join([DEEP, json.dumps(envelope), "{}"]).encode()
    _copies, quarantine, (status, records, accepted, bad) = parse_object(
        "workorders/x", body, HOUR, "run", NOW
    )
    assert (status, records, accepted, bad) == ("ingested", 3, 0, 3)
    assert {q["reason"] for q in quarantine} == {Reason.MALFORMED_EVENT.value}
    # an envelope whose attributes nest too deep for json.dumps
    parsed = {"Type": "Notification", "Message": json.dumps({"event_id": "e"}), "MessageAttributes": {}}
    node: list = []
    parsed["MessageAttributes"] = {"a": node}
    for _ in range(5000):
        node.append([])
        node = node[0]
    assert classify(parsed)[1] == Reason.MALFORMED_EVENT


def test_a_work_order_gzip_bomb_is_a_corrupt_object() -> None:
    bomb = gzip.compress(b" " * (4 * 1024 * 1024))
    _, quarantine, (status, *_counts) = parse_object("workorders/x.gz", bomb, HOUR, "run", NOW, SMALL)
    assert status == "corrupt"
    assert quarantine[0]["reason"] == Reason.CORRUPT_OBJECT.value
    assert "WENULAKE_MAX_OBJECT_BYTES" in quarantine[0]["detail"]


def test_work_order_raw_is_bounded() -> None:
    body = ("y" * 50_000).encode()
    _, quarantine, _ = parse_object("workorders/x", body, HOUR, "run", NOW, SMALL)
    assert len(quarantine[0]["raw"]) < 256 + 200
    assert list(split_records("y" * 10, RECORD_STARTS))


# -- legacy files --------------------------------------------------------------------------------------------
def test_a_legacy_timestamp_out_of_range_is_a_malformed_row_not_a_crash() -> None:
    text = "timestamp,temp\n0001-01-01 00:10:00,1\n0001-01-01T00:30:00+01:00,2\n2026-03-02 00:00:00,3\n"
    for column_wise in (True, False):
        parsed = parse_file(
            "legacy/2026/03/dev-1.csv", text.encode(), 2026, 3, "Asia/Tokyo", NOW, column_wise
        )
        assert [(r.reason, r.line) for r in parsed.rejects] == [
            (Reason.MALFORMED_ROW, 2),
            (Reason.MALFORMED_ROW, 3),
        ]
        assert parsed.accepted_rows == 1


def test_a_legacy_gzip_bomb_is_unreadable_and_rows_are_bounded() -> None:
    bomb = gzip.compress(b"timestamp,temp\n" + b"0" * (4 * 1024 * 1024))
    parsed = parse_file("legacy/2026/03/dev-1.csv.gz", bomb, 2026, 3, "UTC", NOW, limits=SMALL)
    assert parsed.unreadable
    assert "WENULAKE_MAX_OBJECT_BYTES" in parsed.rejects[0].detail
    long_line = "2026-03-02 00:00:00," + "9" * 5000
    parsed = parse_file(
        "legacy/2026/03/dev-1.csv", f"timestamp,temp\n{long_line},1\n".encode(), 2026, 3, "UTC", NOW,
        limits=SMALL,
    )  # fmt: skip
    assert parsed.rejects[0].reason == Reason.MALFORMED_ROW
    assert len(parsed.rejects[0].raw) < 256 + 200
