"""The backoffice in a real browser: Playwright's Python package driving Debian's chromium (/usr/bin/chromium,
`make chromium` installs it) against a real `wenulake serve`. Screenshots of the main pages go to
docs/screenshots/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.service_helpers import PASSWORD, Service, running_service

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("svc-browser"), None) as service:
        yield service


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium at /usr/bin/chromium: run `make chromium`")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def signed_in(browser: Any, svc: Service, username: str) -> Any:
    page = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=svc.url).new_page()
    page.goto("/")
    assert page.url.endswith("/login?next=/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(svc.url + "/")
    return page


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def fill_form(page: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = page.locator(f"#f-{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def test_sign_in_is_required_and_a_wrong_password_is_refused(browser, svc):
    page = browser.new_context(base_url=svc.url).new_page()
    page.goto("/sensors")
    assert page.url.endswith("/login?next=/sensors")
    shot(page, "login")
    page.fill("#username", "operator")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong user name or password."
    page.fill("#username", "operator")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(svc.url + "/sensors")
    assert page.locator("h1").inner_text() == "Sensors"


def test_an_operator_creates_a_company_site_device_and_sensor_and_sees_a_validation_error(browser, svc):
    page = signed_in(browser, svc, "operator")
    suffix = uuid.uuid4().hex[:6]
    page.goto("/companies/new")
    fill_form(page, {"company_id": f"acme-{suffix}", "name": "Acme Buildings"})
    page.click("text=Create company")
    assert page.locator(".flash").inner_text() == f"Company acme-{suffix} created."

    page.click("text=Add site")  # from the company's page: company_id pre-filled
    assert page.locator("#f-company_id").input_value() == f"acme-{suffix}"
    fill_form(page, {"site_id": f"hq-{suffix}", "name": "Headquarters", "timezone": "Mars/Olympus"})
    page.click("text=Create site")
    error = page.locator("#e-timezone")
    assert error.inner_text() == "expected an IANA time zone, got 'Mars/Olympus'"  # catalog load's message
    assert page.locator("#f-timezone").get_attribute("aria-invalid") == "true"
    shot(page, "form-validation-error")
    fill_form(page, {"timezone": "Europe/Madrid"})
    page.click("text=Create site")
    assert page.locator(".flash").inner_text() == f"Site hq-{suffix} created."

    page.click("text=Add device")
    fill_form(page, {"device_id": f"dev-{suffix}", "installed_at": "2026-01-01T00:00:00Z"})
    page.click("text=Create device")
    page.click("text=Add sensor")
    fill_form(page, {"sensor_id": f"dev-{suffix}-temp", "channel": "temp", "metric": "temperature", "unit": "°C",
                     "kind": "gauge", "valid_from": "2026-01-01T00:00:00Z"})  # fmt: skip
    page.click("text=Create sensor")
    assert page.locator(".flash").inner_text() == f"Sensor dev-{suffix}-temp created."
    shot(page, "sensor-detail")
    page.goto(f"/sensors?q={suffix}")
    assert page.locator("table.grid tbody tr").count() == 1
    shot(page, "sensors-list")
    page.goto("/changes")
    assert page.locator(f"text=sensors dev-{suffix}-temp").count() >= 1
    shot(page, "change-log")


def test_two_operators_editing_the_same_sensor_cannot_overwrite_each_other(browser, svc):
    with svc.client("operator") as api:
        suffix = uuid.uuid4().hex[:6]
        api.post("/api/v1/companies", json={"company_id": f"c-{suffix}", "name": "C"})
        api.post("/api/v1/sites", json={"site_id": f"s-{suffix}", "company_id": f"c-{suffix}", "name": "S",
                                        "timezone": "UTC"})  # fmt: skip
        api.post("/api/v1/devices", json={"device_id": f"d-{suffix}", "site_id": f"s-{suffix}"})
        sensor = api.post("/api/v1/sensors", json={"sensor_id": f"d-{suffix}-t", "device_id": f"d-{suffix}",
                          "channel": "t", "metric": "temperature", "unit": "C", "kind": "gauge",
                          "valid_from": "2026-01-01T00:00:00Z"}).json()  # fmt: skip
    first, second = signed_in(browser, svc, "operator"), signed_in(browser, svc, "operator2")
    for page in (first, second):
        page.goto(f"/sensors/{sensor['sensor_id']}")
    fill_form(first, {"scale": "1.1", "effective_from": "2026-03-01T00:00:00Z"})
    first.click("text=Save")
    assert re.match(rf"Sensor {sensor['sensor_id']} closed; new version \S+ from 2026-03-01T00:00:00Z\.",
                    first.locator(".flash").inner_text())  # fmt: skip
    fill_form(second, {"scale": "1.2", "effective_from": "2026-03-01T00:00:00Z"})
    second.click("text=Save")
    alert = second.locator("[role=alert]").inner_text()
    assert "was changed by someone else (you edited version 1, it is now version 2)" in alert
    assert second.locator("#f-scale").input_value() == "1.2"  # their input is kept to apply again
    shot(second, "concurrent-edit-refused")
    with svc.client("viewer") as api:
        versions = api.get("/api/v1/sensors", params={"device_id": f"d-{suffix}"}).json()["items"]
    assert sorted(v["scale"] for v in versions) == [1.0, 1.1]


def test_register_a_device_from_the_quarantine_inbox_and_queue_its_replay(browser, svc):
    import pyarrow as pa

    from wenulake.contracts.tables import QUARANTINE
    from wenulake.lake import Lake

    device = f"ghost-{uuid.uuid4().hex[:6]}"
    hour = datetime(2026, 4, 4, 5, tzinfo=UTC)
    rows = [
        {"reason": "unknown_device", "stage": "silver", "object_key": "k", "record_index": i, "device_id": device,
         "message_id": f"m{i}", "channel": None, "raw": f'{{"message_id": "m{i}", "device_id": "x"}}',
         "detail": None, "arrival_hour": hour, "arrival_date": "2026-04-04", "run_id": "r", "quarantined_at": hour,
         "ts": datetime(2026, 4, 4, 4, i, tzinfo=UTC), "resolved_at": None, "resolved_by_run": None,
         "order_id": None}
        for i in range(5)
    ]  # fmt: skip
    Lake(svc.settings()).append(QUARANTINE, pa.Table.from_pylist(rows))
    with svc.client("operator") as api:
        api.post("/api/v1/companies", json={"company_id": "inbox-co", "name": "Inbox Co"})
        api.post("/api/v1/sites", json={"site_id": "inbox-site", "company_id": "inbox-co", "name": "Plant",
                                        "timezone": "Europe/Berlin"})  # fmt: skip
    page = signed_in(browser, svc, "operator")
    shot(page, "dashboard")
    page.goto("/quarantine")
    row = page.locator("tr", has_text=device)
    assert row.locator("td.num").first.inner_text() == "5"
    shot(page, "quarantine-inbox")
    row.locator("text=Register device").click()
    assert page.locator("#f-device_id").input_value() == device  # pre-filled from the inbox
    fill_form(page, {"site_id": "inbox-site"})
    page.click("text=Create device")
    assert page.locator(".flash").inner_text() == f"Device {device} created."
    assert page.locator("tr", has_text=device).locator("td.num").first.inner_text() == "5"
    shot(page, "device-with-quarantine")
    page.click("text=Replay quarantined readings")
    assert re.match(r"Replay queued as job \d+\.", page.locator(".flash").inner_text())
    status = page.locator("table.grid tbody tr").first.locator(".tag")
    assert status.inner_text() in ("queued", "running", "done")
    for _ in range(100):  # the server's worker runs it; the page shows its status
        if status.inner_text() in ("done", "failed"):
            break
        page.wait_for_timeout(300)
        page.reload()
    assert status.inner_text() == "done"
    shot(page, "work")


def test_a_viewer_sees_pages_but_no_edit_forms_and_a_forged_post_is_refused(browser, svc):
    page = signed_in(browser, svc, "viewer")
    page.goto("/companies")
    assert page.locator("text=New company").count() == 0
    page.goto("/companies/new")
    assert page.locator("h1").inner_text() == "Not allowed"
    # a POST without the session's CSRF token is refused, whoever sends it
    operator = signed_in(browser, svc, "operator")
    answer = operator.request.post(svc.url + "/companies/new", form={"company_id": "forged", "name": "x"})
    assert answer.status == 403
    with svc.client("viewer") as api:
        assert api.get("/api/v1/companies/forged").status_code == 404


def test_a_calibration_change_in_the_past_shows_its_impact_before_saving(browser, svc):
    import pyarrow as pa

    from wenulake.contracts.tables import SILVER_READING
    from wenulake.lake import Lake

    suffix = uuid.uuid4().hex[:6]
    with svc.client("operator") as api:
        api.post("/api/v1/companies", json={"company_id": f"ic-{suffix}", "name": "C"})
        api.post("/api/v1/sites", json={"site_id": f"is-{suffix}", "company_id": f"ic-{suffix}", "name": "S",
                                        "timezone": "Europe/Madrid"})  # fmt: skip
        api.post("/api/v1/devices", json={"device_id": f"id-{suffix}", "site_id": f"is-{suffix}"})
        sensor_id = api.post("/api/v1/sensors", json={"sensor_id": f"id-{suffix}-p", "device_id": f"id-{suffix}",
                             "channel": "p", "metric": "power", "unit": "W", "kind": "gauge",
                             "valid_from": "2026-01-01T00:00:00Z"}).json()["sensor_id"]  # fmt: skip
    readings = [
        {"sensor_id": sensor_id, "ts": datetime(2026, 4, 4, h, tzinfo=UTC), "local_date": datetime(2026, 4, 4).date(),
         "value": 100.0, "raw_value": 100.0, "raw_unit": "W", "unit": "W", "metric": "power", "kind": "gauge",
         "channel": "p", "device_id": f"id-{suffix}", "site_id": f"is-{suffix}", "company_id": f"ic-{suffix}",
         "timezone": "Europe/Madrid", "message_id": f"m{h}", "received_at": datetime(2026, 4, 4, h, 1, tzinfo=UTC),
         "object_key": "k", "record_index": h, "arrival_hour": datetime(2026, 4, 4, h, tzinfo=UTC), "run_id": "r",
         "source": "live"}
        for h in range(3)
    ]  # fmt: skip
    Lake(svc.settings()).append(SILVER_READING, pa.Table.from_pylist(readings))
    page = signed_in(browser, svc, "operator")
    page.goto(f"/sensors/{sensor_id}")
    page.fill("#f-impact_from", "2026-04-04T01:00:00Z")
    page.click("text=Preview impact")
    impact = page.locator("p.impact").inner_text()
    assert "changes 2 readings" in impact
    assert "over 2 arrival hours" in impact
    fill_form(page, {"scale": "0.98", "effective_from": "2026-04-04T01:00:00Z"})
    page.click("text=Save")
    flash = page.locator(".flash").inner_text()
    assert re.search(r"Reprocessing of its readings queued as job \d+", flash), flash
    page.goto(f"/sensors/{sensor_id}?impact_from=2026-04-04T01:00:00Z")
    shot(page, "sensor-impact")
