"""The Firehose landing: list an interval's objects, read them, split their bodies into record pieces.

Layout (contract v1): `<landing>/<stream>/YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]`,
with HH the UTC arrival hour. Every object under an hour's prefix belongs to that hour, whatever its name.
Bodies are gzip or plain, records newline-separated or concatenated with no delimiter at all.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from wenulake.storage import ObjectInfo, ObjectStore
from wenulake.timeutil import Interval

if TYPE_CHECKING:
    from wenulake.settings import Settings

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
    """The object's body cannot be decompressed or decoded, or it is larger than the cap."""


@dataclass(frozen=True)
class InputLimits:
    """What one landed object or record may cost (defaults = the settings' defaults; WENULAKE_* in
    `wenulake.settings`). Hostile input beyond them is quarantined, never a failed task."""

    max_object_bytes: int = 256 * 1024 * 1024  # a body, compressed or decompressed (Firehose buffers 128 MB)
    max_record_bytes: int = 256 * 1024  # one record piece (a sensor message is about 250 bytes)
    max_json_depth: int = 32  # nesting of one record's JSON (a sensor message has 1, an SNS envelope 2)
    raw_bytes: int = 4096  # `raw` stored for a quarantined piece: longer ones keep this head, length, sha256

    @classmethod
    def from_settings(cls, settings: Settings) -> InputLimits:
        return cls(
            settings.max_object_bytes,
            settings.max_record_bytes,
            settings.max_json_depth,
            settings.quarantine_raw_bytes,
        )


DEFAULT_LIMITS = InputLimits()


class Refused:
    """The `parsed` value `split_records` gives a piece it would not parse or keep (too big, too deep,
    a parser error): the piece is malformed, `detail` says why."""

    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail

    def __repr__(self) -> str:
        return f"Refused({self.detail!r})"


def bounded_raw(piece: str, limit: int) -> str:
    """The `raw` of a quarantine row: the piece itself when it fits in `limit` bytes (UTF-8), else its first
    `limit` bytes, its length and its sha256, so a hostile record can be identified without being stored."""
    if len(piece) * 4 <= limit:
        return piece
    data = piece.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return piece
    head = data[:limit].decode("utf-8", errors="ignore")
    return f"{head}...[truncated: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}]"


def too_big(size: int | None, limits: InputLimits) -> str | None:
    """Why an object of `size` stored bytes is refused before it is read, or None."""
    if size is not None and size > limits.max_object_bytes:
        return (
            f"object of {size} bytes exceeds the cap of {limits.max_object_bytes} bytes "
            "(WENULAKE_MAX_OBJECT_BYTES)"
        )
    return None


def decompress_capped(body: bytes, cap: int) -> bytes:
    """gzip (one member or several, as concatenated Firehose parts) inflated by streaming, refused as soon as
    the output would pass `cap` bytes: a 1000:1 bomb costs at most `cap` bytes of memory."""
    if not body:
        return b""
    out = bytearray()
    data = body
    while True:
        inflater = zlib.decompressobj(wbits=31)
        pending = data
        while not inflater.eof:
            chunk = inflater.decompress(pending, cap + 1 - len(out))
            out += chunk
            if len(out) > cap:
                raise CorruptObject(
                    f"gzip body inflates past the cap of {cap} bytes (WENULAKE_MAX_OBJECT_BYTES)"
                )
            pending = inflater.unconsumed_tail
            if not pending and not chunk and not inflater.eof:
                raise CorruptObject("cannot decompress gzip body: truncated stream")
        data = inflater.unused_data
        if not data.strip(b"\0"):  # trailing zero padding is not another member
            return bytes(out)


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


def decode_body(key: str, body: bytes, limits: InputLimits = DEFAULT_LIMITS) -> str:
    """Decompress (gzip, detected by magic bytes or a .gz name; streaming, capped) and decode a body to text.
    Raises CorruptObject for a body that cannot be decompressed or is bigger than `limits.max_object_bytes`."""
    refused = too_big(len(body), limits)
    if refused:
        raise CorruptObject(refused)
    if body[:2] == GZIP_MAGIC or key.endswith(".gz"):
        try:
            body = decompress_capped(body, limits.max_object_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptObject(f"cannot decompress gzip body: {exc}") from exc
    # Record text is JSON (UTF-8). Undecodable bytes can only sit in broken pieces, which are quarantined
    # with the replacement character in `raw`; valid records are never altered by this.
    return body.decode("utf-8", errors="replace")


def json_depth(value: object) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in node if isinstance(child, dict | list))
    return deepest


def split_records(
    text: str, starts: tuple[str, ...] = (RECORD_START,), limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[tuple[str, object | None]]:
    """Yield `(piece, parsed)` for every record piece of a body, in order.

    `parsed` is the decoded JSON value of a complete JSON value, None for a piece that is not one, or a
    `Refused` for one the limits refuse (bigger than `max_record_bytes`, nested deeper than `max_json_depth`,
    or one the parser raised on, e.g. RecursionError). A broken piece ends at the next newline or the next
    record start (`starts`: `{"message_id"` for sensor messages), where parsing resumes. Both framings
    (newline separated, concatenated) go through the same loop; whitespace between records is not a piece.
    """
    n = len(text)
    pos = 0
    max_chars = limits.max_record_bytes
    while True:
        match = _NON_SPACE.search(text, pos)
        if match is None:
            return
        pos = match.start()
        refused: Refused | None = None
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            value, end = None, -1
        except Exception as exc:  # RecursionError, MemoryError, ...: this piece only, never the object
            value, end = None, -1
            refused = Refused(f"JSON parser gave up ({type(exc).__name__}): nested too deep or too big")
        if end > 0:
            piece = text[pos:end]
            pos = end
            if len(piece) > max_chars and len(piece.encode("utf-8", errors="replace")) > max_chars:
                size = len(piece.encode("utf-8", errors="replace"))
                yield (
                    piece,
                    Refused(f"record of {size} bytes exceeds {max_chars} (WENULAKE_MAX_RECORD_BYTES)"),
                )
                continue
            if piece.count("[") + piece.count("{") > limits.max_json_depth:
                depth = json_depth(value)
                if depth > limits.max_json_depth:
                    yield (
                        piece,
                        Refused(
                            f"JSON nesting depth {depth} exceeds {limits.max_json_depth} (WENULAKE_MAX_JSON_DEPTH)"
                        ),
                    )
                    continue
            yield piece, value
            continue
        newline = text.find("\n", pos)
        stop = min(i for i in (newline, n, *(text.find(s, pos + 1) for s in starts)) if i >= 0)
        yield text[pos:stop].rstrip("\r"), refused
        pos = stop
