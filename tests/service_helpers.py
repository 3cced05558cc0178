"""A real catalog service for tests: `wenulake serve` (uvicorn) in a subprocess on a free loopback port, over a
fresh home (SQLite) or a database of its own on the PostgreSQL server, with one user and token per role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct horse battery"
ROLES = ("admin", "operator", "viewer")


@dataclass
class Service:
    url: str
    home: Path
    catalog_url: str | None
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def settings(self):  # type: ignore[no-untyped-def]
        from wenulake.settings import Settings

        return Settings(home=self.home, catalog_url=self.catalog_url)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    """A uniquely named database on 127.0.0.1:5432, dropped afterwards; fails (never skips) without the server."""
    import psycopg

    name = f"wenulake_svc_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is needed for this test and cannot be reached: {exc}")
    with admin:
        admin.execute(f'create database "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        from wenulake.catalog.store import _engine, normalise_url

        _engine(normalise_url(url)).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def running_service(
    home: Path, catalog_url: str | None, extra_env: dict[str, str] | None = None
) -> Iterator[Service]:
    from wenulake.catalog.store import CatalogStore
    from wenulake.service import users
    from wenulake.settings import Settings

    service = Service("", home, catalog_url)
    store = CatalogStore(Settings(home=home, catalog_url=catalog_url))
    store.migrate()
    for role in ROLES:
        users.add_user(store.engine, role, PASSWORD, role)
        users.add_user(store.engine, f"{role}2", PASSWORD, role)
        service.tokens[role] = users.create_token(store.engine, role, "tests")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")}
    env.update({"WENULAKE_HOME": str(home), **(extra_env or {})})
    if catalog_url:
        env["WENULAKE_CATALOG_URL"] = catalog_url
    log = open(home / "serve.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "wenulake", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    service.url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(service.url + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"wenulake serve did not start: {(home / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
