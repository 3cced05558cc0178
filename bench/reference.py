"""The yardstick: a deliberately plain, hand-written sensors path with multiprocessing and DuckDB, no Spark, no
Airflow, no Delta. It must count exactly what the pipeline counts and compute the same daily stats.

1. Read the landing, split the records, decrypt and check them (a process pool, one object per task).
2. Dedupe copies: the earliest received copy of a (device_id, message_id) wins (ties: object, record index).
3. Enrich the winners with the catalog CSVs (DuckDB): messages of devices missing from the catalog are
   `unknown_device`; each non-null reading takes the sensor of its device and channel valid at ts, or is
   `unknown_channel`; value = (raw in the canonical unit) * scale + offset; local_date in the site's zone.
4. fact_reading rows: one per (sensor_id, ts), the earliest received message wins (received_at, message_id);
   `implausible_values` counts those outside the physical limits (the pipeline's silver gate rejects them).
5. stats_daily per sensor and site-local day: n, min, max, avg and, for counters, the consumption (sum of
   deltas over the sensor's whole series in ts order: a drop is a reset and adds the new value).

`python bench/reference.py DATASET [--stats-out FILE]` prints one JSON object: seconds, the counts and a digest
of stats_daily; with --stats-out, stats_daily (rounded as in STATS_SQL) is also written there as Parquet.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing import Pool
from pathlib import Path

import duckdb
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Imported, not copied: the unit conversions and physical limits are contract data (tables of numbers).
from wenulake.units import PHYSICAL_LIMITS, UNITS

MIN_TS_MS = 1420070400000
FIELDS = ("message_id", "device_id", "key_id", "received_at", "payload")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
_KEYS: dict[str, tuple[AESGCM, str | None, datetime | None]] = {}  # cipher, owning device, retired_at

#: a decoded message: device_id, message_id, received_at (µs), object path, record index, ts (ms), readings
Message = tuple[str, str, int, str, int, int, dict[str, float | None]]


def _init(keyring_path: str) -> None:
    """Keyring v1 (`key_id: base64`) or v2 (`key_id: {key, device_id, retired_at?}`)."""
    for key_id, value in json.loads(Path(keyring_path).read_text())["keys"].items():
        if isinstance(value, str):
            _KEYS[key_id] = (AESGCM(base64.b64decode(value)), None, None)
        else:
            retired = value.get("retired_at")
            when = datetime.fromisoformat(retired.replace("Z", "+00:00")) if retired else None
            _KEYS[key_id] = (AESGCM(base64.b64decode(value["key"])), value["device_id"], when)


def _pieces(text: str):
    decoder, pos, n = json.JSONDecoder(), 0, len(text)
    while pos < n:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
            yield value
        except ValueError:
            ends = [i for i in (text.find("\n", pos), text.find('{"message_id"', pos + 1)) if i >= 0]
            pos = min(ends) if ends else n
            yield None


def _one(rec) -> tuple[str, tuple[str, str, int, int, dict] | None]:
    if not isinstance(rec, dict) or any(not isinstance(rec.get(f), str) or not rec.get(f) for f in FIELDS):
        return "malformed_record", None
    try:
        received = datetime.fromisoformat(rec["received_at"])
        if received.tzinfo is None:
            return "malformed_record", None
        blob = base64.b64decode(rec["payload"], validate=True)
    except ValueError:
        return "malformed_record", None
    version = rec.get("v", 1)
    if type(version) is not int or version not in (1, 2):
        return "malformed_record", None
    entry = _KEYS.get(rec["key_id"])
    if entry is None or (entry[2] is not None and received >= entry[2]):
        return "unknown_key", None
    cipher, owner, _ = entry
    if owner is not None and owner != rec["device_id"]:
        return "key_device_mismatch", None
    if version == 2:
        ids = ["wenulake/v2", rec["device_id"], rec["key_id"], rec["message_id"]]
        aad = json.dumps(ids, separators=(",", ":")).encode()
    else:
        aad = rec["device_id"].encode()
    try:
        body = json.loads(cipher.decrypt(blob[:12], blob[12:], aad))
        ts = body["ts"]
        if type(ts) is not int or type(body["seq"]) is not int or not isinstance(body["readings"], dict):
            return "decrypt_failed", None
        if any(v is not None and type(v) not in (int, float) for v in body["readings"].values()):
            return "decrypt_failed", None
    except (InvalidTag, ValueError, KeyError, TypeError):
        return "decrypt_failed", None
    received_ms = int(received.astimezone(UTC).timestamp() * 1000)
    if ts < MIN_TS_MS or ts > received_ms + 86_400_000:
        return "implausible_timestamp", None
    received_us = (received - EPOCH) // ONE_US
    return "ok", (rec["device_id"], rec["message_id"], received_us, ts, body["readings"])


def _object(path: str) -> tuple[Counter[str], list[Message]]:
    counts: Counter[str] = Counter()
    data = Path(path).read_bytes()
    try:
        if data[:2] == b"\x1f\x8b" or path.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError):
        counts["corrupt_objects"] += 1
        return counts, []
    ok = []
    for index, rec in enumerate(_pieces(data.decode("utf-8", errors="replace"))):
        counts["records"] += 1
        outcome, message = _one(rec)
        if message is None:
            counts[f"q_{outcome}"] += 1
        else:
            device, message_id, received_us, ts, readings = message
            ok.append((device, message_id, received_us, path, index, ts, readings))
    return counts, ok


def decode_and_dedupe(
    landing: Path, keyring: Path, processes: int
) -> tuple[Counter[str], dict[tuple[str, str], Message]]:
    """Bronze counts and the winning copy of every (device_id, message_id)."""
    paths = sorted(str(p) for p in (landing / "sensors").rglob("*") if p.is_file())
    total: Counter[str] = Counter(objects=len(paths))
    winners: dict[tuple[str, str], Message] = {}
    copies = 0
    with Pool(processes, initializer=_init, initargs=(str(keyring),)) as pool:
        for counts, ok in pool.imap_unordered(_object, paths, chunksize=1):
            total.update(counts)
            for message in ok:
                copies += 1
                key = (message[0], message[1])
                best = winners.get(key)
                if best is None or message[2:5] < best[2:5]:  # (received_at, object, record index)
                    winners[key] = message
    total["messages_valid"] = len(winners)
    total["duplicates"] = copies - len(winners)
    return total, winners


def messages_table(winners: dict[tuple[str, str], Message]) -> pa.Table:
    """One row per winning message; its readings as two parallel lists (channels, raw values, nulls kept)."""
    messages = list(winners.values())
    return pa.table(
        {
            "device_id": [m[0] for m in messages],
            "message_id": [m[1] for m in messages],
            "received_us": pa.array([m[2] for m in messages], pa.int64()),
            "ts_ms": pa.array([m[5] for m in messages], pa.int64()),
            "channels": pa.array([list(m[6]) for m in messages], pa.list_(pa.string())),
            "raw_values": pa.array([list(m[6].values()) for m in messages], pa.list_(pa.float64())),
        }
    )


def conversions_table() -> pa.Table:
    rows = [(m, u, c.factor, c.shift) for m, units in UNITS.items() for u, c in units.items()]
    return pa.table(
        {
            "metric": [r[0] for r in rows],
            "unit": [r[1] for r in rows],
            "factor": [r[2] for r in rows],
            "shift": [r[3] for r in rows],
        }
    )


def limits_table() -> pa.Table:
    return pa.table(
        {
            "metric": list(PHYSICAL_LIMITS),
            "low": [low for low, _ in PHYSICAL_LIMITS.values()],
            "high": [high for _, high in PHYSICAL_LIMITS.values()],
        }
    )


CATALOG_SQL = """
create table sites as
select trim(site_id) as site_id, trim(company_id) as company_id, trim(timezone) as timezone
from sites_csv;

