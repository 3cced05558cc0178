"""The issue's user story end to end, with the real pipeline: devices that sent messages before they were in the
catalog are quarantined as unknown_device; an operator registers them (and their sensors) through the API, queues
a replay, and the server's worker moves their readings into silver.reading (Spark in the server process)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from tests.helpers import arrival_range
from tests.service_helpers import running_service

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_registered_devices_quarantined_readings_reach_silver_through_a_queued_replay(home, sample):
    from wenulake.pipeline import bronze, silver
    from wenulake.query import run_query
    from wenulake.settings import Settings

    settings = Settings()
    interval = arrival_range(sample["manifest"])
    bronze.run(settings, interval, run_id="bronze-1")
    silver.enrich(settings, interval, "silver-1")
    silver.publish(settings, interval, "silver-1")
    known = {r["device_id"] for r in rows(sample["dir"] / "catalog" / "devices.csv")}
    missing = [
        r for r in rows(sample["dir"] / "catalog-complete" / "devices.csv") if r["device_id"] not in known
    ]
    assert missing
    env = {
        "WENULAKE_LANDING": str(sample["dir"] / "landing"),
        "WENULAKE_KEYRING": str(sample["dir"] / "keyring.json"),
        "WENULAKE_SPARK_MASTER": "local[2]",
    }
    with running_service(home, None, env) as svc, svc.client("operator") as api:
        inbox = {
            g["device_id"]: g for g in api.get("/api/v1/quarantine").json() if g["reason"] == "unknown_device"
        }
        assert {d["device_id"] for d in missing} <= set(inbox)
        assert not any(inbox[d["device_id"]]["device_registered"] for d in missing)
        for device in missing:
            body = {k: device[k] for k in ("device_id", "site_id", "installed_at") if device[k]}
            assert api.post("/api/v1/devices", json=body).status_code == 201
        for sensor in rows(sample["dir"] / "catalog-complete" / "sensors.csv"):
            if sensor["device_id"] in {d["device_id"] for d in missing}:
                body = {k: v for k, v in sensor.items() if v and k != "valid_to"}
                assert api.post("/api/v1/sensors", json=body).status_code == 201, body
        registered = [g for g in api.get("/api/v1/quarantine").json() if g["device_id"] in inbox]
        assert all(
            g["device_registered"] for g in registered if g["device_id"] in {d["device_id"] for d in missing}
        )
        job = api.post("/api/v1/jobs", json={"kind": "replay", "reasons": ["unknown_device"]}).json()
        deadline = time.monotonic() + 300
        while (state := api.get(f"/api/v1/jobs/{job['job_id']}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, state
            time.sleep(1)
        assert state["status"] == "done", state["result"]
        assert "unknown_device: " in state["result"]
        assert "0 still quarantined" in state["result"]
        left = [
            g
            for g in api.get("/api/v1/quarantine").json()
            if g["device_id"] in {d["device_id"] for d in missing}
        ]
        assert left == []
    ids = ", ".join(f"'{d['device_id']}'" for d in missing)
    in_silver = run_query(settings, f"select count(*) from silver.reading where device_id in ({ids})").rows[
        0
    ][0]
    assert in_silver > 0


@pytest.mark.airflow
def test_a_calibration_corrected_in_the_past_is_reprocessed_by_catalog_apply(ran_home, sample):
    """Change a sensor's scale from a date inside processed data through the API: the change queues a reprocess
    job; `catalog apply` runs the sensors DAG over the touched arrival hours; silver and the stats then carry
    the new sensor version with the new calibration from that date on, and the old one before it."""
    from wenulake.catalog.store import CatalogStore
    from wenulake.query import run_query
    from wenulake.service import jobs
    from wenulake.settings import Settings
    from wenulake.timeutil import iso

    settings = Settings()  # after run_range(settings, "sensors", arrival_range(...), hourly=False)
    sensor_id, first, last = run_query(
        settings,
        "select sensor_id, min(ts), max(ts) from silver.reading where metric = 'temperature' and kind = 'gauge' "
        "group by sensor_id order by count(*) desc, sensor_id limit 1",
    ).rows[0]
    middle = first + (last - first) / 2
    middle = middle.replace(second=0, microsecond=0)
    before = dict(
        run_query(settings, f"select ts, value from silver.reading where sensor_id = '{sensor_id}'").rows
    )
    env = {
        "WENULAKE_LANDING": str(sample["dir"] / "landing"),
        "WENULAKE_KEYRING": str(sample["dir"] / "keyring.json"),
    }
    with running_service(ran_home, None, env) as svc, svc.client("operator") as api:
        path = f"/api/v1/sensors/{sensor_id}"
        impact = api.get(path + "/impact", params={"effective_from": iso(middle)}).json()
        assert impact["readings"] == sum(1 for ts in before if ts >= middle) > 0
        version = api.get(path).headers["etag"]
        current = api.get(path).json()
        changed = api.patch(
            path,
            json={"scale": current["scale"] * 2, "effective_from": iso(middle)},
            headers={"If-Match": version},
        )
        assert changed.status_code == 200, changed.text
        new_id = changed.json()["sensor_id"]
        job = api.get(changed.headers["x-queued-job"]).json()
        assert (job["kind"], job["status"]) == ("reprocess", "queued")
    done = jobs.run_pending(
        settings, CatalogStore(settings).engine, ("reprocess",)
    )  # what `catalog apply` runs
    assert [j["status"] for j in done] == ["done"], done
    old = dict(
        run_query(settings, f"select ts, value from silver.reading where sensor_id = '{sensor_id}'").rows
    )
    new = dict(run_query(settings, f"select ts, value from silver.reading where sensor_id = '{new_id}'").rows)
    assert old == {ts: v for ts, v in before.items() if ts < middle}
    assert set(new) == {ts for ts in before if ts >= middle}
    offset = current["offset"]
    for ts, value in new.items():  # value = canonical(raw) * scale + offset: the scale doubled
        assert value == pytest.approx((before[ts] - offset) * 2 + offset, rel=1e-9, abs=1e-9)
    hourly = run_query(settings, f"select count(*) from stats_hourly where sensor_id = '{new_id}'").rows[0][0]
    assert hourly > 0
