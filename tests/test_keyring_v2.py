"""Keyring v2 and message format v2 (issue 18): one device key speaks for one device, ids are authenticated,
keys rotate and retire, long-lived processes reload the keyring."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime

import pytest

from wenulake.contracts import Reason
from wenulake.crypto import Keyring, KeyringSource, associated_data, encrypt
from wenulake.errors import KeyringError
from wenulake.transforms.bronze import Rejected, decode_record

KEY_A = bytes(range(32))
KEY_A2 = bytes(range(1, 33))
KEY_B = bytes(range(100, 132))
RECEIVED = "2026-04-04T10:00:00Z"
TS = int(datetime(2026, 4, 4, 9, 59, tzinfo=UTC).timestamp() * 1000)
PLAIN = json.dumps({"ts": TS, "seq": 1, "readings": {"temp": 21.5}}).encode()


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def keyring_v2(retired_at: str | None = None) -> Keyring:
    doc = {
        "keys": {
            "ka": {"key": b64(KEY_A), "device_id": "dev-a"},
            "ka2": {"key": b64(KEY_A2), "device_id": "dev-a"},  # rotation: a second active key of dev-a
            "kb": {"key": b64(KEY_B), "device_id": "dev-b"},
            "legacy": b64(KEY_B),  # v1 entry: bound to no device
        }
    }
    if retired_at:
        doc["keys"]["ka"]["retired_at"] = retired_at
    return Keyring.parse(json.dumps(doc).encode(), "test")


def record(
    key: bytes, key_id: str, device_id: str, message_id: str = "m1", v: int | None = 2, **over
) -> dict:
    nonce = b"\x07" * 12
    blob = (
        encrypt(key, device_id, PLAIN, nonce, key_id, message_id)
        if v == 2
        else encrypt(key, device_id, PLAIN, nonce)
    )
    rec = {
        "message_id": message_id,
        "device_id": device_id,
        "key_id": key_id,
        "received_at": RECEIVED,
        "payload": b64(blob),
    }
    if v is not None:
        rec["v"] = v
    rec.update(over)
    return rec


def reason(rec: dict, keyring: Keyring) -> Reason:
    with pytest.raises(Rejected) as rejected:
        decode_record(rec, keyring)
    return rejected.value.reason


def test_v2_messages_of_every_active_key_of_a_device_decode() -> None:
    keyring = keyring_v2()
    for key, key_id in ((KEY_A, "ka"), (KEY_A2, "ka2")):
        _rec, _received, ts, body = decode_record(record(key, key_id, "dev-a"), keyring)
        assert ts == TS
        assert body["readings"] == {"temp": 21.5}


def test_v1_messages_and_v1_keyrings_still_read() -> None:
    v1 = Keyring.parse(json.dumps({"keys": {"ka": b64(KEY_A)}}).encode(), "test")
    assert decode_record(record(KEY_A, "ka", "dev-a", v=None), v1)[2] == TS
    assert decode_record(record(KEY_A, "ka", "dev-a", v=1), keyring_v2())[2] == TS
    assert decode_record(record(KEY_A, "ka", "dev-a"), v1)[2] == TS  # a v2 message under a v1 key


def test_a_key_of_another_device_is_key_device_mismatch_before_decryption() -> None:
    """The attack of the issue: device A's key, the record says device B (AD computed for B): accepted before."""
    keyring = keyring_v2()
    forged = record(KEY_A, "ka", "dev-b", v=None)  # v1: AD = "dev-b", authentic under A's key
    assert reason(forged, keyring) is Reason.KEY_DEVICE_MISMATCH
    assert reason(record(KEY_A, "ka", "dev-b"), keyring) is Reason.KEY_DEVICE_MISMATCH
    # checked before decryption: even a payload that would not decrypt gets this reason, not decrypt_failed
    assert reason({**forged, "payload": b64(b"\0" * 40)}, keyring) is Reason.KEY_DEVICE_MISMATCH
    # unknown_key still comes first
    assert reason(record(KEY_A, "nope", "dev-b"), keyring) is Reason.UNKNOWN_KEY


def test_v2_authenticates_the_message_id_and_the_key_id() -> None:
    keyring = keyring_v2()
    original = record(KEY_A, "ka", "dev-a")
    assert reason({**original, "message_id": "m2"}, keyring) is Reason.DECRYPT_FAILED  # replay under a new id
    assert (
        reason({k: v for k, v in original.items() if k != "v"}, keyring) is Reason.DECRYPT_FAILED
    )  # downgrade
    assert associated_data(2, "d", "k", "m") == b'["wenulake/v2","d","k","m"]'
    assert associated_data(1, "d", "k", "m") == b"d"


