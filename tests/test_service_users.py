"""Admins manage users and API tokens in the backoffice (a real `wenulake serve`): list, create, disable users;
issue a token (shown once) and revoke it; every change in the audit log without secrets; other roles get 403;
failed sign-ins are rate limited per user name and per address (429 with a clear message)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.service_helpers import PASSWORD, Service, postgres_database, running_service
from tests.test_service import csrf, page_session, uid


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp(f"svc-users-{request.param}")
    if request.param == "postgres":
        with postgres_database() as url, running_service(home, url) as service:
            yield service
    else:
        with running_service(home, None) as service:
            yield service


def test_only_admins_reach_the_user_and_token_pages(svc: Service) -> None:
    for role in ("operator", "viewer"):
        with closing(page_session(svc, role)) as page:
            assert page.get("/users").status_code == 403
            assert 'href="/users"' not in page.get("/").text
            token = csrf(page)
            form = {"username": uid("x"), "password": PASSWORD, "role": "admin", "csrf_token": token}
            assert page.post("/users/new", data=form).status_code == 403
            assert page.post("/users/viewer2/disable", data={"csrf_token": token}).status_code == 403
            assert page.post("/tokens/new", data={"username": role, "csrf_token": token}).status_code == 403
    with svc.client("viewer") as api:
        assert api.get("/api/v1/me").status_code == 200  # nobody was disabled by the refused forms


def test_admin_creates_and_disables_a_user_and_issues_and_revokes_a_token(svc: Service) -> None:
    name = uid("ana")
    with closing(page_session(svc, "admin")) as page:
        listing = page.get("/users")
        assert listing.status_code == 200
        assert "operator2" in listing.text
        token = csrf(page, "/users")
        assert (
            page.post(
                "/users/new", data={"username": name, "password": PASSWORD, "role": "operator"}
            ).status_code
            == 403
        )
        short = page.post(
            "/users/new",
            data={"username": name, "password": "short", "role": "operator", "csrf_token": token},
        )
        assert short.status_code == 422
        assert "at least 8 characters" in short.text
        made = page.post(
            "/users/new",
            data={"username": name, "password": PASSWORD, "role": "operator", "csrf_token": token},
        )
        assert made.status_code == 303
        issued = page.post("/tokens/new", data={"username": name, "name": "etl", "csrf_token": token})
        assert issued.status_code == 201
        assert issued.headers["cache-control"] == "no-store"
        secret = re.search(r'id="token">([^<]+)<', issued.text).group(1)  # type: ignore[union-attr]
        listing = page.get("/users").text
        assert secret not in listing
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {secret}"}) as api:
            assert api.get("/api/v1/me").json() == {"username": name, "role": "operator"}
            public_id = re.search(rf"<code>([0-9a-f]{{12}})</code></td><td>{name}</td>", listing).group(1)  # type: ignore[union-attr]
            assert page.post(f"/tokens/{public_id}/revoke", data={"csrf_token": token}).status_code == 303
            assert api.get("/api/v1/me").status_code == 401
        second = page.post("/tokens/new", data={"username": name, "name": "etl2", "csrf_token": token})
        other = re.search(r'id="token">([^<]+)<', second.text).group(1)  # type: ignore[union-attr]
        assert page.post(f"/users/{name}/disable", data={"csrf_token": token}).status_code == 303
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {other}"}) as api:
            assert api.get("/api/v1/me").status_code == 401  # a disabled user's tokens stop working
        assert page.post("/users/admin/disable", data={"csrf_token": token}).status_code == 303
        assert "You cannot disable yourself" in page.get("/users").text
    with svc.client("admin") as api:
        assert api.get("/api/v1/me").status_code == 200
        log = api.get("/api/v1/changes", params={"limit": 500})
        assert log.status_code == 200
        mine = [(c["action"], c["resource"]) for c in log.json()["items"] if c["actor"] == "admin"]
        for event in [
            ("create", "users"),
            ("token-create", "tokens"),
            ("token-revoke", "tokens"),
            ("disable", "users"),
        ]:
            assert event in mine
        assert secret not in log.text
        assert other not in log.text
        assert PASSWORD not in log.text


def test_failed_sign_ins_are_rate_limited(tmp_path: Path) -> None:
    with (
        running_service(tmp_path, None, {"WENULAKE_SERVICE_LOGIN_FAILURES": "3"}) as svc,
        httpx.Client(base_url=svc.url) as browser,
    ):

        def attempt(username: str, password: str) -> httpx.Response:
            token = csrf(browser, "/login")
            return browser.post(
                "/login", data={"username": username, "password": password, "csrf_token": token}
            )

        assert [attempt("viewer", "wrong").status_code for _ in range(3)] == [401, 401, 401]
        refused = attempt(
            "viewer", PASSWORD
        )  # even the right password waits: the user is locked for a minute
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert attempt("operator", PASSWORD).status_code == 429  # and so is this address


def test_admins_manage_users_and_tokens_through_the_api(svc: Service) -> None:
    """The same operations as the pages, for integrations: list, create (409 taken, 422 refused), disable (not
    yourself), list tokens without secrets, revoke; each takes effect at the next request."""
    name = uid("api-user")
    with svc.client("admin") as admin:
        made = admin.post("/api/v1/users", json={"username": name, "role": "viewer", "password": PASSWORD})
        assert made.status_code == 201, made.text
        assert made.json()["username"] == name
        assert made.json()["role"] == "viewer"
        assert made.json()["active"] is True
        taken = admin.post("/api/v1/users", json={"username": name, "role": "viewer", "password": PASSWORD})
        assert taken.status_code == 409
        short = admin.post(
            "/api/v1/users", json={"username": uid("s"), "role": "viewer", "password": "short"}
        )
        assert short.status_code == 422
        assert "at least 8 characters" in short.text
        role = admin.post("/api/v1/users", json={"username": uid("r"), "role": "root", "password": PASSWORD})
        assert role.status_code == 422
        assert "role must be one of" in role.text
        listed = {u["username"]: u for u in admin.get("/api/v1/users").json()}
        assert listed[name]["active"] is True
        assert "password" not in str(listed).lower()

        issued = admin.post("/api/v1/tokens", json={"username": name, "name": "grafana"}).json()
        tokens = admin.get("/api/v1/tokens")
        assert tokens.status_code == 200
        assert issued["token"] not in tokens.text
        [mine] = [t for t in tokens.json() if t["username"] == name]
        assert mine["name"] == "grafana"
        assert mine["revoked_at"] is None
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {issued['token']}"}) as api:
            assert api.get("/api/v1/me").json() == {"username": name, "role": "viewer"}
            assert api.get("/api/v1/users").status_code == 403  # a viewer manages nobody
            revoked = admin.post(f"/api/v1/tokens/{mine['token_id']}/revoke")
            assert revoked.status_code == 200, revoked.text
            assert revoked.json()["revoked_at"] is not None
            assert api.get("/api/v1/me").status_code == 401
        assert admin.post(f"/api/v1/tokens/{mine['token_id']}/revoke").status_code == 404  # already revoked

        again = admin.post("/api/v1/tokens", json={"username": name, "name": "second"}).json()
        disabled = admin.post(f"/api/v1/users/{name}/disable")
        assert disabled.status_code == 200
        assert disabled.json()["active"] is False
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {again['token']}"}) as api:
            assert api.get("/api/v1/me").status_code == 401
        assert admin.post("/api/v1/users/nobody-here/disable").status_code == 404
        assert admin.post("/api/v1/users/admin/disable").status_code == 409
        assert admin.get("/api/v1/me").status_code == 200
        actions = [
            (c["action"], c["resource"])
            for c in admin.get("/api/v1/changes", params={"limit": 500}).json()["items"]
            if c["actor"] == "admin"
        ]
        for done in (("create", "users"), ("token-revoke", "tokens"), ("disable", "users")):
            assert done in actions
