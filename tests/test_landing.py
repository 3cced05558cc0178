import gzip
from datetime import UTC, datetime

import pytest

from wenulake.landing import CorruptObject, decode_body, list_interval, split_records
from wenulake.storage import StoreSpec
from wenulake.timeutil import Interval

A = '{"message_id":"a","device_id":"d","key_id":"k","received_at":"2026-01-01T00:00:00Z","payload":"eA=="}'
B = A.replace('"a"', '"b"')


def pieces(text):
    return [piece for piece, _ in split_records(text)]


def test_newline_and_concatenated_framings_give_the_same_records():
    assert pieces(f"{A}\n{B}\n") == [A, B]
    assert pieces(f"{A}{B}") == [A, B]
    assert pieces(f"{A}\r\n\n  {B}") == [A, B]


def test_blank_body_has_no_records():
    assert pieces("") == []
    assert pieces("\n \n") == []


def test_truncated_record_resumes_at_next_record_start_when_concatenated():
    truncated = A[:40]
    got = list(split_records(truncated + B))
    assert [p for p, _ in got] == [truncated, B]
    assert got[0][1] is None
    assert got[1][1]["message_id"] == "b"


def test_garbage_line_is_one_piece_and_parsing_resumes_at_next_newline():
    got = pieces(f"{A}\n#@! noise\n{B}")
    assert got == [A, "#@! noise", B]


def test_garbage_between_concatenated_records():
    assert pieces(f"{A}zzz{B}") == [A, "zzz", B]


def test_complete_json_that_is_not_a_record_is_returned_parsed():
    got = list(split_records('[1,2]\n{"x":1}'))
    assert got == [("[1,2]", [1, 2]), ('{"x":1}', {"x": 1})]


def test_gzip_and_plain_bodies_decode_alike():
    body = f"{A}\n{B}".encode()
    assert decode_body("x.gz", gzip.compress(body)) == decode_body("x", body)
    # gzip detected by magic bytes even without the suffix
    assert decode_body("x", gzip.compress(body)) == body.decode()


TRUNCATED = gzip.compress(A.encode() * 50)


@pytest.mark.parametrize("body", [b"\x1f\x8b\x08garbage", TRUNCATED[: len(TRUNCATED) // 2], b"plain"])
def test_undecompressable_gzip_is_a_corrupt_object(body):
    with pytest.raises(CorruptObject):
        decode_body("obj.gz", body)


def test_listing_takes_every_object_under_the_interval_hours(tmp_path):
    for rel in [
        "sensors/2026/04/04/00/sensors-1-2026-04-04-00-00-00-x.gz",
        "sensors/2026/04/04/00/oddly-named",
        "sensors/2026/04/04/01/nested/deeper",
        "sensors/2026/04/04/02/outside",
        "workorders/2026/04/04/00/not-sensors",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"{}")
    store = StoreSpec(str(tmp_path)).open()
    found = list_interval(
        store, Interval(datetime(2026, 4, 4, tzinfo=UTC), datetime(2026, 4, 4, 2, tzinfo=UTC))
    )
    assert [o.info.key for o in found] == [
        "sensors/2026/04/04/00/oddly-named",
        "sensors/2026/04/04/00/sensors-1-2026-04-04-00-00-00-x.gz",
        "sensors/2026/04/04/01/nested/deeper",
    ]
    assert [o.arrival_hour.hour for o in found] == [0, 0, 1]
