import hashlib

from wenulake.generator import generate

REASONS = ("q_malformed_record", "q_unknown_key", "q_decrypt_failed", "q_implausible_timestamp")


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