create table devices as
select trim(d.device_id) as device_id, s.site_id, s.company_id, s.timezone
from devices_csv as d
join sites as s on trim(d.site_id) = s.site_id;

create table sensors as
select
    trim(sensor_id) as sensor_id,
    trim(device_id) as device_id,
    trim(channel) as channel,
    trim(metric) as metric,
    trim(unit) as unit,
    trim(kind) as kind,
    coalesce(cast(nullif(trim(scale), '') as double), 1.0) as scale,
    coalesce(cast(nullif(trim("offset"), '') as double), 0.0) as "offset",
    cast(trim(valid_from) as timestamptz) as valid_from,
    cast(nullif(trim(valid_to), '') as timestamptz) as valid_to
from sensors_csv;
"""

ENRICH_SQL = """
create table readings as
select device_id, message_id, received_us, ts_ms, unnest(channels) as channel, unnest(raw_values) as raw_value
from messages;

create table unknown_device as
select m.device_id, m.message_id from messages as m anti join devices as d on m.device_id = d.device_id;

create table attributed as
with timed as (
    select *, cast(epoch_ms(ts_ms) as timestamptz) as ts from readings where raw_value is not null
)
select
    r.device_id,
    r.message_id,
    r.received_us,
    r.ts,
    r.channel,
    r.raw_value,
    d.site_id,
    d.company_id,
    s.sensor_id,
    s.metric,
    s.kind,
    (r.raw_value * c.factor + c.shift) * s.scale + s."offset" as value,
    cast(timezone(d.timezone, r.ts) as date) as local_date
