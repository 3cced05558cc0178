"""Device provisioning through the catalog service (a real `wenulake serve`): admins create, rotate and retire a
device's keys in the configured keyring (a file, an S3 object on moto's server, a Secrets Manager secret on
moto), keyring v2 bound to the device; the key is shown once; other roles get 403; key events are audited
without the key; the pipeline's decoder accepts the new key and refuses a rotated-out one after its retirement.
Concurrent writers of the keyring lose nothing."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.service_helpers import Service, running_service
from tests.test_service import csrf, make_device, page_session, uid
from wenulake.contracts import Reason
from wenulake.crypto import Keyring, KeyringSource, encrypt
from wenulake.keystore import KeyringStore, new_key
from wenulake.settings import Settings
from wenulake.timeutil import iso
from wenulake.transforms.bronze import Rejected, decode_record

pytestmark = pytest.mark.s3


def message(key_b64: str, key_id: str, device_id: str, received: datetime, v: int = 2) -> dict[str, Any]:
    """A v2 (or v1) record as the generator writes it (wenulake.crypto.encrypt, the generator's helper)."""
    ts = int((received - timedelta(minutes=1)).timestamp() * 1000)
    plain = json.dumps({"ts": ts, "seq": 1, "readings": {"temp": 21.5}}, separators=(",", ":")).encode()
    message_id = uuid.uuid4().hex
    key = base64.b64decode(key_b64)
    if v == 2:
        blob = encrypt(key, device_id, plain, b"\x01" * 12, key_id, message_id)
    else:
        blob = encrypt(key, device_id, plain, b"\x01" * 12)
    record = {
        "message_id": message_id,
        "device_id": device_id,
        "key_id": key_id,
        "received_at": iso(received),
        "payload": base64.b64encode(blob).decode(),
    }
    return {**record, "v": 2} if v == 2 else record


def accepted(record: dict[str, Any], keyring: Keyring) -> bool:
    """Decoded, or refused as unknown_key (a retired key); any other refusal fails the test."""
    try:
        decode_record(record, keyring)
    except Rejected as exc:
        refused = exc.reason
    else:
        return True
    assert refused == Reason.UNKNOWN_KEY
    return False


def load(settings: Settings) -> Keyring:
    return KeyringSource(
        settings.keyring_uri,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.secrets_endpoint_url,
        ttl_seconds=0,
    ).load()


def lifecycle(svc: Service, settings: Settings) -> None:
    """Register with a key, read the keyring, rotate, retire: the whole story through the API."""
    now = datetime.now(UTC)
    with svc.client("admin") as admin, svc.client("operator") as operator, svc.client("viewer") as viewer:
        ids = make_device(admin)
        device_id = ids["device_id"]
        body = {"device_id": device_id + "-x", "site_id": ids["site_id"]}
        # operators edit the catalog but get no keys; viewers neither
        for client in (operator, viewer):
            refused = client.post("/api/v1/devices", params={"provision_key": "true"}, json=body)
            assert refused.status_code == 403, refused.text
            assert client.post(f"/api/v1/devices/{device_id}/keys").status_code == 403
            assert client.get(f"/api/v1/devices/{device_id}/keys").status_code == 403
        assert operator.get(f"/api/v1/devices/{device_id}-x").status_code == 404  # nothing was created

        registered = admin.post("/api/v1/devices", params={"provision_key": "true"}, json=body)
        assert registered.status_code == 201, registered.text
        assert registered.headers["cache-control"] == "no-store"
        first = registered.json()["key"]
        device = first["device_id"]
        assert device == device_id + "-x"
        assert len(base64.b64decode(first["key"])) == 32

        keyring = load(settings)
        assert keyring.device_of(first["key_id"]) == device
        assert accepted(message(first["key"], first["key_id"], device, now), keyring)
        # v2-only by default: a v1 record (replayable under a new message id) is refused
        assert first["min_format"] == 2
        assert not accepted(message(first["key"], first["key_id"], device, now, v=1), keyring)
        # a second create is refused: rotation is the way to a new key
        assert admin.post(f"/api/v1/devices/{device}/keys").status_code == 409

        # shown once: nowhere else, not in the listing nor the audit log
        listed = admin.get(f"/api/v1/devices/{device}/keys")
        assert listed.status_code == 200
        assert [k["key_id"] for k in listed.json()] == [first["key_id"]]
        everything = listed.text + admin.get("/api/v1/changes", params={"limit": 500}).text
        everything += admin.get(f"/api/v1/devices/{device}").text
        assert first["key"] not in everything
        events = admin.get("/api/v1/changes", params={"resource": "devices", "object_id": device}).json()
        assert [e["action"] for e in events["items"]][:2] == ["key-create", "create"]
        assert events["items"][0]["actor"] == "admin"

        rotated = admin.post(
            f"/api/v1/devices/{device}/keys", json={"rotate": True, "grace_hours": 2, "min_format": 1}
        )
        assert rotated.status_code == 201, rotated.text
        second = rotated.json()
        assert second["min_format"] == 1  # old firmware: this key still reads v1
        assert {k["key_id"]: k["min_format"] for k in admin.get(f"/api/v1/devices/{device}/keys").json()} == {
            first["key_id"]: 2,
            second["key_id"]: 1,
        }
        assert [r["key_id"] for r in second["retiring"]] == [first["key_id"]]
        keyring = load(settings)
        later = now + timedelta(hours=3)
        assert accepted(message(second["key"], second["key_id"], device, later), keyring)
        assert accepted(message(second["key"], second["key_id"], device, later, v=1), keyring)
        assert accepted(message(first["key"], first["key_id"], device, now), keyring)  # within the grace
        assert not accepted(message(first["key"], first["key_id"], device, later), keyring)  # after it

        retired = admin.post(f"/api/v1/devices/{device}/keys/{second['key_id']}/retire", json={})
        assert retired.status_code == 200, retired.text
        assert retired.json()["active"] is False
        assert retired.json()["min_format"] == 1
        keyring = load(settings)
        assert not accepted(message(second["key"], second["key_id"], device, datetime.now(UTC)), keyring)
        assert admin.post(f"/api/v1/devices/{device}/keys/nope/retire", json={}).status_code == 404
        actions = [
            e["action"]
            for e in admin.get("/api/v1/changes", params={"resource": "devices", "object_id": device}).json()[
                "items"
            ]
        ]
        assert actions[:3] == ["key-retire", "key-rotate", "key-create"]
        assert second["key"] not in admin.get("/api/v1/changes", params={"limit": 500}).text


@pytest.fixture(scope="module")
def file_svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("svc-keys")
    with running_service(home, None, {"WENULAKE_KEYRING": str(home / "keys" / "keyring.json")}) as service:
        yield service


def test_file_keyring_device_keys_lifecycle(file_svc: Service) -> None:
    settings = Settings(home=file_svc.home, keyring=str(file_svc.home / "keys" / "keyring.json"))
    lifecycle(file_svc, settings)
    path = file_svc.home / "keys" / "keyring.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert all(isinstance(v, dict) for v in json.loads(path.read_text())["keys"].values())  # v2


def test_the_backoffice_shows_a_new_key_once_and_only_to_admins(file_svc: Service) -> None:
    with file_svc.client("admin") as api:
        ids = make_device(api)
    for role in ("operator", "viewer"):
        with closing(page_session(file_svc, role)) as page:
            assert "Create key" not in page.get(f"/devices/{ids['device_id']}").text
            token = csrf(page)
            assert (
                page.post(f"/devices/{ids['device_id']}/keys", data={"csrf_token": token}).status_code == 403
            )
    with closing(page_session(file_svc, "admin")) as page:
        assert page.post(f"/devices/{ids['device_id']}/keys", data={}).status_code == 403  # no CSRF token
        form = page.get("/devices/new").text
        assert 'name="provision_key"' in form
        device_id = uid("dev")
        shown = page.post(
            "/devices/new",
            data={
                "device_id": device_id,
                "site_id": ids["site_id"],
                "provision_key": "1",
                "csrf_token": csrf(page),
            },
        )
        assert shown.status_code == 201, shown.text
        assert shown.headers["cache-control"] == "no-store"
        key = re.search(r'id="key-material">([^<]+)<', shown.text).group(1)  # type: ignore[union-attr]
        key_id = re.search(r'id="key-id">([^<]+)<', shown.text).group(1)  # type: ignore[union-attr]
        detail = page.get(f"/devices/{device_id}").text
        assert key_id in detail
        assert "Rotate key" in detail
        assert key not in detail
        assert key not in page.get("/changes").text
        assert key not in page.get("/").text
        rotated = page.post(
            f"/devices/{device_id}/keys", data={"rotate": "1", "grace_hours": "0", "csrf_token": csrf(page)}
        )
        assert rotated.status_code == 201
        assert key_id in rotated.text  # the retiring key is named
        retire = page.post(f"/devices/{device_id}/keys/{key_id}/retire", data={"csrf_token": csrf(page)})
        assert retire.status_code == 303
    keyring = json.loads((file_svc.home / "keys" / "keyring.json").read_text())
    assert keyring["keys"][key_id]["device_id"] == device_id
    assert keyring["keys"][key_id]["key"] == key
    assert keyring["keys"][key_id]["retired_at"]


def test_s3_keyring_on_moto_server(tmp_path: Path, moto_endpoint: str) -> None:
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="keys")
    location = "s3://keys/prod/keyring.json"
    env = {"WENULAKE_KEYRING": location, "WENULAKE_S3_ENDPOINT_URL": moto_endpoint}
    with running_service(tmp_path, None, env) as svc:
        lifecycle(svc, Settings(home=tmp_path, keyring=location, s3_endpoint_url=moto_endpoint))


