"""Bronze: record pieces -> decrypted, checked messages or quarantine rows, in Arrow batches.

`decode_objects` is the whole per-partition computation (run by Spark's `mapInArrow`): for each landed object
body it splits records, validates the five fields, decrypts with the keyring (one AESGCM per key, cached per
worker), checks the timestamp, and emits one outcome row per record piece plus one row per object. The checks
apply in the contract's order and the first failing one gives the quarantine reason.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag

from wenulake.contracts import Reason, Stage
from wenulake.contracts.tables import (
    INGEST_LEDGER,
    QUARANTINE,
    READINGS,
    SENSOR_MESSAGE,
    TS,
    LedgerStatus,
)
from wenulake.crypto import (
    MESSAGE_FORMATS,
    NONCE_BYTES,
    TAG_BYTES,
    Keyring,
    KeyringSource,
    associated_data,
)
from wenulake.lakefiles import FILE_SCHEMA, TableSink, write_files
from wenulake.landing import (
    CorruptObject,
    InputLimits,
    Refused,
    bounded_raw,
    decode_body,
    split_records,
    too_big,
)
from wenulake.storage import md5_hex
from wenulake.timeutil import EPOCH, ONE_US

RECORD_FIELDS = ("message_id", "device_id", "key_id", "received_at", "payload")  # and "v": 2 in format v2
MIN_TS_MS = int((datetime(2015, 1, 1, tzinfo=UTC) - EPOCH).total_seconds() * 1000)
MAX_AHEAD_MS = 24 * 3600 * 1000

KIND_MESSAGE = "message"
KIND_QUARANTINE = "quarantine"
KIND_OBJECT = "object"

#: Input of `decode_objects`: one row per landed object, with its body.
OBJECT_BODY_SCHEMA = pa.schema(
    [
        pa.field("object_key", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("etag", pa.string()),
        pa.field("last_modified", TS),
        pa.field("arrival_hour", TS),
        pa.field("body", pa.binary()),
    ]
)

#: Output of `decode_objects`: one row per record piece (kind message|quarantine) and one per object.
OUTCOME_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string()),
        pa.field("object_key", pa.string()),
        pa.field("record_index", pa.int64()),
        pa.field("arrival_hour", TS),
        pa.field("device_id", pa.string()),
        pa.field("message_id", pa.string()),
        pa.field("key_id", pa.string()),
        pa.field("received_at", TS),
        pa.field("ts", TS),
        pa.field("seq", pa.int64()),
        pa.field("readings", READINGS),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("records", pa.int64()),
        pa.field("accepted", pa.int64()),
        pa.field("quarantined", pa.int64()),
        pa.field("size", pa.int64()),
        pa.field("etag", pa.string()),
        pa.field("last_modified", TS),
        pa.field("status", pa.string()),
    ]
)


class Rejected(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_PLAIN_DECODER = json.JSONDecoder()
_NUMBER = (int, float)


def _parse_received_at(text: str) -> int:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("no UTC offset")
    return (value - EPOCH) // ONE_US


def _field_problem(parsed: dict[str, Any]) -> str:
    for name in RECORD_FIELDS:
        value = parsed.get(name)
        if type(value) is not str or not value:
            return f"field {name!r} missing or not a non-empty string"
    return ""


def decode_record(parsed: object, keyring: Keyring) -> tuple[dict[str, Any], int, int, dict[str, Any]]:
    """Check and decrypt one parsed record. Returns (record, received_at_us, ts_ms, plaintext) or raises
    `Rejected` with the first matching reason of the contract. (The hot loop of bronze: keep it lean.)"""
    if type(parsed) is not dict:
        if isinstance(parsed, Refused):
            raise Rejected(Reason.MALFORMED_RECORD, parsed.detail)
        raise Rejected(Reason.MALFORMED_RECORD, "not a JSON object")
    problem = _field_problem(parsed)
    if problem:
        raise Rejected(Reason.MALFORMED_RECORD, problem)
    version = parsed.get("v", 1)
    if type(version) is not int or version not in MESSAGE_FORMATS:
        raise Rejected(Reason.MALFORMED_RECORD, f"message format v={str(version)[:20]!r} is not 1 or 2")
    try:
        received_us = _parse_received_at(parsed["received_at"])
    except (ValueError, OverflowError):
        raise Rejected(Reason.MALFORMED_RECORD, "received_at is not an ISO 8601 UTC instant") from None
    try:
        blob = base64.b64decode(parsed["payload"], validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(Reason.MALFORMED_RECORD, "payload is not valid base64") from None

    key_id, device_id = parsed["key_id"], parsed["device_id"]
    entry = keyring.entry(key_id)
    if entry is None:
        raise Rejected(Reason.UNKNOWN_KEY, f"key_id {key_id!r} is not in the keyring")
    cipher, owner, retired_us, min_format = entry
    if retired_us is not None and received_us >= retired_us:
        raise Rejected(Reason.UNKNOWN_KEY, f"key_id {key_id!r} was retired before received_at")
    if version < min_format:
        raise Rejected(
            Reason.UNKNOWN_KEY,
            f"key_id {key_id!r} accepts message format v{min_format} and later, not v{version}",
        )
    if owner is not None and owner != device_id:
        raise Rejected(
            Reason.KEY_DEVICE_MISMATCH, f"key_id {key_id!r} belongs to another device than {device_id!r}"
        )
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise Rejected(Reason.DECRYPT_FAILED, f"payload of {len(blob)} bytes is shorter than nonce and tag")
    aad = device_id.encode() if version == 1 else associated_data(2, device_id, key_id, parsed["message_id"])
    try:
        plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise Rejected(
            Reason.DECRYPT_FAILED, "authentication failed (wrong key, device, ids or tampered)"
        ) from None
    try:
        body = _PLAIN_DECODER.decode(plain.decode())
    except ValueError:  # UnicodeDecodeError included
        raise Rejected(Reason.DECRYPT_FAILED, "plaintext is not JSON") from None
    if type(body) is not dict:
        raise Rejected(Reason.DECRYPT_FAILED, "plaintext is not a JSON object")
    ts, seq, readings = body.get("ts"), body.get("seq"), body.get("readings")
    if type(ts) is not int or type(seq) is not int or type(readings) is not dict:
        raise Rejected(Reason.DECRYPT_FAILED, "plaintext lacks integer ts and seq or a readings object")
    for channel, value in readings.items():
        if value is not None and type(value) not in _NUMBER:
            raise Rejected(Reason.DECRYPT_FAILED, f"reading {channel!r} is not a number or null")
    if ts < MIN_TS_MS:
        raise Rejected(Reason.IMPLAUSIBLE_TIMESTAMP, f"ts {ts} is before 2015-01-01")
    if ts * 1000 > received_us + MAX_AHEAD_MS * 1000:
        raise Rejected(Reason.IMPLAUSIBLE_TIMESTAMP, f"ts {ts} is more than 24 h after received_at")
    return parsed, received_us, ts, body


#: Columns each kind of outcome row fills; every other column of OUTCOME_SCHEMA is null for that kind.
MESSAGE_COLUMNS = (
    "object_key",
    "record_index",
    "arrival_hour",
    "device_id",
    "message_id",
    "key_id",
    "received_at",
    "ts",
    "seq",
)
QUARANTINE_COLUMNS = (
    "object_key",
    "record_index",
    "arrival_hour",
    "device_id",
    "message_id",
    "reason",
    "raw",
    "detail",
)
OBJECT_COLUMNS = (
    "object_key",
    "arrival_hour",
    "records",
    "accepted",
    "quarantined",
    "size",
    "etag",
    "last_modified",
    "status",
)


class OutcomeBuilder:
    """Column accumulators, one set per kind of row; `flush()` builds one OUTCOME_SCHEMA RecordBatch."""

    def __init__(self) -> None:
        self.msg: dict[str, list[Any]] = {c: [] for c in MESSAGE_COLUMNS}
        self.qua: dict[str, list[Any]] = {c: [] for c in QUARANTINE_COLUMNS}
        self.obj: dict[str, list[Any]] = {c: [] for c in OBJECT_COLUMNS}
        self.map_offsets: list[int] = [0]
        self.map_keys: list[str] = []
        self.map_values: list[float | None] = []
        # bound appenders of the message columns: the hot path
        m = self.msg
        self._m_append = (
            m["object_key"].append,
            m["record_index"].append,
            m["arrival_hour"].append,
            m["device_id"].append,
            m["message_id"].append,
            m["key_id"].append,
            m["received_at"].append,
            m["ts"].append,
            m["seq"].append,
        )

    @property
    def rows(self) -> int:
        return len(self.msg["object_key"]) + len(self.qua["object_key"]) + len(self.obj["object_key"])

    def message(
        self,
        key: str,
        index: int,
        hour_us: int,
        rec: dict[str, Any],
        received_us: int,
        ts_ms: int,
        body: dict,
    ) -> None:
        a = self._m_append
        a[0](key)
        a[1](index)
        a[2](hour_us)
        a[3](rec["device_id"])
        a[4](rec["message_id"])
        a[5](rec["key_id"])
        a[6](received_us)
        a[7](ts_ms * 1000)
        a[8](body["seq"])
        readings = body["readings"]
        self.map_keys.extend(readings)
        self.map_values.extend(readings.values())
        self.map_offsets.append(len(self.map_keys))

    def quarantine(
        self,
        key: str,
        index: int | None,
        hour_us: int,
        reason: Reason,
        raw: str | None,
        detail: str,
        rec: object,
    ) -> None:
        ids = rec if isinstance(rec, dict) else {}
        device_id, message_id = ids.get("device_id"), ids.get("message_id")
        q = self.qua
        q["object_key"].append(key)
        q["record_index"].append(index)
        q["arrival_hour"].append(hour_us)
        q["device_id"].append(device_id if isinstance(device_id, str) else None)
        q["message_id"].append(message_id if isinstance(message_id, str) else None)
        q["reason"].append(reason.value)
        q["raw"].append(raw)
        q["detail"].append(detail)

    def object(
        self, key: str, hour_us: int, meta: dict[str, Any], status: str, counts: tuple[int, int, int]
    ) -> None:
        o = self.obj
        o["object_key"].append(key)
        o["arrival_hour"].append(hour_us)
        o["records"].append(counts[0])
        o["accepted"].append(counts[1])
        o["quarantined"].append(counts[2])
        o["size"].append(meta["size"])
        o["etag"].append(meta["etag"])
        o["last_modified"].append(meta["last_modified"])
        o["status"].append(status)

    def flush(self) -> pa.RecordBatch:
        n_msg, n_qua, n_obj = (
            len(self.msg["object_key"]),
            len(self.qua["object_key"]),
            len(self.obj["object_key"]),
        )
        kinds = [KIND_MESSAGE] * n_msg + [KIND_QUARANTINE] * n_qua + [KIND_OBJECT] * n_obj
        readings = pa.MapArray.from_arrays(
            pa.array(self.map_offsets, pa.int32()),
            pa.array(self.map_keys, pa.string()),
            pa.array([None if v is None else float(v) for v in self.map_values], pa.float64()),
        ).cast(READINGS)
        arrays: list[pa.Array] = []
        for field in OUTCOME_SCHEMA:
            if field.name == "kind":
                arrays.append(pa.array(kinds, pa.string()))
                continue
            if field.name == "readings":
                parts = [readings, pa.nulls(n_qua + n_obj, READINGS)]
            else:
                parts = [
                    pa.array(group[field.name], field.type)
                    if field.name in group
                    else pa.nulls(n, field.type)
                    for group, n in ((self.msg, n_msg), (self.qua, n_qua), (self.obj, n_obj))
                ]
            arrays.append(pa.concat_arrays(parts))
        self.__init__()  # type: ignore[misc]
        return pa.RecordBatch.from_arrays(arrays, schema=OUTCOME_SCHEMA)


def decode_body_into(
    out: OutcomeBuilder,
    key: str,
    hour_us: int,
    meta: dict[str, Any],
    body: bytes | None,
    keyring: Keyring,
    limits: InputLimits | None = None,
) -> None:
    """All outcome rows of one object (its records, then its ledger row). Never raises for what the object
    holds: a body over the caps is `corrupt_object`, any failure on one record quarantines that record. A None
    body is an object `fetch_objects` did not read because it is bigger than the cap."""
    limits = limits or InputLimits()
    try:
        if body is None:
            raise CorruptObject(too_big(meta["size"], limits) or "object body missing")
        text = decode_body(key, body, limits)
    except CorruptObject as exc:
        out.quarantine(key, None, hour_us, Reason.CORRUPT_OBJECT, None, str(exc), None)
        out.object(key, hour_us, meta, LedgerStatus.CORRUPT, (0, 0, 0))
        return
    records = accepted = 0
    for index, (piece, parsed) in enumerate(split_records(text, limits=limits)):
        records += 1
        try:
            rec, received_us, ts_ms, plain = decode_record(parsed, keyring)
        except Rejected as rejected:
            raw = bounded_raw(piece, limits.raw_bytes)
            out.quarantine(key, index, hour_us, rejected.reason, raw, rejected.detail, parsed)
            continue
        except Exception as exc:  # hostile input this parser did not foresee: this record only
            raw = bounded_raw(piece, limits.raw_bytes)
            detail = f"record could not be parsed ({type(exc).__name__})"
            out.quarantine(key, index, hour_us, Reason.MALFORMED_RECORD, raw, detail, parsed)
            continue
        out.message(key, index, hour_us, rec, received_us, ts_ms, plain)
        accepted += 1
    out.object(key, hour_us, meta, LedgerStatus.INGESTED, (records, accepted, records - accepted))


def decode_objects(
    batches: Iterable[pa.RecordBatch],
    keyring_source: KeyringSource,
    max_rows: int = 50_000,
    limits: InputLimits | None = None,
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: OBJECT_BODY_SCHEMA batches in, OUTCOME_SCHEMA batches out. `limits` default to the
    WENULAKE_* settings of the worker's environment."""
    keyring = keyring_source.load()
    limits = limits or _limits_from_environment()
    out = OutcomeBuilder()
    for batch in batches:
        cols = batch.to_pydict()
        for i, key in enumerate(cols["object_key"]):
            body: bytes | None = cols["body"][i]
            hour: datetime = cols["arrival_hour"][i]
            meta = {
                "size": cols["size"][i],
                "etag": cols["etag"][i] or (md5_hex(body) if body is not None else None),
                "last_modified": cols["last_modified"][i],
            }
            decode_body_into(out, key, (hour - EPOCH) // ONE_US, meta, body, keyring, limits)
            if out.rows >= max_rows:
                yield out.flush()
    if out.rows:
        yield out.flush()


def _limits_from_environment() -> InputLimits:
    from wenulake.settings import Settings

    return InputLimits.from_settings(Settings())


def fetch_objects(
    batches: Iterable[pa.RecordBatch], open_store: Callable[[], Any], limits: InputLimits | None = None
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body of the extract step: object descriptors in, the same rows with their body out. An
    object whose stored size passes the cap is not read: its body is null (decoded as `corrupt_object`)."""
    store = open_store()
    limits = limits or _limits_from_environment()
    for batch in batches:
        keys = batch.column("object_key").to_pylist()
        sizes = batch.column("size").to_pylist()
        bodies = [
            None if too_big(size, limits) else store.get(key) for key, size in zip(keys, sizes, strict=True)
        ]
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, pa.array(bodies, pa.binary())], schema=OBJECT_BODY_SCHEMA
        )


# -- the three bronze outputs, written where the rows are --------------------------------------------------------
def split_outcomes(outcomes: pa.Table, run_id: str, now: datetime) -> dict[str, pa.Table]:
    """Outcome rows -> the rows of bronze.sensor_message, ops.quarantine (stage bronze) and ops.ingest_ledger,
    by table name (row order carries no meaning; readers sort as they need). Pure."""

    def of_kind(kind: str) -> pa.Table:
        return outcomes.filter(pc.equal(outcomes["kind"], kind))

    def repeat(value: Any, n: int, kind: pa.DataType) -> pa.Array:
        return pa.repeat(pa.scalar(value, kind), n)

    def with_run(rows: pa.Table, **extra: pa.Array) -> pa.Table:
        rows = rows.append_column("run_id", repeat(run_id, rows.num_rows, pa.string()))
        for name, column in extra.items():
            rows = rows.append_column(name, column)
        return rows

    def arrival_date(rows: pa.Table) -> pa.Array:
        return pc.cast(pc.cast(rows["arrival_hour"], pa.date32()), pa.string())

    messages = of_kind(KIND_MESSAGE)
    quarantine = of_kind(KIND_QUARANTINE)
    objects = of_kind(KIND_OBJECT)
    return {
        SENSOR_MESSAGE.name: with_run(messages, arrival_date=arrival_date(messages)),
        QUARANTINE.name: with_run(
            quarantine,
            arrival_date=arrival_date(quarantine),
            stage=repeat(Stage.BRONZE.value, quarantine.num_rows, pa.string()),
            quarantined_at=repeat(now, quarantine.num_rows, TS),
        ),
        INGEST_LEDGER.name: with_run(objects, ingested_at=repeat(now, objects.num_rows, TS)),
    }


def decode_to_files(
    batches: Iterable[pa.RecordBatch],
    keyring_source: KeyringSource,
    sinks: dict[str, TableSink],
    run_id: str,
    now: datetime,
    flush_rows: int = 200_000,
    limits: InputLimits | None = None,
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body of the ingest: OBJECT_BODY_SCHEMA batches in; the decoded rows written as data files of
    the three bronze tables (`sinks`, by table name) right here, on the executor; FILE_SCHEMA descriptors out.
    The executor holds at most about `flush_rows` outcome rows at a time."""
    pending: list[pa.RecordBatch] = []
    rows = 0

    def write() -> pa.RecordBatch:
        tables = split_outcomes(pa.Table.from_batches(pending, OUTCOME_SCHEMA), run_id, now)
        files = [f for name, table in tables.items() for f in write_files(sinks[name], table)]
        pending.clear()
        return pa.RecordBatch.from_pylist(files, schema=FILE_SCHEMA)

    for outcome in decode_objects(batches, keyring_source, limits=limits):
        pending.append(outcome)
        rows += outcome.num_rows
        if rows >= flush_rows:
            yield write()
            rows = 0
    if pending:
        yield write()
