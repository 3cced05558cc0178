"""Admins' pages in a real browser (Playwright driving Debian's chromium against a real `wenulake serve` with a
file keyring): register a device with its key, shown once; rotate it; the users and tokens page. Screenshots go
to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.service_helpers import Service, running_service
from tests.test_service import make_device, uid
from tests.test_service_browser import browser, fill_form, shot, signed_in  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("svc-browser-admin")
    with running_service(home, None, {"WENULAKE_KEYRING": str(home / "keyring.json")}) as service:
        yield service


def test_an_admin_registers_a_device_with_its_key_shown_once_and_rotates_it(
    browser: Any,  # noqa: F811 (the fixture imported above)
    svc: Service,
) -> None:
    with svc.client("admin") as api:
        site_id = make_device(api)["site_id"]
    page = signed_in(browser, svc, "admin")
    device_id = uid("dev")
    page.goto("/devices/new")
    fill_form(page, {"device_id": device_id, "site_id": site_id, "installed_at": "2026-04-01T00:00:00Z"})
    assert page.is_checked("input[name=provision_key]")
    page.click("text=Create device")
    key = page.inner_text("#key-material")
    assert len(key) == 44
    shot(page, "device-key-once")
    page.click("text=I have copied it")
    assert key not in page.content()
    page.fill("#f-grace_hours", "48")
    page.click("text=Rotate key")
    assert page.inner_text("#key-material") != key
    page.click("text=I have copied it")
    assert page.locator("#keys .tag-ok").count() == 2  # the old key works for 48 more hours
    page.locator("#keys").scroll_into_view_if_needed()
    shot(page, "device-keys")


def test_an_admin_manages_users_and_tokens(browser: Any, svc: Service) -> None:  # noqa: F811
    page = signed_in(browser, svc, "admin")
    page.click("nav >> text=Users")
    name = uid("eva")
    page.fill("#f-username", name)
    page.fill("#f-password", "a long enough password")
    page.select_option("#f-role", "viewer")
    page.click("text=Create user")
    assert f"User {name} created" in page.inner_text(".flash")
    page.select_option("#f-owner", name)
    page.fill("#f-name", "dashboards")
    page.click("text=Issue token")
    token = page.inner_text("#token")
    with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/v1/me").json()["username"] == name
    page.click("text=I have copied it")
    shot(page, "users-and-tokens")