@pytest.mark.parametrize("v", [3, 0, "2", True, 2.0])
def test_an_unknown_format_version_is_malformed(v) -> None:
    rec = {**record(KEY_A, "ka", "dev-a"), "v": v}
    assert reason(rec, keyring_v2()) is Reason.MALFORMED_RECORD


def test_a_retired_key_is_refused_from_its_retirement_on() -> None:
    after = keyring_v2(retired_at="2026-04-04T09:00:00Z")
    rejected = reason(record(KEY_A, "ka", "dev-a"), after)
    assert rejected is Reason.UNKNOWN_KEY
    assert decode_record(record(KEY_A2, "ka2", "dev-a"), after)[2] == TS  # the device's new key works
    before = keyring_v2(retired_at="2026-04-04T10:00:00.000001+00:00")
    assert decode_record(record(KEY_A, "ka", "dev-a"), before)[2] == TS


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"key": b64(KEY_A)}, "has no device_id"),
        ({"key": b64(KEY_A), "device_id": ""}, "has no device_id"),
        ({"key": b64(KEY_A), "device_id": "d", "retired_at": "soon"}, "retired_at"),
        ({"key": b64(KEY_A), "device_id": "d", "retired_at": "2026-01-01T00:00:00"}, "retired_at"),
        ({"key": b64(KEY_A), "device_id": "d", "owner": "x"}, "unknown fields"),
        ({"key": 7, "device_id": "d"}, "not a base64 string"),
        ({"key": b64(b"short"), "device_id": "d"}, "5 bytes"),
        ({"key": b64(KEY_A), "device_id": "d", "min_format": 3}, "min_format 3 is not one of"),
        ({"key": b64(KEY_A), "device_id": "d", "min_format": "2"}, "min_format '2' is not one of"),
    ],
)
def test_bad_v2_entries_are_one_clear_line_without_the_key(entry, message) -> None:
    with pytest.raises(KeyringError, match=message) as error:
        Keyring.parse(json.dumps({"keys": {"k1": entry}}).encode(), "test")
    assert b64(KEY_A) not in str(error.value)


def test_a_long_lived_process_reloads_the_keyring_after_its_ttl(tmp_path) -> None:
    """A secret or S3 keyring has no mtime: before the TTL it was cached for the life of the process."""
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps({"keys": {"old": b64(KEY_A)}}))
    stamp = os.stat(path).st_mtime
    cached, fresh = KeyringSource(str(path)), KeyringSource(str(path), ttl_seconds=0)
    assert cached.load().key_ids == fresh.load().key_ids == ["old"]
    path.write_text(json.dumps({"keys": {"new": {"key": b64(KEY_A), "device_id": "d"}}}))
    os.utime(path, (stamp, stamp))  # same mtime: only the TTL can notice
    assert cached.load().key_ids == ["old"]
    assert fresh.load().key_ids == ["new"]
    from wenulake.settings import Settings

    assert Settings(keyring_ttl_seconds=60).keyring_ttl_seconds == 60


def test_a_v2_only_key_refuses_v1_records_so_they_cannot_be_replayed_under_a_new_id() -> None:
    """Without min_format a v1 ciphertext decodes again under any new message id; with "min_format": 2 its key
    refuses every v1 record (unknown_key, before decryption) and still reads v2."""
    doc = {"keys": {"ka": {"key": b64(KEY_A), "device_id": "dev-a", "min_format": 2}}}
    strict = Keyring.parse(json.dumps(doc).encode(), "test")
    v1 = record(KEY_A, "ka", "dev-a", v=None)
    replayed = {**v1, "message_id": "m-replayed"}
    assert decode_record(replayed, keyring_v2())[2] == TS  # the hole: v1 is replayable under a new id
    for rec in (v1, replayed, {**v1, "v": 1}):
        with pytest.raises(Rejected) as rejected:
            decode_record(rec, strict)
        assert rejected.value.reason is Reason.UNKNOWN_KEY
        assert "accepts message format v2 and later, not v1" in str(rejected.value.detail)
    assert decode_record(record(KEY_A, "ka", "dev-a"), strict)[2] == TS
    assert strict.entry("ka")[3] == 2
    assert keyring_v2().entry("ka")[3] == 1  # no field: both formats, as before
