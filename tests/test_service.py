"""The catalog service's REST API against a real `wenulake serve` (uvicorn on 127.0.0.1), on SQLite and on
PostgreSQL: credentials, roles on every endpoint, validation shared with `catalog load`, sensor validity versions,
optimistic concurrency, retirement without deletion, the audit log, the quarantine inbox and queued replays."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_helpers import PASSWORD, Service, postgres_database, running_service


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp(f"svc-{request.param}")
    if request.param == "postgres":
        with postgres_database() as url, running_service(home, url) as service:
            yield service
    else:
        with running_service(home, None) as service:
            yield service


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_device(api: httpx.Client) -> dict[str, str]:
    """A company, a site and a device; returns their ids."""
    ids = {"company_id": uid("co"), "site_id": uid("site"), "device_id": uid("dev")}
    assert (
        api.post("/api/v1/companies", json={"company_id": ids["company_id"], "name": "Acme"}).status_code
        == 201
    )
    site = {
        "site_id": ids["site_id"],
        "company_id": ids["company_id"],
        "name": "HQ",
        "timezone": "Europe/Madrid",
    }
    assert api.post("/api/v1/sites", json=site).status_code == 201
    device = {
        "device_id": ids["device_id"],
        "site_id": ids["site_id"],
        "installed_at": "2026-01-01T00:00:00Z",
    }
    assert api.post("/api/v1/devices", json=device).status_code == 201
    return ids


def make_sensor(api: httpx.Client, device_id: str, channel: str = "temp") -> dict[str, Any]:
    body = {
        "sensor_id": f"{device_id}-{channel}",
        "device_id": device_id,
        "channel": channel,
        "metric": "temperature",
        "unit": "°C",
        "kind": "gauge",
        "valid_from": "2026-01-01T00:00:00Z",
    }
    created = api.post("/api/v1/sensors", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


# -- credentials and roles -----------------------------------------------------------------------------------------
def operations(svc: Service) -> list[tuple[str, str, str]]:
    """(method, path with placeholders filled, operation id) for every operation of the OpenAPI document."""
    document = httpx.get(svc.url + "/openapi.json").json()
    out = []
    for path, methods in document["paths"].items():
        filled = path.replace("{object_id}", "nope").replace("{job_id}", "999999").replace("{key_id}", "nope")
        filled = filled.replace("{username}", "nope").replace("{token_id}", "0" * 12)
        out += [(method.upper(), filled, spec["operationId"]) for method, spec in methods.items()]
    return out


def test_openapi_lists_every_resource_under_api_v1(svc):
    document = httpx.get(svc.url + "/openapi.json").json()
    paths = set(document["paths"])
    for name in ("companies", "sites", "devices", "sensors", "thresholds", "technicians", "materials"):
        assert {
            f"/api/v1/{name}",
            f"/api/v1/{name}/{{object_id}}",
            f"/api/v1/{name}/{{object_id}}/retire",
        } <= paths
    assert all(p.startswith("/api/v1/") for p in paths)


def test_every_endpoint_needs_credentials(svc):
    ops = operations(svc)
    assert len(ops) > 40
    for method, path, _ in ops:
        for headers in ({}, {"Authorization": "Bearer wlk_not-a-token"}, {"Authorization": "Basic YTpi"}):
            answer = httpx.request(method, svc.url + path, headers=headers, json={})
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"


WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
#: operations only admins may call: tokens and device keys (an operator edits the catalog, "no keys")
ADMIN_ONLY = {
    "create_token", "list_tokens", "revoke_token", "list_users", "create_user", "disable_user",
    "list_device_keys", "create_device_key", "retire_device_key",
}  # fmt: skip


def test_viewer_reads_everything_and_changes_nothing(svc):
    with svc.client("viewer") as api:
        for method, path, op in operations(svc):
            answer = api.request(method, path, json={})
            if method in WRITE_METHODS or op in ADMIN_ONLY:
                assert answer.status_code == 403, (op, answer.text)
            else:
                assert answer.status_code in (200, 404, 422), (
                    op,
                    answer.status_code,
                    answer.text,
                )  # 422: no query


def test_operator_changes_the_catalog_but_manages_no_tokens(svc):
    with svc.client("operator") as api:
        for method, path, op in operations(svc):
            answer = api.request(method, path, json={})
            if op in ADMIN_ONLY:
                assert answer.status_code == 403, (op, answer.text)
            else:
                assert answer.status_code not in (401, 403, 500), (op, answer.status_code, answer.text)
        assert api.get("/api/v1/me").json() == {"username": "operator", "role": "operator"}
        ids = make_device(api)
        assert api.get(f"/api/v1/devices/{ids['device_id']}").status_code == 200


def test_admin_does_everything_including_tokens(svc):
    with svc.client("admin") as api:
        for method, path, op in operations(svc):
            answer = api.request(method, path, json={})
            assert answer.status_code not in (401, 403, 500), (op, answer.status_code, answer.text)
        made = api.post("/api/v1/tokens", json={"username": "viewer2", "name": "dashboard"})
        assert made.status_code == 201
        token = made.json()["token"]
    with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {token}"}) as new:
        assert new.get("/api/v1/me").json() == {"username": "viewer2", "role": "viewer"}
        assert new.post("/api/v1/companies", json={"company_id": uid("x"), "name": "n"}).status_code == 403


# -- resources -----------------------------------------------------------------------------------------------------
def test_create_read_and_the_same_validation_messages_as_catalog_load(svc):
    with svc.client("operator") as api:
        ids = make_device(api)
        read = api.get(f"/api/v1/sites/{ids['site_id']}")
        assert read.status_code == 200
        assert read.headers["etag"] == '"1"'
        bad = api.post(
            "/api/v1/sites",
            json={"site_id": uid("s"), "company_id": "no-such", "name": "", "timezone": "Mars/Olympus"},
        )
        assert bad.status_code == 422
        problems = {(p["field"], p["message"]) for p in bad.json()["problems"]}
        # the messages of sites.csv problems in `wenulake catalog load` (tests/test_catalog.py)
        assert ("timezone", "expected an IANA time zone, got 'Mars/Olympus'") in problems
        assert ("company_id", "'no-such' is not a company_id of the catalog") in problems
        assert ("name", "required, got an empty value") in problems
        sensor = {"sensor_id": uid("s"), "device_id": ids["device_id"], "channel": "c", "metric": "temperature",
                  "unit": "furlong", "kind": "meter", "scale": "1e", "valid_from": "yesterday"}  # fmt: skip
        problems = {
            (p["field"], p["message"]) for p in api.post("/api/v1/sensors", json=sensor).json()["problems"]
        }
        assert ("kind", "expected gauge or counter, got 'meter'") in problems
        assert ("scale", "expected a number, got '1e'") in problems
        assert ("valid_from", "expected an ISO 8601 UTC timestamp, got 'yesterday'") in problems
        assert any(f == "unit" and "got 'furlong'" in m for f, m in problems)
        dup = api.post("/api/v1/companies", json={"company_id": ids["company_id"], "name": "again"})
        assert dup.status_code == 409
        assert api.get("/api/v1/sites/nope").status_code == 404


def test_list_searches_filters_sorts_and_paginates(svc):
    with svc.client("operator") as api:
        ids = make_device(api)
        for channel in ("a", "b", "c"):
            make_sensor(api, ids["device_id"], channel)
        page = api.get("/api/v1/sensors", params={"device_id": ids["device_id"], "sort": "channel", "order": "desc",
                                                  "limit": 2}).json()  # fmt: skip
        assert page["total"] == 3
        assert [s["channel"] for s in page["items"]] == ["c", "b"]
        rest = api.get("/api/v1/sensors", params={"device_id": ids["device_id"], "sort": "channel", "order": "desc",
                                                  "limit": 2, "offset": 2}).json()  # fmt: skip
        assert [s["channel"] for s in rest["items"]] == ["a"]
        found = api.get("/api/v1/sensors", params={"q": f"{ids['device_id']}-B"}).json()
        assert [s["sensor_id"] for s in found["items"]] == [f"{ids['device_id']}-b"]
        assert api.get("/api/v1/sensors", params={"sort": "nope"}).status_code == 422


def test_a_calibration_change_makes_a_new_sensor_version_and_keeps_the_old_one(svc):
    with svc.client("operator") as api:
        ids = make_device(api)
        sensor = make_sensor(api, ids["device_id"])
        threshold = {
            "sensor_id": sensor["sensor_id"],
            "metric": "temperature",
            "max_value": 30,
            "severity": "warning",
        }
        assert api.post("/api/v1/thresholds", json=threshold).status_code == 201
        changed = api.patch(
            f"/api/v1/sensors/{sensor['sensor_id']}",
            json={"scale": 1.02, "offset": -0.5, "effective_from": "2026-03-01T00:00:00Z"},
            headers={"If-Match": '"1"'},
        )
        assert changed.status_code == 200, changed.text
        new = changed.json()
        assert new["sensor_id"] != sensor["sensor_id"]
        assert changed.headers["location"].endswith(new["sensor_id"])
        assert (new["scale"], new["offset"], new["valid_from"], new["valid_to"]) == (
            1.02,
            -0.5,
            "2026-03-01T00:00:00Z",
            None,
        )
        old = api.get(f"/api/v1/sensors/{sensor['sensor_id']}").json()
        assert (old["scale"], old["valid_to"], old["version"]) == (1.0, "2026-03-01T00:00:00Z", 2)
        copied = api.get("/api/v1/thresholds", params={"sensor_id": new["sensor_id"]}).json()["items"]
        assert [t["max_value"] for t in copied] == [30.0]
        history = api.get(f"/api/v1/sensors/{sensor['sensor_id']}/history").json()["items"]
        assert [h["action"] for h in history] == ["version", "create"]
        assert history[0]["before"]["valid_to"] is None
        assert history[0]["after"]["valid_to"] == "2026-03-01T00:00:00Z"
        assert history[0]["actor"] == "operator"
        # a change starting before the sensor's own start is refused, with the field named
        early = api.patch(f"/api/v1/sensors/{new['sensor_id']}", json={"scale": 2, "effective_from": "2026-02-01T00:00:00Z"},
                          headers={"If-Match": '"1"'})  # fmt: skip
        assert early.status_code == 422
        assert early.json()["problems"][0]["field"] == "effective_from"
        # a new sensor on the same channel may not overlap the open version
        clash = {**sensor, "sensor_id": uid("s"), "valid_from": "2026-06-01T00:00:00Z"}
        clash = {k: v for k, v in clash.items() if k not in ("version", "valid_to")}
        answer = api.post("/api/v1/sensors", json=clash)
        assert answer.status_code == 422
        assert "overlaps" in answer.json()["problems"][0]["message"]


def test_a_stale_version_is_refused_not_overwritten(svc):
    with svc.client("operator") as first, svc.client("admin") as second:
        ids = make_device(first)
        path = f"/api/v1/companies/{ids['company_id']}"
        etag = first.get(path).headers["etag"]
        assert (
            second.patch(path, json={"name": "Second's name"}, headers={"If-Match": etag}).status_code == 200
        )
        stale = first.patch(path, json={"name": "First's name"}, headers={"If-Match": etag})
        assert stale.status_code == 412
        assert "changed by someone else" in stale.json()["detail"]
        assert stale.headers["etag"] == '"2"'
        assert first.get(path).json()["name"] == "Second's name"
        assert first.patch(path, json={"name": "no version"}).status_code == 428
        assert first.patch(path, json={"name": "body version", "version": 2}).status_code == 200


def test_retiring_sets_an_end_date_and_deletes_nothing(svc):
    with svc.client("operator") as api:
        ids = make_device(api)
        sensor = make_sensor(api, ids["device_id"])
        retired = api.post(f"/api/v1/sensors/{sensor['sensor_id']}/retire", json={"at": "2026-05-01T00:00:00Z"},
                           headers={"If-Match": '"1"'})  # fmt: skip
        assert retired.status_code == 200
        assert retired.json()["valid_to"] == "2026-05-01T00:00:00Z"
        device = api.post(f"/api/v1/devices/{ids['device_id']}/retire", json={"version": 1})
        assert device.status_code == 200
        assert device.json()["retired_at"] is not None
        again = api.post(f"/api/v1/devices/{ids['device_id']}/retire", json={"version": 2})
        assert again.status_code == 409
        assert api.get(f"/api/v1/sensors/{sensor['sensor_id']}").status_code == 200
        active = api.get("/api/v1/devices", params={"q": ids["device_id"], "include_retired": False}).json()
        assert active["total"] == 0
        assert api.get("/api/v1/devices", params={"q": ids["device_id"]}).json()["total"] == 1
        tech = api.post(
            "/api/v1/technicians", json={"technician_id": uid("t"), "name": "Ana", "company": "Fix SL"}
        )
        assert tech.status_code == 201
        assert tech.json()["active"] is True
        gone = api.post(
            f"/api/v1/technicians/{tech.json()['technician_id']}/retire", headers={"If-Match": '"1"'}
        )
        assert gone.json()["active"] is False


def test_the_change_log_records_who_what_and_when(svc):
    with svc.client("admin") as api:
        ids = make_device(api)
        path = f"/api/v1/sites/{ids['site_id']}"
        api.patch(path, json={"timezone": "Europe/Lisbon"}, headers={"If-Match": '"1"'})
        changes = api.get("/api/v1/changes", params={"resource": "sites", "object_id": ids["site_id"]}).json()
        update, create = changes["items"]
        assert (update["action"], update["actor"]) == ("update", "admin")
        assert update["before"]["timezone"] == "Europe/Madrid"
        assert update["after"]["timezone"] == "Europe/Lisbon"
        assert create["before"] is None
        assert create["after"]["name"] == "HQ"
        at = datetime.fromisoformat(update["at"])
        assert abs((datetime.now(UTC) - at).total_seconds()) < 120


def test_the_quarantine_inbox_groups_unknown_devices_and_a_replay_runs_as_queued_work(svc):
    import pyarrow as pa

    from wenulake.contracts.tables import QUARANTINE
    from wenulake.lake import Lake

    device = uid("ghost")
    hour = datetime(2026, 4, 4, 3, tzinfo=UTC)
    rows = [
        {"reason": "unknown_device", "stage": "silver", "object_key": "k", "record_index": i, "device_id": device,
         "message_id": f"m{i}", "channel": None, "raw": f'{{"message_id": "m{i}"}}', "detail": None,
         "arrival_hour": hour, "arrival_date": "2026-04-04", "run_id": "r", "quarantined_at": hour,
         "ts": datetime(2026, 4, 4, 2, i, tzinfo=UTC), "resolved_at": None, "resolved_by_run": None, "order_id": None}
        for i in range(3)
    ]  # fmt: skip
    Lake(svc.settings()).append(QUARANTINE, pa.Table.from_pylist(rows))
    with svc.client("operator") as api:
        groups = [g for g in api.get("/api/v1/quarantine").json() if g["device_id"] == device]
        assert len(groups) == 1
        group = groups[0]
        assert (group["reason"], group["readings"], group["messages"]) == ("unknown_device", 3, 3)
        assert group["first_seen"] == "2026-04-04T02:00:00Z"
        assert group["last_seen"] == "2026-04-04T02:02:00Z"
        assert group["device_registered"] is False
        assert group["raw_sample"].startswith('{"message_id"')
        job = api.post("/api/v1/jobs", json={"kind": "replay"})
        assert job.status_code == 202
        assert job.json()["status"] == "queued"
        deadline = time.monotonic() + 60
        while (state := api.get(f"/api/v1/jobs/{job.json()['job_id']}").json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, state
            time.sleep(0.3)
        # the replay ran for real (wenulake.pipeline.replay): the quarantined hour was enriched again
        assert state["status"] == "done", state
        assert state["result"].startswith("replayed 1 arrival hour(s)")
        assert state["finished_at"]


def test_users_cli_adds_lists_and_disables(tmp_path: Path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")}
    env["WENULAKE_HOME"] = str(tmp_path)

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "wenulake", *args], env=env, capture_output=True, text=True
        )
        assert not check or done.returncode == 0, done.stderr
        return done

    assert "admin: everything" in cli("users", "add", "--help").stdout
    cli("users", "add", "zoe", "--role", "operator", "--password", "long enough")
    listed = json.loads(cli("users", "list", "--format", "json").stdout)
    assert [(u["username"], u["role"], u["active"]) for u in listed] == [("zoe", "operator", True)]
    short = cli("users", "add", "bob", "--password", "short", check=False)
    assert short.returncode == 1
    assert short.stderr.strip() == "error: a password needs at least 8 characters"
    token = cli("users", "token", "zoe").stdout.strip()
    assert token.startswith("wlk_")
    cli("users", "disable", "zoe")
    assert json.loads(cli("users", "list", "--format", "json").stdout)[0]["active"] is False
    assert cli("users", "token", "zoe", check=False).stderr.strip() == "error: no active user 'zoe'"
    assert "--port" in cli("serve", "--help").stdout
    assert cli("catalog", "apply").stdout.strip() == "no queued work"


def test_a_calibration_change_in_the_past_shows_its_impact_and_queues_reprocessing(svc):
    import pyarrow as pa

    from wenulake.contracts.tables import SILVER_READING
    from wenulake.lake import Lake

    with svc.client("operator") as api:
        ids = make_device(api)
        sensor = make_sensor(api, ids["device_id"])
        readings = [
            {"sensor_id": sensor["sensor_id"], "ts": datetime(2026, 4, 4, hour, 30, tzinfo=UTC),
             "local_date": datetime(2026, 4, 4).date(), "value": 20.0 + hour, "raw_value": 20.0 + hour,
             "raw_unit": "°C", "unit": "°C", "metric": "temperature", "kind": "gauge", "channel": "temp",
             "device_id": ids["device_id"], "site_id": ids["site_id"], "company_id": ids["company_id"],
             "timezone": "Europe/Madrid", "message_id": f"m{hour}", "received_at": datetime(2026, 4, 4, hour, 31, tzinfo=UTC),
             "object_key": "k", "record_index": hour, "arrival_hour": datetime(2026, 4, 4, hour, tzinfo=UTC),
             "run_id": "r", "source": "live"}
            for hour in range(6)
        ]  # fmt: skip
        other = make_sensor(api, ids["device_id"], "temp2")
        readings += [{**r, "sensor_id": other["sensor_id"], "channel": "temp2"} for r in readings[:3]]
        Lake(svc.settings()).append(SILVER_READING, pa.Table.from_pylist(readings))
        path = f"/api/v1/sensors/{sensor['sensor_id']}"
        impact = api.get(path + "/impact", params={"effective_from": "2026-04-04T02:00:00Z"})
        assert impact.status_code == 200, impact.text
        shown = impact.json()
        assert (shown["readings"], shown["utc_hours"], shown["local_days"], shown["arrival_hours"]) == (
            4,
            4,
            1,
            4,
        )
        assert (shown["first_arrival_hour"], shown["last_arrival_hour"]) == (
            "2026-04-04T02:00:00Z",
            "2026-04-04T05:00:00Z",
        )
        assert "stats_hourly" in shown["tables"]
        none = api.get(path + "/impact", params={"effective_from": "2026-05-01T00:00:00Z"}).json()
        assert none["readings"] == 0
        assert none["tables"] == []
        changed = api.patch(
            path, json={"offset": 0.3, "effective_from": "2026-04-04T02:00:00Z"}, headers={"If-Match": '"1"'}
        )
        assert changed.status_code == 200
        job = api.get(changed.headers["x-queued-job"]).json()
        assert (job["kind"], job["status"], job["created_by"]) == ("reprocess", "queued", "operator")
        assert (job["params"]["start"], job["params"]["end"]) == (
            "2026-04-04T02:00:00Z",
            "2026-04-04T06:00:00Z",
        )
        time.sleep(1)  # the server's worker leaves reprocessing to `wenulake catalog apply`
        assert api.get(changed.headers["x-queued-job"]).json()["status"] == "queued"
        # retiring the new version inside processed data queues its reprocessing too; after all data, nothing
        new_path = f"/api/v1/sensors/{changed.json()['sensor_id']}"
        late = api.post(
            new_path + "/retire", json={"at": "2026-06-01T00:00:00Z"}, headers={"If-Match": '"1"'}
        )
        assert late.status_code == 200
        assert "x-queued-job" not in late.headers
        ended = api.post(
            f"/api/v1/sensors/{other['sensor_id']}/retire", json={"at": "2026-04-04T01:00:00Z", "version": 1}
        )
        assert ended.status_code == 200
        job = api.get(ended.headers["x-queued-job"]).json()
        assert (job["kind"], job["params"]["start"], job["params"]["end"]) == (
            "reprocess",
            "2026-04-04T01:00:00Z",
            "2026-04-04T03:00:00Z",
        )


def test_compose_runs_the_catalog_service():
    import yaml

    services = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())[
        "services"
    ]
    api = services["catalog-api"]
    assert api["command"][:2] == ["wenulake", "serve"]
    assert api["ports"] == ["127.0.0.1:8000:8000"]  # loopback only: nothing is published on other interfaces
    assert api["environment"]["WENULAKE_CATALOG_URL"].endswith("@postgres:5432/catalog")
    assert "/openapi.json" in api["healthcheck"]["test"][-1]


def page_session(svc: Service, username: str) -> httpx.Client:
    """A browser-like session: the login form's CSRF token, then the session cookie."""
    import re

    client = httpx.Client(base_url=svc.url, timeout=30)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    assert done.status_code == 303, done.text
    return client


