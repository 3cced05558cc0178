import hashlib

from wenulake.devtools.generator import generate

REASONS = (
    "q_malformed_record",
    "q_unknown_key",
    "q_key_device_mismatch",
    "q_decrypt_failed",
    "q_implausible_timestamp",
)


def digest(folder):
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    generate(tmp_path / "a", devices=4, hours=2, seed=3)
    generate(tmp_path / "b", devices=4, hours=2, seed=3)
    generate(tmp_path / "c", devices=4, hours=2, seed=4)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_sample_holds_every_fault_and_its_truth_balances(sample):
    expected = sample["manifest"]["expected"]
    for key in (
        *REASONS,
        "duplicates",
        "corrupt_objects",
        "messages_uncatalogued_device",
        "null_values",
        "unknown_channel_readings",
    ):
        assert expected[key] > 0, key
    assert expected["records"] == expected["messages_valid"] + expected["duplicates"] + sum(
        expected[r] for r in REASONS
    )
    by_hour = sample["manifest"]["by_hour"]
    assert sum(h["records"] for h in by_hour.values()) == expected["records"]
    # late messages and retries land after the last message hour
    assert len(by_hour) > sample["manifest"]["hours"]


def test_both_framings_and_compressions_are_written(sample):
    files = [p for p in (sample["dir"] / "landing").rglob("*") if p.is_file()]
    assert any(p.name.endswith(".gz") for p in files)
    assert any(not p.name.endswith(".gz") for p in files)
    plain = [p.read_text() for p in files if not p.name.endswith(".gz")]
    assert any("}\n{" in t for t in plain)
    assert any("}{" in t for t in plain)


def test_catalog_has_a_sensor_replaced_mid_run(sample):
    sensors = (sample["dir"] / "catalog" / "sensors.csv").read_text().splitlines()
    first_device = [line for line in sensors[1:] if line.startswith("dev-00001-temp")]
    assert len(first_device) == 2
    assert first_device[0].split(",")[-1] == first_device[1].split(",")[-2]  # valid_to == next valid_from


def bronze_counts(folder):
    """Decode a generated landing in-process (the bronze transform, no Spark): records and bronze reasons."""
    from collections import Counter

    from wenulake.crypto import KeyringSource
    from wenulake.transforms.bronze import OutcomeBuilder, decode_body_into

    keyring = KeyringSource(str(folder / "keyring.json")).load()
    counts = Counter()
    for path in sorted(p for p in (folder / "landing").rglob("*") if p.is_file()):
        out = OutcomeBuilder()
        body = path.read_bytes()
        decode_body_into(
            out, path.name, 0, {"size": len(body), "etag": "e", "last_modified": None}, body, keyring
        )
        for row in out.flush().to_pylist():
            if row["kind"] == "object":
                counts["records"] += row["records"]
            elif row["kind"] == "quarantine" and row["reason"] != "corrupt_object":
                counts[f"q_{row['reason']}"] += 1
    return counts


def test_v2_messages_and_keyring_by_default_with_key_device_mismatch_faults(tmp_path):
    import json

    manifest = generate(tmp_path / "v2", devices=12, hours=2, seed=5, fault_rate=0.05)
    assert manifest["message_format"] == 2
    keys = json.loads((tmp_path / "v2" / "keyring.json").read_text())["keys"]
    assert all(isinstance(v, dict) and v["device_id"] for v in keys.values())
    assert any("retired_at" in v for v in keys.values())
    expected = manifest["expected"]
    assert expected["q_key_device_mismatch"] > 0
    counts = bronze_counts(tmp_path / "v2")
    assert {k: counts.get(k, 0) for k in ("records", *REASONS)} == {
        k: expected[k] for k in ("records", *REASONS)
    }


def test_message_format_1_still_generates_and_decodes(tmp_path):
    import json

    manifest = generate(tmp_path / "v1", devices=12, hours=2, seed=5, fault_rate=0.05, message_format=1)
    keys = json.loads((tmp_path / "v1" / "keyring.json").read_text())["keys"]
    assert all(isinstance(v, str) for v in keys.values())
    expected = manifest["expected"]
    assert expected["q_key_device_mismatch"] == 0
    counts = bronze_counts(tmp_path / "v1")
    assert {k: counts.get(k, 0) for k in ("records", *REASONS)} == {
        k: expected[k] for k in ("records", *REASONS)
    }


def test_broken_pieces_run_together_count_as_one_record_as_the_parser_sees_them():
    """A truncated record or noise followed, with no separator, by noise: no parser can tell where the first ends,
    so the landing holds one malformed record for both. The manifest counted two (seen on `make run`'s own
    landing: 22,563 records in the manifest, 22,562 in the ledger)."""
    from datetime import UTC, datetime

    from wenulake.contracts import Reason
    from wenulake.devtools.generator import Piece, mark_absorbed
    from wenulake.landing import split_records

    at = datetime(2026, 4, 4, tzinfo=UTC)
    valid = '{"message_id":"m1","device_id":"d1","payload":"QUJD"}'
    truncated = '{"message_id":"m2","device_id":"d1","payload":"QU'
    noise = "#@! firehose noise xyz0123"
    cases = [
        [truncated, noise, valid],  # the noise runs on in the truncated record
        [noise, noise, noise, valid],  # noise after noise
        [valid, noise, valid],  # after a whole record the noise is a record of its own
        [truncated, valid, noise],  # the valid record starts a new piece: the noise after it is its own
        ['{"message_id":"m3","received_at":"yesterday"}', noise],  # a whole (if malformed) JSON value before
    ]
    for texts in cases:
        chunk = [Piece(t, at, reason=None if t == valid else Reason.MALFORMED_RECORD) for t in texts]
        mark_absorbed(chunk)
        seen = list(split_records("".join(texts)))
        assert len(seen) == sum(not p.absorbed for p in chunk), texts
