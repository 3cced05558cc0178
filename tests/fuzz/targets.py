"""Fuzz targets: the three parsers that read bytes an outsider controls, each checked for never raising and for
accounting for every piece of its input. Pure functions of one input, shared by atheris (`tests/fuzz/run.py`,
`make fuzz`), the bounded run of `make test` (`tests/fuzz/test_fuzz.py`) and the regression tests.

- `sensors`: a landing object's body -> `landing.decode_body` / `split_records` -> bronze `decode_body_into`
  (every `decode_record` check, with a real keyring) -> the outcome batch `flush()` builds.
- `workorders`: a work-order landing object -> `pipeline.workorders.parse_object` -> `transforms.workorders`
  `build_orders` over the accepted copies.
- `legacy`: a legacy CSV file (its first byte picks the name, gzip or not, and whether the device is known) ->
  `legacy.parse_file`, column-wise and line by line, which must agree.
- `catalog`: one file of a catalog directory (its first byte picks which; the others are the generated sample's
  valid files) -> `catalog.csvfiles.read_catalog`, which must return typed rows or raise `CatalogInvalid` naming
  file, line and column: the catalog CSV import is operators' input (`wenulake catalog load`, the service).

The limits are small here so that every cap (object, record, depth, raw) is reachable by a short input.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from wenulake.contracts import Reason
from wenulake.crypto import Keyring
from wenulake.landing import InputLimits, decode_body, split_records

LIMITS = InputLimits(max_object_bytes=64 * 1024, max_record_bytes=2048, max_json_depth=8, raw_bytes=96)
#: what a bounded `raw` may add to `raw_bytes`: "...[truncated: <n> bytes, sha256 <64 hex>]"
RAW_SLACK = 120
NOW = datetime(2026, 4, 5, tzinfo=UTC)
HOUR = datetime(2026, 4, 4, 0, tzinfo=UTC)
HOUR_US = int(HOUR.timestamp()) * 1_000_000
_SPACE = re.compile(r"\s")

#: the keyring of `seeds()`'s generated sample (generator seed 42, 3 devices): its records decrypt
_KEYRING: Keyring | None = None


def _squeeze(text: str) -> str:
    return _SPACE.sub("", text)


def _bounded(raw: str | None) -> None:
    if raw is not None:
        assert len(raw.encode("utf-8", errors="replace")) <= LIMITS.raw_bytes + RAW_SLACK, len(raw)


def _pieces(text: str, starts: tuple[str, ...]) -> list[str]:
    """Every piece `split_records` gives; together they are the whole body but its whitespace."""
    pieces = [piece for piece, _parsed in split_records(text, starts, LIMITS)]
    assert _squeeze("".join(pieces)) == _squeeze(text), "split_records lost or repeated part of the body"
    return pieces


def keyring() -> Keyring:
    global _KEYRING
    if _KEYRING is None:
        _generate()
    assert _KEYRING is not None
    return _KEYRING


# -- sensors ---------------------------------------------------------------------------------------------------
def sensors(data: bytes) -> None:
    from wenulake.landing import RECORD_START, CorruptObject
    from wenulake.transforms.bronze import (
        KIND_MESSAGE,
        KIND_OBJECT,
        KIND_QUARANTINE,
        OutcomeBuilder,
        decode_body_into,
    )

    key = "sensors/2026/04/04/00/sensors-1-2026-04-04-00-00-00-fuzz"
    meta = {"size": len(data), "etag": "fuzz", "last_modified": NOW}
    out = OutcomeBuilder()
    decode_body_into(out, key, HOUR_US, meta, data, keyring(), LIMITS)
    batch = out.flush().to_pydict()
    kinds = batch["kind"]
    objects = [i for i, k in enumerate(kinds) if k == KIND_OBJECT]
    quarantined = [i for i, k in enumerate(kinds) if k == KIND_QUARANTINE]
    messages = [i for i, k in enumerate(kinds) if k == KIND_MESSAGE]
    assert len(objects) == 1, "one ledger row per object"
    (obj,) = objects
    records, accepted, bad = batch["records"][obj], batch["accepted"][obj], batch["quarantined"][obj]
    assert records == accepted + bad, (records, accepted, bad)
    assert accepted == len(messages)
    assert bad + (batch["status"][obj] == "corrupt") == len(quarantined)
    for i in quarantined:
        _bounded(batch["raw"][i])
        assert batch["reason"][i] in {r.value for r in Reason}
    try:
        text = decode_body(key, data, LIMITS)
    except CorruptObject:
        assert batch["status"][obj] == "corrupt"
        assert records == 0
        assert [batch["reason"][i] for i in quarantined] == [Reason.CORRUPT_OBJECT.value]
        return
    assert records == len(_pieces(text, (RECORD_START,))), "every piece is one record"
    for i in messages:
        assert batch["object_key"][i] == key
        assert batch["device_id"][i]
        assert batch["message_id"][i]


# -- work orders -----------------------------------------------------------------------------------------------
def workorders(data: bytes) -> None:
    from wenulake.contracts.tables import LedgerStatus
    from wenulake.landing import CorruptObject
    from wenulake.pipeline.workorders import parse_object
    from wenulake.transforms.workorders import RECORD_STARTS, build_orders

    key = "workorders/2026/04/04/00/workorders-1-2026-04-04-00-00-00-fuzz"
    copies, quarantine, (status, records, accepted, bad) = parse_object(key, data, HOUR, "fuzz", NOW, LIMITS)
    assert records == accepted + bad == len(copies) + len(quarantine) - (status == LedgerStatus.CORRUPT)
    assert accepted == len(copies)
    for row in quarantine:
        _bounded(row["raw"])
    try:
        text = decode_body(key, data, LIMITS)
    except CorruptObject:
        assert status == LedgerStatus.CORRUPT
        assert records == 0
        assert len(quarantine) == 1
        return
    assert records == len(_pieces(text, RECORD_STARTS)), "every piece is one event copy"
    orders, statuses = build_orders(copies)
    assert set(statuses) == {c["event_id"] for c in copies}, "every event gets a status"
    assert len(orders) <= len({c["order_id"] for c in copies})


# -- legacy CSV ------------------------------------------------------------------------------------------------
def legacy(data: bytes) -> None:
    from wenulake.legacy import parse_file

    flags, body = (data[0], data[1:]) if data else (0, b"")
    name = "dev-00001.csv.gz" if flags & 1 else "dev-00001.csv"
    zone = None if flags & 2 else ("UTC" if flags & 4 else "Europe/Madrid")
    key = f"legacy/2026/03/{name}"
    fast = parse_file(key, body, 2026, 3, zone, NOW, True, LIMITS)
    slow = parse_file(key, body, 2026, 3, zone, NOW, False, LIMITS)
    for field in ("device_id", "channels", "rows", "accepted_rows", "null_values", "blank_lines",
                  "dst_ambiguous", "dst_nonexistent", "unreadable", "repeats", "rejects"):  # fmt: skip
        assert getattr(fast, field) == getattr(slow, field), field
    assert fast.cells.equals(slow.cells), "column-wise and line-by-line cells differ"
    counted = (Reason.MALFORMED_ROW, Reason.UNKNOWN_DEVICE, Reason.IMPLAUSIBLE_TIMESTAMP)
    assert fast.rows == sum(fast.count(r) for r in counted) + fast.accepted_rows, "every row is counted once"
    assert all(r.reason in counted for r in fast.rejects)
    assert len({r.line for r in fast.rejects if r.line is not None}) == len(
        [r for r in fast.rejects if r.line is not None]
    ), "one reject per line"
    if zone is None:
        assert fast.cells.num_rows == 0


# -- catalog CSV directory ---------------------------------------------------------------------------------------
_CATALOG: dict[str, bytes] | None = None  #: the seed sample's catalog files, by table
_CATALOG_DIR: Path | None = None


def catalog_tables() -> list[str]:
    from wenulake.catalog.schema import CSV_COLUMNS

    return sorted(CSV_COLUMNS)


def catalog(data: bytes) -> None:
    from wenulake.catalog.csvfiles import CatalogInvalid, read_catalog

    global _CATALOG_DIR
    files = _catalog_files()
    tables = catalog_tables()
    table, body = (tables[data[0] % len(tables)], data[1:]) if data else (tables[0], b"")
    if _CATALOG_DIR is None:
        _CATALOG_DIR = Path(tempfile.mkdtemp(prefix="fuzz-catalog-"))
    for name in tables:  # the sample's files, but the chosen one
        path = _CATALOG_DIR / f"{name}.csv"
        if name == table:
            path.write_bytes(body)
        elif name in files:
            path.write_bytes(files[name])
        else:
            path.unlink(missing_ok=True)
    invalid: CatalogInvalid | None = None
    try:
        rows = read_catalog(_CATALOG_DIR)
    except CatalogInvalid as exc:
        invalid = exc
    if invalid is not None:
        assert invalid.problems, "an invalid catalog names at least one problem"
        for problem in invalid.problems:
            assert problem.file.endswith(".csv"), problem
            assert problem.message, problem
        assert "\n" not in str(invalid), "one line"
        return
    assert set(rows) <= set(tables)
    lines = [line for line in body.decode("utf-8-sig").splitlines() if line.strip()]
    if lines and table in rows:
        assert len(rows[table]) <= len(lines) - 1, "no more rows than lines after the header"


def _catalog_files() -> dict[str, bytes]:
    _generate()
    assert _CATALOG is not None
    return _CATALOG


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sensors": sensors,
    "workorders": workorders,
    "legacy": legacy,
    "catalog": catalog,
}


# -- seeds -----------------------------------------------------------------------------------------------------
_SEEDS: dict[str, list[bytes]] | None = None


def _generate() -> dict[str, list[bytes]]:
    """Seed inputs from `wenulake landing generate` / `generate-workorders` output (1 h, 3 devices, faults on)
    and small literals; also loads the sample's keyring."""
    global _KEYRING, _SEEDS, _CATALOG
    if _SEEDS is not None:
        return _SEEDS
    import gzip

    from wenulake.devtools.generator import generate
    from wenulake.devtools.generator_workorders import generate_workorders

    seeds: dict[str, list[bytes]] = {"sensors": [], "workorders": [], "legacy": [], "catalog": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out, devices=3, hours=1, fault_rate=0.1)
        generate_workorders(out, orders=6, hours=1, fault_rate=0.1)
        _KEYRING = Keyring.parse((out / "keyring.json").read_bytes(), "fuzz seed keyring")
        _CATALOG = {p.stem: p.read_bytes() for p in sorted((out / "catalog").glob("*.csv"))}
        for stream in ("sensors", "workorders"):
            for path in sorted((out / "landing" / stream).rglob("*"))[:6]:
                if not path.is_file():
                    continue
                body = path.read_bytes()
                try:
                    text = decode_body(path.name, body)
                except Exception:
                    seeds[stream].append(body[:4096])  # a corrupt object the generator made on purpose
                    continue
                starts = ('{"message_id"',) if stream == "sensors" else ('{"Type"', '{"event_id"')
                pieces = [p for p, _ in split_records(text, starts)][:4]
                seeds[stream].append("".join(pieces).encode())
                seeds[stream].append("\n".join(pieces[:2]).encode())
                seeds[stream].append(gzip.compress(pieces[0].encode()) if pieces else body[:64])
    seeds["sensors"] += [b"", b"{}", b'{"message_id":' + b"[" * 64, b"\x1f\x8b\x08\x00garbage"]
    seeds["workorders"] += [
        json.dumps(
            {"Type": "Notification", "Message": json.dumps({"event_id": "e", "order_id": "o"})}
        ).encode(),
        b'{"event_id":"e1","event_type":"order.created","schema_version":"1","occurred_at":'
        b'"2026-04-04T00:00:00Z","order_id":"WO-1","client_id":"c1","site_id":"s1","source":"client",'
        b'"priority":"high","sla_hours":8}',
    ]
    rows = [
        "timestamp,temp,rh",
        "2026-03-10 10:00:00,21.5,40",
        "2026-03-29 02:30:00,1,",
        '2026-03-10T09:01:00Z,"21.6",41',
        "2025-10-26 02:30:00,1,2",
        "yesterday,1,2",
    ]
    text = "\n".join(rows) + "\n"
    seeds["legacy"] += [
        b"\x00" + text.encode(),
        b"\x01" + gzip.compress(text.encode()),
        b"\x02" + text.encode(),
        b"\x04" + ("\ufeff" + text.replace("\n", "\r\n")).encode(),
        b"\x00timestamp,temp\n2026-03-10 10:00:00,1e999\n",
    ]
    for index, table in enumerate(catalog_tables()):
        body = _CATALOG.get(table, b"")
        seeds["catalog"].append(bytes([index]) + body)
        seeds["catalog"].append(bytes([index]) + body.replace(b",", b";", 3))
    seeds["catalog"] += [
        bytes([catalog_tables().index("sensors")]) + b"sensor_id,device_id\nx,y\n",
        bytes([catalog_tables().index("devices")]) + b'\xef\xbb\xbfdevice_id,site_id\n"a""b",s\n',
    ]
    _SEEDS = seeds
    return seeds


def seeds(target: str) -> list[bytes]:
    return _generate()[target]
