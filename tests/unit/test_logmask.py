"""Secrets out of logs and error lines (security issue, point 5): URL passwords, secret key=value pairs and the
values of secret settings, in any logger's records, tracebacks included, and in the CLI's --debug traceback."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

import pytest

from wenulake import logmask
from wenulake.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "connect to postgresql://loader:Sup3r-secret@db.example:5432/wh failed",
            "connect to postgresql://loader:***@db.example:5432/wh failed",
        ),
        (
            "dsn 'host=db user=wl password=Sup3r-secret dbname=wh'",
            "dsn 'host=db user=wl password=*** dbname=wh'",
        ),
        ("GET /x?token=abcdef123&page=2", "GET /x?token=***&page=2"),
        ('{"password": "Sup3r-secret"}', '{"password": "***"}'),
        ("s3://bucket/key@v1 and http://host/path", "s3://bucket/key@v1 and http://host/path"),
        ("postgresql://loader@db/wh (no password)", "postgresql://loader@db/wh (no password)"),
    ],
)
def test_mask_text_hides_url_passwords_and_secret_pairs(text: str, expected: str) -> None:
    assert logmask.mask_text(text) == expected


def test_mask_text_hides_known_secret_values_anywhere() -> None:
    assert logmask.mask_text("the key is zq81-kv0x-77", ["zq81-kv0x-77"]) == "the key is ***"
    assert logmask.mask_text("short abc stays", ["abc"]) == "short abc stays"  # too short to mask by value


def test_secret_values_of_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    monkeypatch.setenv("WENULAKE_WAREHOUSE_URL", "postgresql://loader:pa%3Ass-w0rd@127.0.0.1:5432/wh")
    monkeypatch.setenv("WENULAKE_SERVICE_SECRET", "svc-secret-4242")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-key-9999")
    values = logmask.secret_values(Settings())
    assert {"pa%3Ass-w0rd", "pa:ss-w0rd", "svc-secret-4242", "aws-secret-key-9999"} <= values


def test_every_logger_record_is_masked_after_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A third-party logger, %-args, an f-string and a traceback: none shows the secret once installed."""
    monkeypatch.setenv("WENULAKE_HOME", str(tmp_path))
    monkeypatch.setenv("WENULAKE_SERVICE_SECRET", "q7-service-secret-q7")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logmask.install(Settings())
        logger.info("connecting with %s", "postgresql://wl:Pw-in-args-1@h/db")
        logger.info("secret setting q7-service-secret-q7 in an f-string")
        try:
            raise RuntimeError("failed at postgresql://wl:Pw-in-trace-2@h/db")
        except RuntimeError:
            logger.exception("it failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "Pw-in-args-1" not in out
    assert "q7-service-secret-q7" not in out
    assert "Pw-in-trace-2" not in out
    assert "postgresql://wl:***@h/db" in out
    assert "RuntimeError" in out
    assert "***" in out


@pytest.mark.postgres
def test_cli_debug_traceback_hides_the_warehouse_password(tmp_path) -> None:
    """The warehouse refuses (wrong database): the one line and the --debug traceback name it without the
    password."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WENULAKE_")},
        "WENULAKE_HOME": str(tmp_path),
        "WENULAKE_WAREHOUSE_URL": "postgresql://postgres:Tr4ce-Pw-55@127.0.0.1:5432/no_such_db_logmask",
        "WENULAKE_WAREHOUSE_READER_URL": "postgresql://postgres:Tr4ce-Pw-55@127.0.0.1:5432/no_such_db_logmask",
    }
    done = subprocess.run(
        [sys.executable, "-m", "wenulake", "--debug", "sql", "select 1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "no_such_db_logmask" in done.stderr
    assert "Tr4ce-Pw-55" not in done.stderr + done.stdout
