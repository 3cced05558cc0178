"""Redshift Serverless IAM login (issue 18, point 5): with WENULAKE_WAREHOUSE_IAM_WORKGROUP the loader and the
reader log in with their IAM role's temporary credentials (GetCredentials: user IAMR:<role>, an expiring
password), so the deployment exports no warehouse password. GetCredentials is answered by botocore's Stubber
(moto has no Redshift Serverless); the login itself goes to the real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import psycopg
import pytest
from botocore.stub import Stubber

from wenulake.settings import Settings
from wenulake.warehouse.postgres_backend import IamLogin, PostgresWarehouse, redacted, with_login


def _client() -> tuple[object, Stubber]:
    client = boto3.client(
        "redshift-serverless", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return client, Stubber(client)


def _answer(user: str, password: str, expires_in: timedelta) -> dict:
    return {"dbUser": user, "dbPassword": password, "expiration": datetime.now(UTC) + expires_in}


def test_without_a_workgroup_the_url_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WENULAKE_WAREHOUSE_IAM_WORKGROUP", raising=False)
    url = "postgresql+psycopg://loader:pw@db.example:5439/wenulake?sslmode=require"
    assert IamLogin(Settings()).url(url) == "postgresql://loader:pw@db.example:5439/wenulake?sslmode=require"


@pytest.mark.postgres
def test_the_temporary_user_logs_in_and_is_asked_again_before_it_expires(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WENULAKE_WAREHOUSE_IAM_WORKGROUP", "wenulake-prod")
    settings = Settings()
    user = f"IAMR:wenulake-test-{uuid.uuid4().hex[:8]}-airflow-execution"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("create role {} login").format(psycopg.sql.Identifier(user)))
    try:
        client, stub = _client()
        database = postgres_url.rsplit("/", 1)[1]
        request = {"workgroupName": "wenulake-prod", "dbName": database, "durationSeconds": 3600}
        stub.add_response("get_credentials", _answer(user, "p:w@d/1%", timedelta(minutes=4)), request)
        stub.add_response("get_credentials", _answer(user, "second", timedelta(hours=1)), request)
        base = postgres_url.replace("postgresql://postgres@", "postgresql://")  # no user, no password
        with stub:
            warehouse = PostgresWarehouse(settings, base, iam=IamLogin(settings, client=client))
            first = warehouse.url  # expires within REFRESH_BEFORE: the next use asks again
            with warehouse.connect() as con:
                assert con.execute("select current_user").fetchone() == (user,)
            second = warehouse.url
            assert warehouse.url == second  # valid for an hour: cached
            stub.assert_no_pending_responses()
        assert first != second
        assert "p%3Aw%40d%2F1%25" in first
        assert "second" in second
        assert "p%3Aw" not in redacted(first)
        assert "second" not in redacted(second)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(psycopg.sql.SQL("drop role {}").format(psycopg.sql.Identifier(user)))


def test_with_login_encodes_user_and_password() -> None:
    url = with_login("postgresql://h:5439/db?sslmode=require", "IAMR:role", "a/b:c@d")
    assert url == "postgresql://IAMR%3Arole:a%2Fb%3Ac%40d@h:5439/db?sslmode=require"
