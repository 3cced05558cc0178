"""The yardstick: a deliberately plain, hand-written bronze (read landing -> split -> decrypt -> check) with
multiprocessing, no Spark, no Airflow, no Delta. It must count exactly what the pipeline counts.

Grows with the pipeline (dedupe, enrich, facts, stats) as those stages land.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIN_TS_MS = 1420070400000
FIELDS = ("message_id", "device_id", "key_id", "received_at", "payload")
_KEYS: dict[str, AESGCM] = {}


def _init(keyring_path: str) -> None:
    keys = json.loads(Path(keyring_path).read_text())["keys"]
    _KEYS.update({k: AESGCM(base64.b64decode(v)) for k, v in keys.items()})


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


def _one(rec) -> tuple[str, tuple[str, str, int] | None]:
    if not isinstance(rec, dict) or any(not isinstance(rec.get(f), str) or not rec.get(f) for f in FIELDS):
        return "malformed_record", None
    try:
        received = datetime.fromisoformat(rec["received_at"])
        if received.tzinfo is None:
            return "malformed_record", None
        blob = base64.b64decode(rec["payload"], validate=True)
    except ValueError:
        return "malformed_record", None
    cipher = _KEYS.get(rec["key_id"])
    if cipher is None:
        return "unknown_key", None
    try:
        body = json.loads(cipher.decrypt(blob[:12], blob[12:], rec["device_id"].encode()))
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
    return "ok", (rec["device_id"], rec["message_id"], received_ms)


def _object(path: str) -> tuple[Counter[str], list[tuple[str, str, int]]]:
    counts: Counter[str] = Counter()
    data = Path(path).read_bytes()
    try:
        if data[:2] == b"\x1f\x8b" or path.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError):
        counts["corrupt_objects"] += 1
        return counts, []
    ok = []
    for rec in _pieces(data.decode("utf-8", errors="replace")):
        counts["records"] += 1
        outcome, key = _one(rec)
        if key is None:
            counts[f"q_{outcome}"] += 1
        else:
            ok.append(key)
    return counts, ok


def run(landing: Path, keyring: Path, processes: int = 2) -> dict[str, int]:
    paths = sorted(str(p) for p in (landing / "sensors").rglob("*") if p.is_file())
    total: Counter[str] = Counter(objects=len(paths))
    first: dict[tuple[str, str], int] = {}
    copies = 0
    with Pool(processes, initializer=_init, initargs=(str(keyring),)) as pool:
        for counts, ok in pool.imap_unordered(_object, paths, chunksize=1):
            total.update(counts)
            for device, message, received in ok:
                copies += 1
                key = (device, message)
                if key not in first or received < first[key]:
                    first[key] = received
    total["messages_valid"] = len(first)
    total["duplicates"] = copies - len(first)
    return dict(total)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    started = time.perf_counter()
    result = run(folder / "landing", folder / "keyring.json")
    print(json.dumps({"seconds": round(time.perf_counter() - started, 3), **result}))
