"""The per-record checks of bronze, in the contract's order (first match wins)."""

import base64
import json
from datetime import UTC, datetime

import pytest

from wenulake.contracts import Reason
from wenulake.crypto import Keyring, encrypt
from wenulake.transforms.bronze import OutcomeBuilder, Rejected, decode_body_into, decode_record

KEY = bytes(range(32))
KEYRING = Keyring({"k1": KEY})
RECEIVED = "2026-04-04T10:00:00Z"
RECEIVED_MS = int(datetime(2026, 4, 4, 10, tzinfo=UTC).timestamp() * 1000)


def record(ts=RECEIVED_MS - 1000, readings=None, key_id="k1", device_id="dev-1", plaintext=None, **over):
    body = (
        plaintext
        if plaintext is not None
        else json.dumps(
            {"ts": ts, "seq": 7, "readings": readings if readings is not None else {"temp": 21.5, "rh": None}}
        ).encode()
    )
    payload = base64.b64encode(encrypt(KEY, device_id, body, b"\x01" * 12)).decode()
    rec = {
        "message_id": "m1",
        "device_id": device_id,
        "key_id": key_id,
        "received_at": RECEIVED,
        "payload": payload,
    }
    rec.update(over)
    return rec


def reason_of(rec):
    with pytest.raises(Rejected) as rejected:
        decode_record(rec, KEYRING)
    return rejected.value.reason


def test_valid_record_is_decrypted():
    _rec, received_us, ts_ms, body = decode_record(record(), KEYRING)
    assert received_us == RECEIVED_MS * 1000
    assert ts_ms == RECEIVED_MS - 1000
    assert body["readings"] == {"temp": 21.5, "rh": None}


@pytest.mark.parametrize(
    "rec",
    [
        [1, 2],
        {"message_id": "m1"},
        record(key_id=""),
        record(received_at="yesterday"),
        record(received_at="2026-04-04T10:00:00"),  # no offset: not an instant
        record(payload="not base64!"),
        record(message_id=12),
    ],
)
def test_malformed_records(rec):
    assert reason_of(rec) is Reason.MALFORMED_RECORD


def test_unknown_key_comes_before_decryption_and_timestamp_checks():
    assert reason_of(record(key_id="k9", ts=0)) is Reason.UNKNOWN_KEY


def test_tampered_payload_or_wrong_device_fails_authentication():
    rec = record()
    blob = bytearray(base64.b64decode(rec["payload"]))
    blob[20] ^= 1
    assert reason_of({**rec, "payload": base64.b64encode(bytes(blob)).decode()}) is Reason.DECRYPT_FAILED
    assert reason_of({**record(), "device_id": "dev-2"}) is Reason.DECRYPT_FAILED
    assert reason_of(record(payload=base64.b64encode(b"tiny").decode())) is Reason.DECRYPT_FAILED


@pytest.mark.parametrize(
    "plaintext",
    [
        b"not json",
        b"[1]",
        b'{"ts": 1.5, "seq": 1, "readings": {}}',
        b'{"ts": 1, "seq": 1, "readings": {"t": "hot"}}',
        b'{"ts": 1, "seq": 1, "readings": {"t": true}}',
    ],
)
def test_authentic_but_invalid_plaintext_is_decrypt_failed(plaintext):
    assert reason_of(record(plaintext=plaintext)) is Reason.DECRYPT_FAILED


def test_timestamp_bounds():
    day_ms = 86_400_000
    assert (
        decode_record(record(ts=RECEIVED_MS + day_ms), KEYRING)[2] == RECEIVED_MS + day_ms
    )  # exactly 24 h: ok
    assert reason_of(record(ts=RECEIVED_MS + day_ms + 1)) is Reason.IMPLAUSIBLE_TIMESTAMP
    start_2015 = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert decode_record(record(ts=start_2015), KEYRING)[2] == start_2015
    assert reason_of(record(ts=start_2015 - 1)) is Reason.IMPLAUSIBLE_TIMESTAMP


def test_object_outcome_counts_every_piece():
    text = "\n".join([json.dumps(record()), "garbage", json.dumps(record(key_id="zz"))])
    out = OutcomeBuilder()
    meta = {"size": len(text), "etag": "e", "last_modified": None}
    decode_body_into(out, "sensors/x", 0, meta, text.encode(), KEYRING)
    rows = out.flush().to_pylist()
    assert [(r["kind"], r["reason"], r["record_index"]) for r in rows] == [
        ("message", None, 0),
        ("quarantine", "malformed_record", 1),
        ("quarantine", "unknown_key", 2),
        ("object", None, None),
    ]
    assert rows[0]["readings"] == [("temp", 21.5), ("rh", None)]
    assert rows[1]["raw"] == "garbage"
    assert (rows[2]["device_id"], rows[2]["message_id"]) == ("dev-1", "m1")
    assert (rows[3]["records"], rows[3]["accepted"], rows[3]["quarantined"], rows[3]["status"]) == (
        3,
        1,
        2,
        "ingested",
    )


def test_corrupt_object_is_one_quarantine_row_and_a_corrupt_ledger_row():
    out = OutcomeBuilder()
    decode_body_into(
        out, "sensors/x.gz", 0, {"size": 3, "etag": None, "last_modified": None}, b"\x1f\x8bxx", KEYRING
    )
    rows = out.flush().to_pylist()
    assert [(r["kind"], r["reason"], r["status"], r["records"]) for r in rows] == [
        ("quarantine", "corrupt_object", None, None),
        ("object", None, "corrupt", 0),
    ]