def _secret(moto_endpoint: str) -> str:
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    return str(client.create_secret(Name=f"wenulake/keyring-{uuid.uuid4().hex[:6]}")["ARN"])


def test_secrets_manager_keyring_on_moto(tmp_path: Path, moto_endpoint: str) -> None:
    arn = _secret(moto_endpoint)  # as Terraform leaves it: a secret without a value
    env = {"WENULAKE_KEYRING": arn, "WENULAKE_SECRETS_ENDPOINT_URL": moto_endpoint}
    with running_service(tmp_path, None, env) as svc:
        lifecycle(svc, Settings(home=tmp_path, keyring=arn, secrets_endpoint_url=moto_endpoint))


# -- concurrent writers ------------------------------------------------------------------------------------------
def _hammer(settings: Settings, writers: int, each: int) -> dict[str, Any]:
    """`writers` threads each adding `each` keys with a read-modify-write; every key must survive."""
    errors: list[BaseException] = []

    def write(n: int) -> None:
        store = KeyringStore(settings)
        try:
            for i in range(each):

                def add(doc: dict[str, Any], key_id: str = f"w{n}-{i}") -> None:
                    time.sleep(0.01)  # widen the window between read and write
                    doc["keys"][key_id] = {"key": new_key(), "device_id": f"dev-{n}"}

                store.update(add)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    doc = KeyringStore(settings).read()
    assert sorted(doc["keys"]) == sorted(f"w{n}-{i}" for n in range(writers) for i in range(each))
    return doc