def csrf(client: httpx.Client, path: str = "/") -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


PAGES = ["/", "/companies", "/sites", "/devices", "/sensors", "/thresholds", "/technicians", "/materials",
         "/quarantine", "/changes", "/jobs", "/companies?q=a&sort=name&order=desc&page=2"]  # fmt: skip


def test_pages_need_a_session_and_each_role_gets_what_it_may(svc):
    for path in [*PAGES, "/companies/new"]:
        answer = httpx.get(svc.url + path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    assert httpx.post(svc.url + "/companies/new", data={"company_id": "x", "name": "y"}).status_code == 303
    wrong = httpx.Client(base_url=svc.url)
    token = csrf(wrong, "/login")
    assert (
        wrong.post("/login", data={"username": "viewer", "password": "nope", "csrf_token": token}).status_code
        == 401
    )
    for target in ("//evil.example", "/\\evil.example", "https://evil.example"):  # no open redirect
        token = csrf(wrong, "/login")
        form = {"username": "viewer", "password": PASSWORD, "csrf_token": token, "next": target}
        signed = wrong.post("/login", data=form)
        assert (signed.status_code, signed.headers["location"]) == (303, "/")
    for role, can_edit in (("viewer", False), ("operator", True), ("admin", True)):
        client = page_session(svc, role)
        try:
            for path in PAGES:
                assert client.get(path).status_code == 200, (role, path)
            assert (client.get("/companies/new").status_code == 200) is can_edit, role
            company = uid(f"page-{role}")
            token = csrf(client)
            created = client.post(
                "/companies/new", data={"company_id": company, "name": "N", "csrf_token": token}
            )
            assert created.status_code == (303 if can_edit else 403), (role, created.status_code)
            forged = client.post("/companies/new", data={"company_id": company + "-f", "name": "N"})
            assert forged.status_code == 403, role  # no CSRF token: refused whatever the role
            queued = client.post("/jobs", data={"csrf_token": token})
            assert queued.status_code == (303 if can_edit else 403), role
        finally:
            client.close()
    with svc.client("viewer") as api:
        made = api.get("/api/v1/companies", params={"q": "page-"}).json()["items"]
    assert {c["company_id"].split("-")[1] for c in made} == {"operator", "admin"}


def test_a_device_report_interval_through_the_api_and_the_form(svc):
    with svc.client("operator") as api:
        ids = make_device(api)
        path = f"/api/v1/devices/{ids['device_id']}"
        assert api.get(path).json()["report_interval_s"] is None  # learned by the alarms stage
        bad = api.patch(path, json={"report_interval_s": "0"}, headers={"If-Match": '"1"'})
        assert bad.status_code == 422
        assert {(p["field"], p["message"]) for p in bad.json()["problems"]} == {
            ("report_interval_s", "expected a positive whole number of seconds, got '0'")
        }  # the message of devices.csv problems in `wenulake catalog load`
        done = api.patch(path, json={"report_interval_s": 3600}, headers={"If-Match": '"1"'})
        assert done.status_code == 200, done.text
        assert api.get(path).json()["report_interval_s"] == 3600
        assert (
            "report_interval_s"
            in api.get("/openapi.json").json()["components"]["schemas"]["Device"]["properties"]
        )
    client = page_session(svc, "operator")
    try:
        form = client.get("/devices/new").text
        assert 'name="report_interval_s"' in form
        device = uid("dev-form")
        created = client.post(
            "/devices/new",
            data={"device_id": device, "site_id": ids["site_id"], "report_interval_s": "900",
                  "csrf_token": csrf(client, "/devices/new")},
        )  # fmt: skip
        assert created.status_code == 303, created.text
        assert "900" in client.get(f"/devices/{device}").text
    finally:
        client.close()
    with svc.client("viewer") as api:
        assert api.get(f"/api/v1/devices/{device}").json()["report_interval_s"] == 900
