"""The Firehose landing: list an interval's objects, read them, split their bodies into record pieces.

Layout (contract v1): `<landing>/<stream>/YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]`,
with HH the UTC arrival hour. Every object under an hour's prefix belongs to that hour, whatever its name.
Bodies are gzip or plain, records newline-separated or concatenated with no delimiter at all.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from wenulake.storage import ObjectInfo, ObjectStore
from wenulake.timeutil import Interval

SENSORS_STREAM = "sensors"
GZIP_MAGIC = b"\x1f\x8b"

#: Where parsing resumes after a broken piece: the next newline or the next record start.
RECORD_START = '{"message_id"'
_NON_SPACE = re.compile(r"\S")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class LandingObject:
    info: ObjectInfo
    arrival_hour: datetime


class CorruptObject(Exception):
    """The object's body cannot be decompressed or decoded."""


def hour_prefix(stream: str, hour: datetime) -> str:
    return f"{stream}/{hour:%Y/%m/%d/%H}/"


def list_interval(
    store: ObjectStore, interval: Interval, stream: str = SENSORS_STREAM
) -> list[LandingObject]:
    """Every object of the interval's arrival hours, in key order (one listing per hour prefix)."""
    store.check_root()
    found: list[LandingObject] = []
    for hour in interval.hours():
        found.extend(LandingObject(info, hour) for info in store.list(hour_prefix(stream, hour)))
    return found


def decode_body(key: str, body: bytes) -> str:
    """Decompress (gzip, detected by magic bytes or a .gz name) and decode a body to text."""
    if body[:2] == GZIP_MAGIC or key.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptObject(f"cannot decompress gzip body: {exc}") from exc
    # Record text is JSON (UTF-8). Undecodable bytes can only sit in broken pieces, which are quarantined
    # with the replacement character in `raw`; valid records are never altered by this.
    return body.decode("utf-8", errors="replace")


def split_records(
    text: str, starts: tuple[str, ...] = (RECORD_START,)
) -> Iterator[tuple[str, object | None]]:
    """Yield `(piece, parsed)` for every record piece of a body, in order.

    `parsed` is the decoded JSON value of a complete JSON value, or None for a piece that is not one; a broken
    piece ends at the next newline or the next record start (`starts`: `{"message_id"` for sensor messages),
    where parsing resumes. Both framings (newline separated, concatenated) go through the same loop; whitespace
    between records is not a piece.
    """
    n = len(text)
    pos = 0
    while True:
        match = _NON_SPACE.search(text, pos)
        if match is None:
            return
        pos = match.start()
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            value, end = None, -1
        if end > 0:
            yield text[pos:end], value
            pos = end
            continue
        newline = text.find("\n", pos)
        stop = min(i for i in (newline, n, *(text.find(s, pos + 1) for s in starts)) if i >= 0)
        yield text[pos:stop].rstrip("\r"), None
        pos = stop