def test_concurrent_writers_of_a_file_keyring_lose_nothing(tmp_path: Path) -> None:
    _hammer(Settings(home=tmp_path, keyring=str(tmp_path / "keyring.json")), 4, 5)


def test_concurrent_writers_of_an_s3_keyring_lose_nothing(tmp_path: Path, moto_endpoint: str) -> None:
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="race")
    settings = Settings(home=tmp_path, keyring="s3://race/keyring.json", s3_endpoint_url=moto_endpoint)
    _hammer(settings, 3, 3)


def test_concurrent_writers_of_a_secret_keyring_lose_nothing(tmp_path: Path, moto_endpoint: str) -> None:
    arn = _secret(moto_endpoint)
    _hammer(Settings(home=tmp_path, keyring=arn, secrets_endpoint_url=moto_endpoint), 3, 3)


def test_a_write_that_lost_the_race_is_redone_on_the_new_document(tmp_path: Path, moto_endpoint: str) -> None:
    """The conditional write itself is what protects: a change made between our read and our write (here, from
    inside our change) makes the first attempt fail and the second keep both keys. (A file is locked for the
    whole change: nobody gets in between; the threads above check it.)"""
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="lost")
    for location in ("s3://lost/keyring.json", _secret(moto_endpoint)):
        settings = Settings(
            home=tmp_path, keyring=location, s3_endpoint_url=moto_endpoint, secrets_endpoint_url=moto_endpoint
        )
        store = KeyringStore(settings)
        store.update(lambda doc: doc["keys"].update(seed={"key": new_key(), "device_id": "d"}))
        attempts: list[int] = []

        def ours(doc: dict[str, Any], attempts: list[int] = attempts, settings: Settings = settings) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                theirs = KeyringStore(settings)
                theirs.update(lambda d: d["keys"].update(theirs={"key": new_key(), "device_id": "d"}))
            doc["keys"]["ours"] = {"key": new_key(), "device_id": "d"}

        store.update(ours)
        assert sorted(store.read()["keys"]) == ["ours", "seed", "theirs"], location
        assert len(attempts) == 2, location


def test_the_device_form_previews_the_quarantined_readings_a_registration_resolves(file_svc: Service) -> None:
    """Pre-filled from the inbox, the new device form says what registering it would resolve (none here: an
    empty lake; the slow suite registers quarantined devices end to end)."""
    with closing(page_session(file_svc, "operator")) as page:
        form = page.get("/devices/new", params={"device_id": "dev-never-seen"})
        assert form.status_code == 200
        assert "Quarantined readings of dev-never-seen" in form.text
        assert "No quarantined reading of this device id" in form.text
        assert 'id="preview"' not in page.get("/devices/new").text