from timed as r
join devices as d on r.device_id = d.device_id
left join sensors as s
    on
        r.device_id = s.device_id
        and r.channel = s.channel
        and r.ts >= s.valid_from
        and r.ts < coalesce(s.valid_to, 'infinity'::timestamptz)
left join conversions as c on s.metric = c.metric and s.unit = c.unit;

create table fact_reading as
select * exclude (copy)
from (
    select
        *,
        row_number() over (partition by sensor_id, ts order by received_us, message_id) as copy
    from attributed
    where sensor_id is not null
)
where copy = 1;
"""

#: rounded to 6 decimals: the pipeline computes the same numbers with another engine
STATS_SQL = """
with series as (
    select
        sensor_id,
        local_date,
        ts,
        value,
        kind,
        lag(value) over (partition by sensor_id order by ts) as previous
    from fact_reading
)
select
    sensor_id,
    local_date,
    count(*) as n,
    round(min(value), 6) as min_value,
    round(max(value), 6) as max_value,
    round(avg(value order by ts), 6) as avg_value,
    case
        when any_value(kind) = 'counter' then round(coalesce(sum(
            case when previous is null then null when value >= previous then value - previous else value end
            order by ts
        ), 0), 6)
    end as consumption
from series
group by sensor_id, local_date
order by sensor_id, local_date
"""


def stats_digest(stats: pa.Table) -> str:
    """sha256 of the rows in (sensor_id, local_date) order, every value as its repr."""
    digest = hashlib.sha256()
    for row in stats.to_pylist():
        digest.update(repr(tuple(row.values())).encode())
    return digest.hexdigest()


def enrich_and_stats(
    catalog: Path, winners: dict[tuple[str, str], Message]
) -> tuple[dict[str, int], pa.Table]:
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.register("messages", messages_table(winners))
        con.register("conversions", conversions_table())
        con.register("limits", limits_table())
        for table in ("sites", "devices", "sensors"):
            path = str(catalog / f"{table}.csv").replace("'", "''")
            con.execute(
                f"create view {table}_csv as select * from read_csv('{path}', header = true, all_varchar = true)"
            )
        con.execute(CATALOG_SQL)
        con.execute(ENRICH_SQL)
        (row,) = con.execute(
            """
            select
                (select count(*) from unknown_device),
                (select count(*) from attributed where sensor_id is null),
                (select count(*) from readings semi join devices on readings.device_id = devices.device_id
                 where raw_value is null),
                (select count(*) from fact_reading),
                (select count(*) from fact_reading as f join limits as l on f.metric = l.metric
                 where f.value not between l.low and l.high)
            """
        ).fetchall()
        stats = con.execute(STATS_SQL).fetch_arrow_table()
    finally:
        con.close()
    keys = ("q_unknown_device", "q_unknown_channel", "null_values", "fact_rows", "implausible_values")
    return dict(zip(keys, (int(v) for v in row), strict=True)), stats


def run(folder: Path, processes: int = 2, stats_out: Path | None = None) -> dict[str, object]:
    total, winners = decode_and_dedupe(folder / "landing", folder / "keyring.json", processes)
    silver, stats = enrich_and_stats(folder / "catalog", winners)
    if stats_out is not None:
        import pyarrow.parquet as pq

        pq.write_table(stats, stats_out)
    return {
        **dict(total),
        **silver,
        "stats_daily_rows": stats.num_rows,
        "stats_daily_digest": stats_digest(stats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="a generated dataset: landing/, catalog/, keyring.json")
    parser.add_argument("--stats-out", type=Path, help="write stats_daily here (Parquet)")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.dataset, args.processes, args.stats_out)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 3), **result}))


if __name__ == "__main__":
    main()
