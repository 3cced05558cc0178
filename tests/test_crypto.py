import base64
import json

import pytest

from wenulake.crypto import Keyring, KeyringSource, encrypt
from wenulake.errors import KeyringError

KEY = bytes(range(32))


def write(tmp_path, doc):
    path = tmp_path / "keyring.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_round_trip_with_device_id_as_associated_data():
    blob = encrypt(KEY, "dev-1", b"hello", b"\x00" * 12)
    cipher = Keyring({"k": KEY}).cipher("k")
    assert cipher.decrypt(blob[:12], blob[12:], b"dev-1") == b"hello"


def test_missing_keyring_names_the_file_and_the_setting(tmp_path):
    with pytest.raises(KeyringError, match=r"keyring .*nope\.json not found.*WENULAKE_KEYRING"):
        KeyringSource(str(tmp_path / "nope.json")).load()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"keys": []}, "must be a JSON object"),
        ({"keys": {}}, "holds no keys"),
        ({"keys": {"k1": "***"}}, "key 'k1' is not valid base64"),
        (
            {"keys": {"k1": base64.b64encode(b"short-key-material").decode()}},
            "key 'k1' is 18 bytes; AES-256 needs 32",
        ),
        ({"keys": {"k1": 42}}, "key 'k1' is not a base64 string"),
    ],
)
def test_bad_keyrings_are_refused_with_the_key_id_never_the_key(tmp_path, doc, message):
    with pytest.raises(KeyringError, match=message) as error:
        KeyringSource(write(tmp_path, doc)).load()
    keys = doc.get("keys") if isinstance(doc, dict) else None
    secrets = [v for v in keys.values() if isinstance(v, str)] if isinstance(keys, dict) else []
    assert all(secret not in str(error.value) for secret in secrets)


def test_keyring_is_reloaded_when_the_file_changes(tmp_path):
    path = write(tmp_path, {"keys": {"a": base64.b64encode(KEY).decode()}})
    assert KeyringSource(path).load().key_ids == ["a"]
    import os
    import time

    write(tmp_path, {"keys": {"b": base64.b64encode(KEY).decode()}})
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert KeyringSource(path).load().key_ids == ["b"]


@pytest.mark.s3
def test_keyring_from_a_secrets_manager_secret_as_terraform_creates_it(moto_endpoint):
    import boto3

    client = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=moto_endpoint)
    arn = client.create_secret(Name="wenulake-dev/keyring")["ARN"]
    source = KeyringSource(arn, secrets_endpoint_url=moto_endpoint)
    with pytest.raises(KeyringError, match="has no value yet"):  # Terraform creates the secret, not its value
        source.load()
    doc = {"keys": {"k1": base64.b64encode(KEY).decode()}}
    client.put_secret_value(SecretId=arn, SecretString=json.dumps(doc))
    assert source.load().key_ids == ["k1"]
    missing = arn.replace("keyring", "nothing")
    with pytest.raises(KeyringError, match=r"keyring secret .*nothing.* not found"):
        KeyringSource(missing, secrets_endpoint_url=moto_endpoint).load()
